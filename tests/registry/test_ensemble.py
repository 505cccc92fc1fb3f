"""The registry on a real three-node ZooKeeper ensemble: its session, and so its ephemeral
registrations, survive the loss of the node it is connected to."""

from __future__ import annotations

import uuid

from kazoo.client import KazooClient
from prometheus_client import CollectorRegistry

from paas_sdk.registry import ZooKeeperRegistry
from paas_sdk.testing.servers import ZooKeeperEnsemble

from .conftest import leaves, provider, wait_until


def test_the_session_survives_the_loss_of_its_zookeeper_node(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    interface = f"com.acme.Ensemble{uuid.uuid4().hex[:6]}"
    registry = ZooKeeperRegistry(
        zookeeper_ensemble.hosts, session_timeout=10.0, metrics=CollectorRegistry()
    ).start()
    try:
        registry.register(provider(interface))
        session = registry.session_id
        assert session is not None
        marker = f"sid=0x{session:x}"
        wait_until(
            lambda: any(marker in n.connections() for n in zookeeper_ensemble.nodes), timeout=10
        )
        connected = next(n for n in zookeeper_ensemble.nodes if marker in n.connections())
        connected.kill()
        others = [n for n in zookeeper_ensemble.nodes if n is not connected]
        # the client moves to another node within the session timeout, keeping its session
        wait_until(lambda: any(marker in n.connections() for n in others), timeout=20)
        wait_until(lambda: registry.connected, timeout=10)
        assert registry.session_id == session
        assert registry.sessions_reestablished == 0
        observer = KazooClient(hosts=",".join(n.hosts for n in others))
        observer.start(timeout=15)
        try:
            assert len(leaves(observer, interface)) == 1, "the ephemeral registration is kept"
        finally:
            observer.stop()
            observer.close()
    finally:
        registry.close()
