"""The platform components' dashboards against the real thing: the test Prometheus scrapes the
harness's etcd, kube-apiserver and CoreDNS, traffic flows through them, and every panel's query
must return series (no dead panels)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from paas_sdk.dash.catalog import builtin_dashboards_dir, load_dashboards
from paas_sdk.dash.cli import main
from paas_sdk.dash.references import dashboard_expressions
from paas_sdk.testing.pytest_plugin import Kubernetes
from paas_sdk.testing.servers import CoreDNSServer, KubernetesCluster, PrometheusServer

# Grafana's variables as a query would carry them here: rates over 30 s (the test scrapes every
# second), the range over the last five minutes
VARIABLES = (("$__rate_interval", "30s"), ("$__range", "5m"), ("$__interval", "1s"))
BOARDS = {"etcd": "paas-etcd", "apiserver": "paas-kube-apiserver", "coredns": "paas-coredns"}


def as_query(expr: str, job: str) -> str:
    """A panel query as Grafana sends it, `$job` set to the scrape job, the rest to all."""
    for variable, value in (*VARIABLES, ("$job", job)):
        expr = expr.replace(variable, value)
    return re.sub(r"\$\{?\w+\}?", ".+", expr)


def panel_queries(uid: str) -> list[tuple[str, str]]:
    board = next(b for b in load_dashboards(builtin_dashboards_dir()) if b.uid == uid)
    return list(dashboard_expressions([board]))


def empty_panels(prometheus: PrometheusServer, job: str, uid: str) -> list[str]:
    """Panel queries (and variable queries) of the dashboard that return no series."""
    empty = []
    for where, expr in panel_queries(uid):
        query = expr
        if expr.startswith("label_values("):
            metric = re.match(r"label_values\((\w+)", expr)
            assert metric is not None
            query = f'{metric[1]}{{job=~"{job}"}}'
        if not prometheus.query(as_query(query, job)):
            empty.append(f"{where}: {expr}")
    return empty


def wait_for_live_panels(
    prometheus: PrometheusServer, job: str, uid: str, traffic: object, timeout: float = 60.0
) -> None:
    """Drive traffic until every panel answers, or fail naming the panels still empty."""
    deadline = time.monotonic() + timeout
    empty = ["(not queried yet)"]
    while time.monotonic() < deadline:
        assert callable(traffic)
        traffic()
        empty = empty_panels(prometheus, job, uid)
        if not empty:
            return
        time.sleep(1.0)
    pytest.fail(f"{len(empty)} dead panels on {uid}:\n" + "\n".join(empty))


@pytest.fixture(scope="module")
def cluster(
    kubernetes: Kubernetes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubernetesCluster]:
    """The harness's etcd and API server (a cluster of its own when PAAS_TEST_KUBECONFIG is
    set, since an outside cluster's etcd cannot be scraped from here)."""
    if kubernetes.cluster is not None:
        yield kubernetes.cluster
        return
    with KubernetesCluster(tmp_path_factory.mktemp("platform-kubernetes")) as own:
        yield own


def test_every_etcd_and_api_server_panel_has_data_from_the_real_servers(
    cluster: KubernetesCluster, prometheus: PrometheusServer, tmp_path: Path
) -> None:
    prometheus.scrape("etcd", [cluster.etcd.url.removeprefix("http://")])
    prometheus.scrape(
        "apiserver",
        [cluster.apiserver.url.removeprefix("https://")],
        scheme="https",
        tls_config=cluster.apiserver.scrape_tls,
    )
    runner = CliRunner()

    def traffic() -> None:
        # reads and writes through the API server, so latency and etcd panels see both
        result = runner.invoke(
            main,
            ["apply", "--kubeconfig", str(cluster.kubeconfig), "--namespace", "default",
             "--prune"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        with cluster.apiserver.client() as client:
            client.patch(
                "/api/v1/namespaces/default/configmaps/traffic",
                params={"fieldManager": "traffic", "force": "true"},
                headers={"Content-Type": "application/apply-patch+yaml"},
                content=json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "traffic"},
                        "data": {"at": str(time.monotonic())},
                    }
                ),
            ).raise_for_status()

    try:
        prometheus.wait_for_targets_up("etcd", 1)
        prometheus.wait_for_targets_up("apiserver", 1)
        wait_for_live_panels(prometheus, "etcd", BOARDS["etcd"], traffic)
        wait_for_live_panels(prometheus, "apiserver", BOARDS["apiserver"], traffic)
    finally:
        prometheus.scrape("etcd", [])
        prometheus.scrape("apiserver", [])


def test_every_coredns_panel_has_data_from_a_real_coredns(
    coredns: CoreDNSServer, prometheus: PrometheusServer
) -> None:
    prometheus.scrape("coredns", [coredns.metrics_address])

    def traffic() -> None:
        assert coredns.query("a.example.test") == "NOERROR"  # forwarded, then cached
        assert coredns.query("b.example.test") == "NOERROR"
        assert coredns.query("x.broken.test") == "SERVFAIL"  # its upstream is down

    try:
        prometheus.wait_for_targets_up("coredns", 1)
        wait_for_live_panels(prometheus, "coredns", BOARDS["coredns"], traffic)
    finally:
        prometheus.scrape("coredns", [])


def test_the_coredns_alerts_read_the_series_a_real_coredns_exposes(
    coredns: CoreDNSServer,
) -> None:
    """The metric names of the CoreDNS rules hold for the CoreDNS built here (the rules are
    promtool-tested on recorded series; these are the series a real CoreDNS 1.14 exposes)."""
    import httpx

    wanted = {
        "coredns_dns_request_duration_seconds_bucket",
        "coredns_dns_responses_total",
        "coredns_proxy_request_duration_seconds_bucket",
        "coredns_proxy_request_duration_seconds_count",
        "coredns_proxy_healthcheck_failures_total",
        "coredns_forward_healthcheck_broken_total",
    }
    deadline = time.monotonic() + 15  # the broken upstream's health checks run every second
    missing = wanted
    while missing and time.monotonic() < deadline:
        for name in ("a.example.test", "x.broken.test"):
            coredns.query(name)
        exposition = httpx.get(f"http://{coredns.metrics_address}/metrics", timeout=5).text
        exposed = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines()}
        missing = wanted - exposed
        time.sleep(0.5)
    assert missing == set()
    # and the names coredns-mixin's forward alerts still use are gone
    assert "coredns_forward_responses_total" not in exposed
    assert "coredns_forward_request_duration_seconds_bucket" not in exposed
