"""Shared set-up for the exporter benchmarks: the large simulators and one direct poll of each."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from paas_exporter.config import ExporterConfig, parse_config
from paas_exporter.exposition import MetricFamily
from paas_exporter.poller import collect
from paas_exporter.upstream import Upstream

from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator

LARGE_JOBS = 20_000
LARGE_PROJECTS = 2_000


def large_simulators(quick: bool) -> tuple[HarborSimulator, JenkinsSimulator]:
    projects, jobs = (200, 2_000) if quick else (LARGE_PROJECTS, LARGE_JOBS)
    harbor = HarborSimulator(projects=projects).start()
    jenkins = JenkinsSimulator(jobs=jobs, folders=10, depth=3).start()
    return harbor, jenkins


@contextlib.contextmanager
def exporter_process(config: dict[str, Any]) -> Iterator[subprocess.Popen[bytes]]:
    """`paas-exporter` as its real command in a child process, stopped on leaving."""
    env = {**os.environ, "BENCH_HARBOR_PASSWORD": "Harbor12345", "BENCH_JENKINS_TOKEN": "api-token"}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        yaml.safe_dump(config, file)
    command = Path(sys.executable).parent / "paas-exporter"
    child = subprocess.Popen(
        [str(command), "--config", file.name, "--log-level", "WARNING"], env=env
    )
    try:
        yield child
    finally:
        child.terminate()
        child.wait(timeout=30)
        os.unlink(file.name)


def config_for(harbor: HarborSimulator, jenkins: JenkinsSimulator, **extra: Any) -> ExporterConfig:
    os.environ.setdefault("BENCH_HARBOR_PASSWORD", "Harbor12345")
    os.environ.setdefault("BENCH_JENKINS_TOKEN", "api-token")
    return parse_config(
        {
            "targets": [
                {
                    "name": "harbor",
                    "kind": "harbor",
                    "url": harbor.url,
                    "timeout": 60,
                    "auth": {"username": "admin", "password_env": "BENCH_HARBOR_PASSWORD"},
                },
                {
                    "name": "jenkins",
                    "kind": "jenkins",
                    "url": jenkins.url,
                    "timeout": 60,
                    "auth": {"username": "exporter", "password_env": "BENCH_JENKINS_TOKEN"},
                },
            ],
            **extra,
        },
        "benchmark",
    )


def poll_directly(
    config: ExporterConfig,
) -> tuple[dict[str, list[MetricFamily]], dict[str, int], dict[str, float]]:
    """Families, request counts and poll seconds of one poll of every target."""

    async def run() -> tuple[dict[str, list[MetricFamily]], dict[str, int], dict[str, float]]:
        families, requests, seconds = {}, {}, {}
        for target in config.targets:
            upstream = Upstream(target)
            started = time.perf_counter()
            families[target.name] = await collect(upstream, target, time.time())
            seconds[target.name] = time.perf_counter() - started
            requests[target.name] = upstream.requests
            await upstream.close()
        return families, requests, seconds

    return asyncio.run(run())
