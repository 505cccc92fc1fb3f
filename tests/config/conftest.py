"""An Apollo double per test, holding long polls 1 s so that tests stay quick."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from paas_sdk.config import ApolloClient, ConfigChangeEvent
from paas_sdk.testing.apollo import ApolloDouble

APP = "orders"
SECRET = "s3cr3t-access-key"


@pytest.fixture
def apollo() -> Iterator[ApolloDouble]:
    with ApolloDouble(hold_seconds=1.0, secrets={APP: SECRET}) as double:
        yield double


@pytest.fixture
def metrics() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_client(
    apollo: ApolloDouble, tmp_path: Path, metrics: CollectorRegistry
) -> Iterator[Callable[..., ApolloClient]]:
    clients: list[ApolloClient] = []

    def make(**options: object) -> ApolloClient:
        settings: dict[str, object] = {
            "meta_servers": [apollo.meta_url],
            "secret": SECRET,
            "cache_dir": tmp_path / "cache",
            "startup_timeout": 3.0,
            "metrics": metrics,
        }
        settings.update(options)
        namespaces = settings.pop("namespaces", ("application",))
        client = ApolloClient(APP, namespaces, **settings)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class Events:
    """Collects change events delivered to a listener, with a bounded wait."""

    def __init__(self) -> None:
        self.items: list[ConfigChangeEvent] = []
        self.threads: list[str] = []
        self._arrived = threading.Condition()

    def __call__(self, event: ConfigChangeEvent) -> None:
        with self._arrived:
            self.items.append(event)
            self.threads.append(threading.current_thread().name)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ConfigChangeEvent]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.items)} events after {timeout} s, not {count}")
                self._arrived.wait(remaining)
            return list(self.items)


def sample(metrics: CollectorRegistry, name: str, **labels: str) -> float | None:
    return metrics.get_sample_value(name, labels)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
