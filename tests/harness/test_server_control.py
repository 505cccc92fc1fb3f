"""Servers of a test's own can be taken away and brought back with their data."""

from __future__ import annotations

from pathlib import Path

import pytest
from kazoo.client import KazooClient

from paas_sdk.errors import HarnessError
from paas_sdk.testing.servers import ZooKeeperServer
from paas_sdk.testing.servers._process import port_open
from paas_sdk.testing.servers.cache import Cache


def test_a_restarted_zookeeper_keeps_port_and_data(managed_zookeeper: ZooKeeperServer) -> None:
    client = KazooClient(hosts=managed_zookeeper.hosts, timeout=10)
    client.start(timeout=15)
    client.create("/kept", b"1")
    client.stop()
    managed_zookeeper.restart()
    client = KazooClient(hosts=managed_zookeeper.hosts, timeout=10)
    client.start(timeout=15)
    try:
        assert client.get("/kept")[0] == b"1"
    finally:
        client.stop()


def test_a_stopped_server_no_longer_listens(managed_zookeeper: ZooKeeperServer) -> None:
    managed_zookeeper.stop()
    assert not managed_zookeeper.running
    assert not port_open(managed_zookeeper.port)


def test_an_empty_cache_gives_a_clear_error(tmp_path: Path) -> None:
    server = ZooKeeperServer(cache=Cache(tmp_path / "empty"))
    with pytest.raises(HarnessError, match="zookeeper is not in the cache"):
        server.start()
    server.cleanup()
