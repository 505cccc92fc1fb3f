"""What a scraper and a person see over HTTP: landing page, content negotiation, probe mode."""

from __future__ import annotations

import gzip
import subprocess

import httpx
from paas_exporter.config import parse_config
from paas_exporter.exposition import Exposition, MetricFamily, render_target
from paas_exporter.poller import Poller
from paas_exporter.server import MetricsServer
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from paas_sdk.testing.servers import promtool
from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator
from tests.core.test_http_server import exchange
from tests.exporter.conftest import (
    harbor_target,
    jenkins_target,
    key,
    parse_samples,
    running_exporter,
    series,
    spinnaker_target,
)

# Names fixed by the project's metric contract (Harbor's own exporter uses the first two) that
# promtool's linter flags because they are gauges ending in _total; everything else must be clean.
CONTRACT_NAMES_PROMTOOL_FLAGS = {
    'harbor_project_repo_total non-counter metrics should not have "_total" suffix',
    'harbor_project_total non-counter metrics should not have "_total" suffix',
}


def test_exposition_passes_promtool(
    harbor: HarborSimulator, jenkins: JenkinsSimulator, spinnaker: SpinnakerSimulator
) -> None:
    targets = [
        harbor_target(harbor, repository_pulls=True),
        jenkins_target(jenkins),
        spinnaker_target(spinnaker),
    ]
    with running_exporter(targets) as exporter:
        body = httpx.get(exporter.url + "/metrics").content
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=body, capture_output=True, check=False
    )
    findings = set((result.stdout + result.stderr).decode().strip().splitlines())
    assert result.returncode in (0, 3), findings  # 3: lint findings only, no parse error
    assert findings <= CONTRACT_NAMES_PROMTOOL_FLAGS


def test_openmetrics_and_gzip_are_served_when_asked(harbor: HarborSimulator) -> None:
    with running_exporter([harbor_target(harbor, interval=60)]) as exporter:
        plain = httpx.get(exporter.url + "/metrics", headers={"Accept-Encoding": "identity"})
        zipped = httpx.get(exporter.url + "/metrics", headers={"Accept-Encoding": "gzip"})
        openmetrics = httpx.get(
            exporter.url + "/metrics",
            headers={
                "Accept": "application/openmetrics-text; version=1.0.0",
                "Accept-Encoding": "identity",
            },
        )
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.text == plain.text  # httpx decodes; same bytes either way
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(openmetrics.text)}  # type: ignore[no-untyped-call]
    assert families["paas_exporter_upstream_requests"].type == "counter"
    assert families["harbor_system"].type == "info"
    assert parse_samples(plain.text)["harbor_health", key()] == 1
    assert gzip.decompress(exporter.poller.exposition.text_gzip) == plain.content


def test_landing_page_lists_targets_and_their_state(harbor: HarborSimulator) -> None:
    down = {"name": "broken", "kind": "spinnaker", "url": "http://127.0.0.1:9", "timeout": 1}
    with running_exporter([harbor_target(harbor), down]) as exporter:
        page = httpx.get(exporter.url + "/")
        missing = httpx.get(exporter.url + "/nothing")
    assert page.status_code == 200
    assert 'href="/metrics"' in page.text
    assert "<b>harbor</b>" in page.text
    assert "broken" in page.text
    assert "down:" in page.text
    assert missing.status_code == 404


def test_the_landing_page_shows_hosts_only_and_no_header_names_python(
    harbor: HarborSimulator,
) -> None:
    elsewhere = {
        "name": "gate",
        "kind": "spinnaker",
        "url": "http://127.0.0.1:9/gate/api?token=abc",
        "timeout": 1,
    }
    with running_exporter([harbor_target(harbor), elsewhere]) as exporter:
        page = httpx.get(exporter.url + "/")
    assert "(127.0.0.1:9)" in page.text
    assert "/gate/api" not in page.text
    assert "token=abc" not in page.text
    assert page.headers["Server"].startswith("paas-exporter/")
    assert "Python" not in page.headers["Server"]


def test_a_get_carrying_a_body_is_never_read_as_a_second_request(harbor: HarborSimulator) -> None:
    smuggled = b"GET /probe?target=harbor HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
        len(smuggled),
        smuggled,
    )
    duplicate = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 48\r\n\r\n"
    )
    with running_exporter([harbor_target(harbor, interval=60)]) as exporter:
        port = exporter.server.port
        answered, closed = exchange(port, raw)
        refused, refused_closed = exchange(port, duplicate + smuggled)
    assert answered == [(200, b"ok\n")]
    assert closed
    assert [status for status, _ in refused] == [400]
    assert refused_closed


def test_probe_serves_one_target(harbor: HarborSimulator, jenkins: JenkinsSimulator) -> None:
    with running_exporter([harbor_target(harbor), jenkins_target(jenkins)], probe=True) as exporter:
        probe = httpx.get(exporter.url + "/probe", params={"target": "jenkins"})
        unknown = httpx.get(exporter.url + "/probe", params={"target": "nope"})
    samples = parse_samples(probe.text)
    assert probe.status_code == 200
    assert series(samples, "jenkins_job_last_build_number")
    assert not series(samples, "harbor_project_total")
    assert set(series(samples, "paas_exporter_target_up")) == {
        key(target="jenkins", kind="jenkins")
    }
    assert unknown.status_code == 400
    assert "harbor, jenkins" in unknown.text


def test_probe_is_off_unless_configured(harbor: HarborSimulator) -> None:
    with running_exporter([harbor_target(harbor)]) as exporter:
        assert httpx.get(exporter.url + "/probe", params={"target": "harbor"}).status_code == 404


def test_readiness_waits_for_the_first_poll_of_every_target(harbor: HarborSimulator) -> None:
    config = parse_config({"targets": [harbor_target(harbor)]}, "test-config.yaml")
    poller = Poller(config)
    server = MetricsServer(poller, "127.0.0.1", 0)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        before = httpx.get(url + "/readyz")
        assert httpx.get(url + "/healthz").status_code == 200
        poller.start()
        assert poller.wait_for_polls(1, timeout=30)
        after = httpx.get(url + "/readyz")
    finally:
        server.close()
        poller.close()
    assert before.status_code == 503
    assert "harbor" in before.text
    assert after.status_code == 200


def test_every_body_of_an_exposition_holds_the_same_samples() -> None:
    """Only the gzipped OpenMetrics body is built with the poll; the others on demand."""
    gauge = MetricFamily("demo_value", "gauge", "A value", ("name",))
    for index in range(2_000):
        gauge.add(index, f"n{index}")
    counter = MetricFamily("demo_events_total", "counter", "Events")
    counter.add(3)
    exposition = Exposition.compose([render_target([gauge, counter], ())])
    openmetrics = gzip.decompress(exposition.openmetrics_gzip)
    assert openmetrics == exposition.openmetrics
    assert openmetrics.endswith(b"# EOF\n")
    assert gzip.decompress(exposition.text_gzip) == exposition.text
    samples = [line for line in exposition.text.splitlines() if not line.startswith(b"#")]
    assert samples == [line for line in openmetrics.splitlines() if not line.startswith(b"#")]
    assert len(samples) == 2_001
