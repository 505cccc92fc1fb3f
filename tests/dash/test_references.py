"""No dead panels: every metric a dashboard or rule references is one something really exposes."""

from __future__ import annotations

import re
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from paas_sdk.dash.catalog import (
    Dashboard,
    RuleFile,
    builtin_alert_rules_dir,
    builtin_dashboards_dir,
    load_dashboards,
    load_rule_files,
)
from paas_sdk.dash.references import (
    INDEXER_METRICS,
    SDK_METRICS,
    dashboard_expressions,
    dead_references,
    metric_names,
)
from paas_sdk.testing.servers import PrometheusServer

from .conftest import PLATFORM, PLATFORM_RULES, LiveExporter, write_team_dir


def paas_catalog() -> tuple[list[Dashboard], list[RuleFile]]:
    """The built-in catalog without the platform components' dashboards and rules (etcd, the
    API server, CoreDNS), which test_platform checks against live scrapes of the real servers."""
    boards = [b for b in load_dashboards(builtin_dashboards_dir()) if b.folder.uid != PLATFORM]
    rules = [
        f for f in load_rule_files(builtin_alert_rules_dir()) if f.path.name not in PLATFORM_RULES
    ]
    return boards, rules


def exposed_names(exposition: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        if family.type == "counter":  # the parser names a counter's family without `_total`
            names.add(family.name + "_total")
        names.update(sample.name for sample in family.samples)
    return names


def test_metric_names_skips_functions_labels_grouping_and_variables() -> None:
    expr = (
        "sum by (route) (rate(http_server_request_duration_seconds_count"
        '{job=~"$job", status=~"5.."}[$__rate_interval]))'
        " / on (job) group_left (version) paas_service_info > bool 1e3"
        " or vector(0) unless job:http_server_requests:rate5m offset 5m"
    )
    assert metric_names(expr) == {
        "http_server_request_duration_seconds_count",
        "paas_service_info",
        "job:http_server_requests:rate5m",
    }


def test_every_referenced_metric_is_exposed_by_the_exporter_or_the_sdk(
    live_exporter: LiveExporter,
) -> None:
    scraped = exposed_names(live_exporter.exposition())
    assert "harbor_health" in scraped
    assert "jenkins_queue_length" in scraped
    dead = dead_references(*paas_catalog(), scraped | SDK_METRICS | INDEXER_METRICS)
    assert [str(d) for d in dead] == []


def _indexer_exposition() -> str:
    """What the log indexer's metrics endpoint serves (its collector over a progress record)."""
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry, generate_latest

    from paas_sdk.logs._indexer import IndexProgress
    from paas_sdk.logs._metrics import IndexerMetrics

    progress = IndexProgress(lag={0: 3}, dead_lettered={"not_json": 1})
    registry = CollectorRegistry()
    registry.register(IndexerMetrics(SimpleNamespace(progress=progress, topic="paas-logs")))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_no_dead_panels_against_live_scrapes_of_the_example_service_and_the_exporter(
    live_exporter: LiveExporter, live_order_service_exposition: str
) -> None:
    scraped = (
        exposed_names(live_exporter.exposition())
        | exposed_names(live_order_service_exposition)
        | exposed_names(_indexer_exposition())
    )
    assert scraped | {"rpc_client_duration_seconds"} >= SDK_METRICS  # the example calls no RPC
    dead = dead_references(*paas_catalog(), scraped)
    assert [str(d) for d in dead] == []


def test_without_the_scrape_the_exporter_panels_are_reported_dead() -> None:
    dead = dead_references(
        load_dashboards(builtin_dashboards_dir()),
        load_rule_files(builtin_alert_rules_dir()),
        SDK_METRICS | INDEXER_METRICS,
    )
    metrics = {d.metric for d in dead}
    assert {"harbor_health", "jenkins_queue_stuck", "spinnaker_pipeline_failed_stages"} <= metrics
    assert not any(m.startswith(("paas_log", "http_server")) for m in metrics)


def test_a_misspelt_metric_is_named_with_its_panel(tmp_path: Path) -> None:
    directory = write_team_dir(tmp_path / "t", ["shop-orders"])
    module = directory / "shop_orders.py"
    module.write_text(
        module.read_text().replace(
            "http_server_request_duration_seconds_count", "http_requests_total"
        )
    )
    dead = dead_references(load_dashboards(directory), [], SDK_METRICS)
    assert [str(d) for d in dead] == [
        "shop_orders.py: panel 'Orders': "
        "http_requests_total is not exposed by the SDK or the exporter"
    ]


EXPORTER_DASHBOARDS = ("harbor.py", "jenkins.py", "spinnaker.py", "delivery.py")


def _as_query(expr: str, job: str) -> str:
    """A panel query as Grafana would send it, with the dashboard variables filled in."""
    for variable, value in (("$__rate_interval", "1m"), ("$__range", "5m"), ("$job", job)):
        expr = expr.replace(variable, value)
    return re.sub(r"\$\{?\w+\}?", ".+", expr)


def test_exporter_panels_query_real_prometheus_scraping_the_exporter(
    prometheus: PrometheusServer, live_exporter: LiveExporter
) -> None:
    job = "dash-exporter"
    prometheus.scrape(job, [live_exporter.address])
    try:
        prometheus.wait_for_targets_up(job, 1)
        deadline = time.monotonic() + 20
        while not prometheus.query(f'count(jenkins_queue_length{{job="{job}"}})'):
            assert time.monotonic() < deadline, "Prometheus never stored the exporter's samples"
            time.sleep(0.3)
        # The Jenkins job name is its own label, apart from the scrape job.
        jobs = prometheus.query(
            f'count by (jenkins_job) (jenkins_job_last_build_result{{job="{job}"}})'
        )
        assert jobs
        assert all(r["metric"].get("jenkins_job") for r in jobs)

        boards = [
            b
            for b in load_dashboards(builtin_dashboards_dir())
            if b.source.name in EXPORTER_DASHBOARDS
        ]
        queried = set()
        for where, expr in dashboard_expressions(boards):
            # Raises with Prometheus' own message when a query does not run.
            prometheus.query(_as_query(expr, job))
            for name in metric_names(expr):
                if name not in queried:
                    queried.add(name)
                    assert prometheus.query(f'count({name}{{job="{job}"}})'), (
                        f"{where}: no {name} series"
                    )
        assert len(queried) > 30
    finally:
        # The Prometheus is shared by the session: drop the job so its series go stale.
        prometheus.scrape(job, [])
