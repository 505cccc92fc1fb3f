"""`/metrics` under 2 000 idle connections: scrape latency, threads and memory of the server.

Each server runs in a child process holding a registry of 500 series; the benchmark opens
`--idle` connections to it (half answered once and kept alive, half never sending a byte), then
scrapes `/metrics` over fresh connections and reads the child's thread count and resident
memory. Ours is `paas_sdk.metrics.MetricsServer`; the anchor is prometheus-client's
`start_http_server` (a thread per connection), measured in the same run. On a busy machine the
median measures the scheduler as much as the server; the fastest tenth (p10) does not.

    .venv/bin/python benchmarks/http_idle_connections.py [--quick] [--idle N]
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from paas_sdk.testing.servers._process import free_port

SERVE = """
import sys, threading
from prometheus_client import CollectorRegistry, Gauge
registry = CollectorRegistry()
gauge = Gauge("bench_value", "A value.", ["n"], registry=registry)
for n in range(500):
    gauge.labels(str(n)).set(n)
port = int(sys.argv[2])
if sys.argv[1] == "paas-sdk":
    from paas_sdk.metrics import HealthEndpoints, MetricsServer
    MetricsServer(HealthEndpoints(registry=registry), host="127.0.0.1", port=port).start()
else:
    from prometheus_client import start_http_server
    start_http_server(port, "127.0.0.1", registry)
print("ready", flush=True)
threading.Event().wait()
"""


def status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def scrape(port: int) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 200
    return time.perf_counter() - started


def measure(kind: str, idle_count: int, scrapes: int) -> dict[str, float]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-c", SERVE, kind, str(port)], stdout=subprocess.PIPE, text=True
    )
    idle: list[socket.socket] = []
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        quiet = sorted(scrape(port) for _ in range(scrapes))
        for number in range(idle_count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            if number % 2:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
                sock.recv(1 << 20)
            idle.append(sock)
        time.sleep(1)
        loaded = sorted(scrape(port) for _ in range(scrapes))
        facts = status(child.pid)
        return {
            "quiet_median_ms": statistics.median(quiet) * 1000,
            "p10_ms": loaded[len(loaded) // 10] * 1000,
            "median_ms": statistics.median(loaded) * 1000,
            "p99_ms": loaded[min(len(loaded) - 1, int(0.99 * len(loaded)))] * 1000,
            "threads": float(facts["Threads"]),
            "rss_mb": int(facts["VmRSS"].split()[0]) / 1024,
        }
    finally:
        for sock in idle:
            sock.close()
        child.terminate()
        child.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer scrapes")
    parser.add_argument("--idle", type=int, default=2000, help="idle connections (2000)")
    options = parser.parse_args()
    scrapes = 30 if options.quick else 200
    ours = measure("paas-sdk", options.idle, scrapes)
    anchor = measure("prometheus-client", options.idle, scrapes)
    print(f"/metrics (500 series) with {options.idle} idle connections open, {scrapes} scrapes")
    print(f"{'':28}{'paas-sdk':>12}{'prometheus-client':>20}{'ratio':>9}")
    rows = [
        ("median, no idle (ms)", "quiet_median_ms"),
        ("p10 (ms)", "p10_ms"),
        ("median (ms)", "median_ms"),
        ("p99 (ms)", "p99_ms"),
        ("threads", "threads"),
        ("RSS (MB)", "rss_mb"),
    ]
    for label, key in rows:
        ratio = ours[key] / anchor[key] if anchor[key] else float("nan")
        print(f"{label:28}{ours[key]:12.1f}{anchor[key]:20.1f}{ratio:9.2f}")


if __name__ == "__main__":
    main()
