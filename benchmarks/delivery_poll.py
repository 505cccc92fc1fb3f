"""Poll cost of the delivery view at 200 applications x 30 days of history: upstream requests
per poll, CPU per poll and resident memory of a real `paas-exporter` process, against the same
exporter without the delivery view, in the same run.

    .venv/bin/python benchmarks/delivery_poll.py [--quick]

Both exporters poll the same simulators (Harbor, Jenkins, and Spinnaker with every
application's executions); the delivery one also links them. Steady polls are measured after
the first (which reads the whole history), once with nothing new and once with new deploys.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator
from paas_sdk.testing.simulators.delivery import DeliveryWorld, install

INTERVAL = 5.0
EXPORTER = str(Path(sys.executable).with_name("paas-exporter"))


def _config(sims: tuple[Any, ...], port: int, delivery: bool) -> dict[str, Any]:
    harbor, jenkins, spinnaker = sims
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "targets": [
            {"name": "harbor", "kind": "harbor", "url": harbor.url, "interval": INTERVAL,
             "timeout": 60, "auth": {"username": "admin", "password_env": "BENCH_HARBOR"}},
            {"name": "jenkins", "kind": "jenkins", "url": jenkins.url, "interval": INTERVAL,
             "timeout": 60, "auth": {"username": "exporter", "password_env": "BENCH_JENKINS"}},
            {"name": "spin", "kind": "spinnaker", "url": spinnaker.url, "interval": INTERVAL,
             "timeout": 60},
        ],
    }  # fmt: skip
    if delivery:
        config["delivery"] = {
            "spinnaker": "spin", "harbor": "harbor", "jenkins": "jenkins", "timeout": 120,
            "registry": "harbor.example", "interval": INTERVAL,
            "environments": {"staging": ["staging-k8s"], "production": ["prod-k8s"]},
        }  # fmt: skip
    return config


def _metrics(port: int) -> dict[tuple[str, str], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("paas_exporter_"):
                out[sample.name, sample.labels.get("target", "")] = sample.value
    return out


def _proc(pid: int) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def run_exporter(
    sims: tuple[Any, ...], delivery: bool, world: DeliveryWorld, steady: int
) -> dict[str, float]:
    """Start a real exporter, let it finish its first polls, then measure `steady` polls."""
    from paas_sdk.testing.servers._process import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exporter.yaml"
        path.write_text(yaml.safe_dump(_config(sims, port, delivery)))
        env = {**os.environ, "BENCH_HARBOR": "Harbor12345", "BENCH_JENKINS": "api-token"}
        process = subprocess.Popen(
            [EXPORTER, "--config", str(path), "--log-level", "WARNING"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            target = "delivery" if delivery else "spin"
            first = time.monotonic()
            while True:
                time.sleep(0.5)
                try:
                    m = _metrics(port)
                except httpx.HTTPError:
                    continue
                done = "paas_exporter_last_success_timestamp_seconds"
                if (done, target) in m and (done, "spin") in m:
                    break
                if time.monotonic() - first > 900:
                    raise TimeoutError("first poll did not finish")
            first_requests = m.get(("paas_exporter_upstream_requests_total", target), 0)
            time.sleep(INTERVAL)  # let every target settle into its rhythm
            before = _metrics(port)
            cpu0, _ = _proc(process.pid)
            started = time.monotonic()
            time.sleep(steady * INTERVAL)
            after = _metrics(port)
            cpu1, rss = _proc(process.pid)
            elapsed = time.monotonic() - started
            polls = elapsed / INTERVAL

            def added(name: str, which: str) -> float:
                return after.get((name, which), 0) - before.get((name, which), 0)

            requests = sum(
                added("paas_exporter_upstream_requests_total", t)
                for t in ("harbor", "jenkins", "spin", "delivery")
            )
            out = {
                "first_requests": first_requests,
                "requests_per_poll": requests / polls,
                "delivery_requests_per_poll": added(
                    "paas_exporter_upstream_requests_total", "delivery"
                )
                / polls,
                "cpu_per_poll": (cpu1 - cpu0) / polls,
                "rss": float(rss),
            }
            if delivery:  # new deploys: what each costs
                now = int(time.time() * 1000)
                for app in world.applications[:5]:
                    world.add_release(app, now)
                install(world, harbor=sims[0], jenkins=sims[1], spinnaker=sims[2])
                mark = _metrics(port)
                time.sleep(2 * INTERVAL + 1)
                later = _metrics(port)
                key = ("paas_exporter_upstream_requests_total", "delivery")
                out["requests_for_5_new_deploys"] = later.get(key, 0) - mark.get(key, 0)
            return out
        finally:
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 applications x 7 days")
    args = parser.parse_args()
    apps, days = (50, 7) if args.quick else (200, 30)
    world = DeliveryWorld.generate(apps, days, now_ms=int(time.time() * 1000) - 60_000)
    with (
        HarborSimulator(projects=20) as harbor,
        JenkinsSimulator(jobs=200, folders=10, depth=2) as jenkins,
        SpinnakerSimulator(applications=1) as spinnaker,
    ):
        sims = (harbor, jenkins, spinnaker)
        install(world, harbor=harbor, jenkins=jenkins, spinnaker=spinnaker)
        print(f"world: {apps} applications x {days} days, {len(world.builds)} builds, "
              f"{len(world.deploys)} executions")  # fmt: skip
        without = run_exporter(sims, False, world, steady=4)
        with_view = run_exporter(sims, True, world, steady=4)
    print(f"{'':38}{'without':>12}{'with delivery':>16}{'ratio':>9}")
    rows = (
        ("upstream requests per steady poll", "requests_per_poll", 1),
        ("CPU ms per poll interval", "cpu_per_poll", 1000),
        ("RSS MiB", "rss", 1 / 2**20),
    )
    for label, name, scale in rows:
        a, b = without[name] * scale, with_view[name] * scale
        print(f"{label:38}{a:12.1f}{b:16.1f}{b / a if a else float('nan'):9.3f}")
    steady = with_view["delivery_requests_per_poll"]
    print(f"delivery requests per steady poll (nothing new): {steady:.2f}")
    print(f"delivery requests for 5 new deploys: {with_view['requests_for_5_new_deploys']:.0f}")
    print(f"delivery requests of the first poll (whole history): {with_view['first_requests']:.0f}")


if __name__ == "__main__":
    main()
