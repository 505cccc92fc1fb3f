"""Poll cost of the delivery view at 200 applications x 30 days of history, against the exporter
without it (one poll each of its Harbor, Jenkins and Spinnaker collectors) in the same run:

- upstream requests and CPU per poll (CPU of the polling thread only: the simulators answer in
  other threads), for a steady poll with nothing new, a poll after 5 new deploys, and the first
  poll, which reads the whole history;
- resident memory of a real `paas-exporter` process with and without the view (RSS between
  polls, and the kernel's high-water mark, which the first poll sets).

    .venv/bin/python benchmarks/delivery_poll.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from contextlib import ExitStack
from typing import Any

import httpx
from _exporter_setup import exporter_process
from exporter_scrape import rss_mb
from paas_exporter.config import ExporterConfig, parse_config
from paas_exporter.delivery import DeliveryUpstreams, DeliveryView
from paas_exporter.poller import collect
from paas_exporter.upstream import Upstream

from paas_sdk.testing.servers._process import free_port
from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator
from paas_sdk.testing.simulators.delivery import DeliveryWorld, install

INTERVAL = 10


def _config(sims: dict[str, Any], delivery: bool, port: int = 0) -> dict[str, Any]:
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "targets": [
            {"name": "harbor", "kind": "harbor", "url": sims["harbor"].url, "interval": INTERVAL,
             "timeout": 60,
             "auth": {"username": "admin", "password_env": "BENCH_HARBOR_PASSWORD"}},
            {"name": "jenkins", "kind": "jenkins", "url": sims["jenkins"].url,
             "interval": INTERVAL, "timeout": 60,
             "auth": {"username": "exporter", "password_env": "BENCH_JENKINS_TOKEN"}},
            {"name": "spin", "kind": "spinnaker", "url": sims["spinnaker"].url,
             "interval": INTERVAL, "timeout": 60},
        ],
    }  # fmt: skip
    if delivery:
        config["delivery"] = {
            "spinnaker": "spin", "harbor": "harbor", "jenkins": "jenkins", "timeout": 120,
            "registry": "harbor.example", "interval": INTERVAL,
            "environments": {"staging": ["staging-k8s"], "production": ["prod-k8s"]},
        }  # fmt: skip
    return config


async def _timed(call: Any) -> float:
    started = time.thread_time()
    await call
    return time.thread_time() - started


async def poll_costs(
    config: ExporterConfig, world: DeliveryWorld, sims: dict[str, Any]
) -> dict[str, float]:
    """Requests and polling-thread CPU seconds of each kind of poll."""
    out: dict[str, float] = {}
    cpu: list[float] = []
    requests: list[int] = []
    for _ in range(3):  # the exporter without the view: one poll of each collector
        spent, asked = 0.0, 0
        for target in config.targets:
            upstream = Upstream(target)
            spent += await _timed(collect(upstream, target, time.time()))
            asked += upstream.requests
            await upstream.close()
        cpu.append(spent)
        requests.append(asked)
    out["base_cpu"], out["base_requests"] = statistics.median(cpu), statistics.median(requests)

    view = DeliveryView(config)
    up = DeliveryUpstreams(config, {})
    started = time.perf_counter()
    out["first_cpu"] = await _timed(view.collect(up, time.time()))
    out["first_wall"] = time.perf_counter() - started
    out["first_requests"] = up.requests
    cpu, requests = [], []
    for _ in range(5):
        asked = up.requests
        cpu.append(await _timed(view.collect(up, time.time())))
        requests.append(up.requests - asked)
    out["steady_cpu"], out["steady_requests"] = statistics.median(cpu), statistics.median(requests)
    now = int(time.time() * 1000)
    for app in world.applications[:5]:
        world.add_release(app, now)
    install(world, harbor=sims["harbor"], jenkins=sims["jenkins"], spinnaker=sims["spinnaker"])
    asked = up.requests
    out["new_cpu"] = await _timed(view.collect(up, time.time()))
    out["new_requests"] = up.requests - asked
    await up.close()
    return out


def resident(sims: dict[str, Any], delivery: bool) -> tuple[float, float]:
    """(RSS between polls, high-water mark) in MiB of a real exporter, after three full polls."""
    port = free_port()
    with exporter_process(_config(sims, delivery, port)) as child:
        deadline = time.monotonic() + 600
        wanted = ("harbor", "jenkins", "spin", *(("delivery",) if delivery else ()))
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
            except httpx.HTTPError:
                continue
            done = "paas_exporter_last_success_timestamp_seconds{target="
            if all(f'{done}"{t}"' in text for t in wanted):
                break
        time.sleep(2 * INTERVAL)  # two more polls of everything
        # between polls: the least resident size seen over one more interval (a poll under
        # way holds its answers until it ends)
        least = rss_mb(child.pid)[0]
        for _ in range(INTERVAL * 10):
            time.sleep(0.1)
            least = min(least, rss_mb(child.pid)[0])
        return least, rss_mb(child.pid)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 applications x 7 days")
    args = parser.parse_args()
    apps, days = (50, 7) if args.quick else (200, 30)
    world = DeliveryWorld.generate(apps, days, now_ms=int(time.time() * 1000) - 60_000)
    with ExitStack() as stack:
        harbor = stack.enter_context(HarborSimulator(projects=20))
        jenkins = stack.enter_context(JenkinsSimulator(jobs=200, folders=10, depth=2))
        spinnaker = stack.enter_context(SpinnakerSimulator(applications=5))
        sims: dict[str, Any] = {"harbor": harbor, "jenkins": jenkins, "spinnaker": spinnaker}
        install(world, harbor=harbor, jenkins=jenkins, spinnaker=spinnaker)
        print(f"world: {apps} applications x {days} days: {len(world.builds)} builds, "
              f"{len(world.deploys)} deploy executions")  # fmt: skip
        os.environ.setdefault("BENCH_HARBOR_PASSWORD", "Harbor12345")
        os.environ.setdefault("BENCH_JENKINS_TOKEN", "api-token")
        config = parse_config(_config(sims, True), "benchmark")
        costs = asyncio.run(poll_costs(config, world, sims))
        rss_without, peak_without = resident(sims, False)
        rss_with, peak_with = resident(sims, True)
    base_r, base_c = costs["base_requests"], costs["base_cpu"] * 1000
    print(f"\nper poll, against one poll of the exporter without the view "
          f"({base_r:.0f} requests, {base_c:.0f} ms CPU):")  # fmt: skip
    print(f"{'':34}{'requests':>10}{'ratio':>8}{'CPU ms':>10}{'ratio':>8}")
    for label, name in (
        ("delivery, steady (nothing new)", "steady"),
        ("delivery, 5 new deploys", "new"),
        ("delivery, first poll (history)", "first"),
    ):
        r, c = costs[f"{name}_requests"], costs[f"{name}_cpu"] * 1000
        print(f"{label:34}{r:10.0f}{r / base_r:8.3f}{c:10.1f}{c / base_c:8.3f}")
    print(f"first poll wall time: {costs['first_wall']:.1f} s")
    print(f"\n{'resident memory, MiB':34}{'without':>10}{'with':>10}{'ratio':>8}")
    print(
        f"{'RSS between polls':34}{rss_without:10.1f}{rss_with:10.1f}{rss_with / rss_without:8.3f}"
    )
    ratio = peak_with / peak_without
    print(f"{'high-water mark':34}{peak_without:10.1f}{peak_with:10.1f}{ratio:8.3f}")


if __name__ == "__main__":
    main()
