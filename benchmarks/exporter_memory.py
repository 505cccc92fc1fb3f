"""Resident memory of a real `paas-exporter` process at the size the platform runs at.

The world: Jenkins with 20 000 jobs in 1 900 folders (100 top folders of 18), Harbor with 2 000
projects holding 8 000 repositories (repository pull counts on, so every repository is read), and
Spinnaker with 200 pipelines (40 applications of 5). The exporter runs as its real command in a
child process, polling at the default interval (30 s) and scraped as Prometheus scrapes it
(OpenMetrics, gzip) twice a second. Steady RSS is sampled between polls, from the end of the first
complete poll of every target until each has been polled `--polls` more times; the peak is the
kernel's high-water mark (VmHWM) over the whole run.

Anchors in the same run: the 150 MB target, and the same exporter polling a world of one project,
one job and one pipeline (the interpreter and its libraries before any data).

    .venv/bin/python benchmarks/exporter_memory.py [--polls 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import ExitStack

import httpx
from _exporter_setup import exporter_process
from exporter_scrape import PROMETHEUS_ACCEPT, rss_mb

from paas_sdk.testing.servers._process import free_port
from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator

TARGET_MB = 150.0
INTERVAL = 30


def world(stack: ExitStack, large: bool) -> dict[str, str]:
    """Start the simulators; the URL of each."""
    if large:
        harbor = HarborSimulator(projects=2_000, repositories=8_000)
        jenkins = JenkinsSimulator(jobs=20_000, folders=(100, 18), depth=2)
        spinnaker = SpinnakerSimulator(applications=40, pipelines=5, executions=20)
        assert len(jenkins.state.iter_folders()) == 1_900
        assert len(jenkins.state.iter_jobs()) == 20_000
        assert len(harbor.state.repositories) == 8_000
        assert sum(len(c) for c in spinnaker.state.pipeline_configs.values()) == 200
    else:
        harbor = HarborSimulator(projects=1, repositories=1)
        jenkins = JenkinsSimulator(jobs=1, folders=1, depth=1)
        spinnaker = SpinnakerSimulator(applications=1, pipelines=1, executions=1)
    return {
        name: stack.enter_context(simulator).url
        for name, simulator in (("harbor", harbor), ("jenkins", jenkins), ("spinnaker", spinnaker))
    }


def scrape(url: str) -> list[str]:
    """The exposition's lines, fetched as Prometheus fetches them."""
    return httpx.get(url, headers=PROMETHEUS_ACCEPT, timeout=30).text.splitlines()


def per_target(lines: list[str], name: str) -> dict[str, float]:
    """One of the exporter's own per-target metrics, by target."""
    found = {}
    for line in lines:
        if line.startswith(name + "{"):
            target = line.split('target="', 1)[1].split('"', 1)[0]
            found[target] = float(line.rsplit(" ", 1)[1])
    return found


def quiet(lines: list[str], now: float) -> bool:
    """No poll is running: each target's last poll ended over a second ago and its next one
    (an interval after the last one started) is over a second away."""
    ended = per_target(lines, "paas_exporter_last_success_timestamp_seconds")
    took = per_target(lines, "paas_exporter_poll_duration_seconds")
    return all(
        now - end > 1 and end - took.get(target, 0) + INTERVAL - now > 1
        for target, end in ended.items()
    )


def measure(urls: dict[str, str], polls: int) -> tuple[list[float], float, int]:
    """RSS samples (MB) over `polls` polls after the first, the peak (VmHWM), series served."""
    port = free_port()
    auth = {
        "harbor": {"username": "admin", "password_env": "BENCH_HARBOR_PASSWORD"},
        "jenkins": {"username": "exporter", "password_env": "BENCH_JENKINS_TOKEN"},
    }
    config = {
        "listen": {"host": "127.0.0.1", "port": port},
        "targets": [
            {"name": kind, "kind": kind, "url": url, "timeout": 60, "interval": INTERVAL,
             **({"auth": auth[kind]} if kind in auth else {}),
             **({"repository_pulls": True} if kind == "harbor" else {}),
             **({"folder_depth": 2} if kind == "jenkins" else {})}
            for kind, url in urls.items()
        ],
    }  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    with exporter_process(config) as child:
        deadline = time.monotonic() + 60 + (polls + 1) * INTERVAL * 2
        seen: dict[str, set[float]] = {}
        samples: list[float] = []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                lines = scrape(url)
            except httpx.HTTPError:
                continue
            for target, stamp in per_target(
                lines, "paas_exporter_last_success_timestamp_seconds"
            ).items():
                seen.setdefault(target, set()).add(stamp)
            if len(seen) == len(urls):
                if quiet(lines, time.time()):
                    samples.append(rss_mb(child.pid)[0])
                if all(len(stamps) > polls for stamps in seen.values()):
                    break
        else:
            raise SystemExit(f"the exporter did not complete {polls + 1} polls of each target")
        _, peak = rss_mb(child.pid)
        series = sum(1 for line in scrape(url) if line and not line.startswith("#"))
    return samples, peak, series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=2, help="polls of each target measured")
    args = parser.parse_args()
    results = {}
    for large in (False, True):
        with ExitStack() as stack:
            results[large] = measure(world(stack, large), args.polls)
    base_samples, base_peak, _ = results[False]
    samples, peak, series = results[True]
    steady = statistics.median(samples)
    print(
        "world: 20 000 jobs in 1 900 folders, 2 000 projects with 8 000 repositories, "
        f"200 pipelines; {series} series served"
    )
    print(
        f"paas-exporter RSS over {args.polls} polls of each target: median {steady:.0f} MB, "
        f"range {min(samples):.0f}-{max(samples):.0f} MB, peak {peak:.0f} MB"
    )
    print(f"  vs the 150 MB target: steady {steady / TARGET_MB:.2f}x, peak {peak / TARGET_MB:.2f}x")
    print(
        f"  vs the same exporter polling a world of one of each "
        f"({statistics.median(base_samples):.0f} MB, peak {base_peak:.0f} MB): "
        f"steady {steady / statistics.median(base_samples):.2f}x"
    )


if __name__ == "__main__":
    main()
