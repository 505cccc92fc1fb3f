"""/metrics latency and resident memory of `paas-exporter` at 20 000 jobs + 2 000 projects.

The exporter runs as its real command in a child process against the large simulators; the same
run scrapes a prometheus-client `start_http_server` exposing the same samples as the anchor.

    .venv/bin/python benchmarks/exporter_scrape.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import httpx
from _exporter_setup import config_for, exporter_process, large_simulators, poll_directly
from exporter_render import SameSamples
from prometheus_client import CollectorRegistry, start_http_server

from paas_sdk.testing.servers._process import free_port

PROMETHEUS_ACCEPT = {
    "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    "Accept-Encoding": "gzip",
}


def latencies(url: str, count: int, headers: dict[str, str]) -> list[float]:
    timings = []
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            # Raw bytes as they come off the wire: the exporter's latency, not the client's gunzip.
            with client.stream("GET", url, headers=headers) as response:
                for _ in response.iter_raw():
                    pass
                timings.append(time.perf_counter() - started)
                response.raise_for_status()
    return sorted(timings)


def p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    quick = "--quick" in sys.argv
    scrapes = 50 if quick else 200
    harbor, jenkins = large_simulators(quick)
    port = free_port()
    config = {
        "listen": {"host": "127.0.0.1", "port": port},
        "targets": [
            {
                "name": "harbor",
                "kind": "harbor",
                "url": harbor.url,
                "timeout": 60,
                "interval": 30,
                "auth": {"username": "admin", "password_env": "BENCH_HARBOR_PASSWORD"},
            },
            {
                "name": "jenkins",
                "kind": "jenkins",
                "url": jenkins.url,
                "timeout": 60,
                "interval": 30,
                "auth": {"username": "exporter", "password_env": "BENCH_JENKINS_TOKEN"},
            },
        ],
    }
    with exporter_process(config) as child:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                body = httpx.get(url, timeout=5).text
                if body.count("paas_exporter_last_success_timestamp_seconds{") == 2:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("the exporter did not finish its first polls in 120 s")
        series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
        ours_gzip = latencies(url, scrapes, PROMETHEUS_ACCEPT)
        ours_plain = latencies(url, scrapes // 2, {"Accept-Encoding": "identity"})
        rss, peak = rss_mb(child.pid)

    families, _, _ = poll_directly(config_for(harbor, jenkins))
    harbor.stop()
    jenkins.stop()
    registry = CollectorRegistry()
    registry.register(SameSamples([f for fams in families.values() for f in fams]))
    anchor_port = free_port()
    anchor_server, _anchor_thread = start_http_server(anchor_port, "127.0.0.1", registry)
    anchor = latencies(
        f"http://127.0.0.1:{anchor_port}/metrics", max(10, scrapes // 10), PROMETHEUS_ACCEPT
    )
    anchor_server.shutdown()

    print(f"series served: {series}")
    print(
        "paas-exporter /metrics (OpenMetrics, gzip, as Prometheus asks): "
        f"p50 {p(ours_gzip, 0.5):.1f} ms, "
        f"p99 {p(ours_gzip, 0.99):.1f} ms (target p99 <= 50 ms)"
    )
    print(
        f"paas-exporter /metrics (text, uncompressed): p50 {p(ours_plain, 0.5):.1f} ms, "
        f"p99 {p(ours_plain, 0.99):.1f} ms"
    )
    print(
        f"prometheus-client collector, same samples: p50 {p(anchor, 0.5):.1f} ms, "
        f"p99 {p(anchor, 0.99):.1f} ms"
    )
    print(
        f"ratio p99: {p(anchor, 0.99) / p(ours_gzip, 0.99):.0f}x lower than rendering on scrape; "
        f"mean {statistics.mean(anchor) / statistics.mean(ours_gzip):.0f}x"
    )
    print(f"paas-exporter resident memory: {rss:.0f} MB now, {peak:.0f} MB peak (target <= 150 MB)")


if __name__ == "__main__":
    main()
