"""Helpers for the registry tests: an observer client, unique interface names, polling."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from prometheus_client import CollectorRegistry

from paas_sdk.registry import DubboURL

_counter = itertools.count()


@pytest.fixture
def interface() -> str:
    """An interface name no other test uses, so tests can share one ZooKeeper."""
    return f"com.acme.test{uuid.uuid4().hex[:8]}.Service{next(_counter)}"


@pytest.fixture
def metrics() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def observer(zookeeper: Any) -> Iterator[KazooClient]:
    """A plain kazoo client looking at the tree, as Dubbo Admin would."""
    client = KazooClient(zookeeper.address)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


def wait_until(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.005) -> float:
    """Poll until `check()`; return the seconds it took, fail the test after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started


def provider(interface: str, port: int = 20880, **kwargs: Any) -> DubboURL:
    return DubboURL.provider(
        interface, "127.0.0.1", port, application="py-test", methods=["call"], **kwargs
    )


def leaves(client: KazooClient, interface: str, category: str = "providers") -> list[str]:
    path = f"/dubbo/{interface}/{category}"
    return client.get_children(path) if client.exists(path) else []
