"""Fixtures for the exporter's tests: simulators on loopback and an exporter polling them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from paas_exporter.config import parse_config
from paas_exporter.poller import Poller
from paas_exporter.server import MetricsServer
from prometheus_client.parser import text_string_to_metric_families

from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and label set."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name, frozenset(sample.labels.items())] = sample.value
    return out


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def key(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


@dataclass
class RunningExporter:
    poller: Poller
    server: MetricsServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def samples(self) -> Samples:
        return parse_samples(httpx.get(self.url + "/metrics", timeout=10).text)

    def polls(self, name: str) -> int:
        return self.poller.targets[name].polls

    def poll_again(self, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until every target has been polled `count` more times."""
        wanted = min(s.polls for s in self.poller.targets.values()) + count
        assert self.poller.wait_for_polls(wanted, timeout)


def harbor_target(sim: HarborSimulator, name: str = "harbor", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "harbor",
        "url": sim.url,
        "interval": 0.3,
        "timeout": 2,
        "auth": {"username": "admin", "password_env": "TEST_HARBOR_PASSWORD"},
        **extra,
    }


def jenkins_target(sim: JenkinsSimulator, name: str = "jenkins", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "jenkins",
        "url": sim.url,
        "interval": 0.3,
        "timeout": 2,
        "auth": {"username": "exporter", "password_env": "TEST_JENKINS_TOKEN"},
        **extra,
    }


def spinnaker_target(
    sim: SpinnakerSimulator, name: str = "spinnaker", **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "spinnaker",
        "url": sim.url,
        "interval": 0.3,
        "timeout": 2,
        **extra,
    }


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HARBOR_PASSWORD", "Harbor12345")
    monkeypatch.setenv("TEST_JENKINS_TOKEN", "api-token")


@contextlib.contextmanager
def running_exporter(
    targets: list[dict[str, Any]], *, probe: bool = False
) -> Iterator[RunningExporter]:
    config = parse_config({"targets": targets, "probe": probe}, "test-config.yaml")
    poller = Poller(config)
    server = MetricsServer(poller, "127.0.0.1", 0)
    poller.start()
    server.start()
    try:
        assert poller.wait_for_polls(1, timeout=30)
        yield RunningExporter(poller, server)
    finally:
        server.close()
        poller.close()


@pytest.fixture
def harbor() -> Iterator[HarborSimulator]:
    with HarborSimulator(projects=150) as simulator:
        yield simulator


@pytest.fixture
def jenkins() -> Iterator[JenkinsSimulator]:
    with JenkinsSimulator(jobs=60, folders=3, depth=2) as simulator:
        yield simulator


@pytest.fixture
def spinnaker() -> Iterator[SpinnakerSimulator]:
    with SpinnakerSimulator(applications=4) as simulator:
        yield simulator
