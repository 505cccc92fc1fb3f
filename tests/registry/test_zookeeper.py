"""ZooKeeperRegistry against a real ZooKeeper: layout, subscriptions, session loss, auth, errors."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl, make_digest_acl
from prometheus_client import CollectorRegistry

from paas_sdk.errors import RegistryAuthError, RegistryConnectionError, RegistryError
from paas_sdk.registry import ApplicationInstance, DubboURL, ZooKeeperRegistry
from paas_sdk.testing.servers import ZooKeeperServer, free_port
from tests.registry.conftest import leaves, provider, wait_until


def _registry(address: str, metrics: CollectorRegistry, **kwargs: Any) -> ZooKeeperRegistry:
    kwargs.setdefault("session_timeout", 4.0)
    return ZooKeeperRegistry(address, metrics=metrics, **kwargs).start()


def _sample(metrics: CollectorRegistry, name: str, **labels: str) -> float | None:
    return metrics.get_sample_value(name, labels)


def test_registration_is_an_ephemeral_leaf_at_dubbos_path_that_parses_back(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    url = provider(interface, group="blue", version="1.0")
    with _registry(zookeeper.address, metrics) as registry:
        registry.register(url)
        assert registry.registered
        assert registry.connected
        [leaf] = leaves(observer, interface)
        assert DubboURL.decode(leaf) == url
        assert leaf == url.encoded()
        _, leaf_stat = observer.get(f"/dubbo/{interface}/providers/{leaf}")
        _, parent_stat = observer.get(f"/dubbo/{interface}/providers")
        assert leaf_stat.ephemeralOwner == registry.session_id
        assert parent_stat.ephemeralOwner == 0
        assert _sample(metrics, "paas_registry_registered", side="provider") == 1
        assert _sample(metrics, "paas_registry_connected") == 1
    assert leaves(observer, interface) == []


def test_root_is_configurable(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    with _registry(zookeeper.address, metrics, root="/platform/dubbo") as registry:
        registry.register(provider(interface))
        assert len(observer.get_children(f"/platform/dubbo/{interface}/providers")) == 1


def test_subscription_sees_providers_come_and_go(
    zookeeper: Any, interface: str, metrics: CollectorRegistry
) -> None:
    seen: list[tuple[str, ...]] = []
    with (
        _registry(zookeeper.address, metrics) as consumer_side,
        _registry(zookeeper.address, CollectorRegistry()) as provider_side,
    ):
        # subscribing first: the path does not exist yet and must be created before watching
        subscription = consumer_side.subscribe(
            interface, listener=lambda p: seen.append(tuple(u.address for u in p))
        )
        assert subscription.providers == ()
        one, two = provider(interface, 20001), provider(interface, 20002)
        provider_side.register(one)
        wait_until(lambda: subscription.addresses == ("127.0.0.1:20001",))
        provider_side.register(two)
        wait_until(lambda: len(subscription.providers) == 2)
        assert _sample(metrics, "paas_registry_providers", interface=interface) == 2
        # another group or version is not ours
        provider_side.register(provider(interface, 20003, group="other"))
        provider_side.unregister(one)
        wait_until(lambda: subscription.addresses == ("127.0.0.1:20002",))
        provider_side.unregister(two)
        wait_until(lambda: subscription.providers == ())
        wait_until(lambda: bool(seen) and seen[-1] == ())
    assert ("127.0.0.1:20001",) in seen


def _expire(registry: ZooKeeperRegistry, address: str) -> int:
    """Close the registry's session from a second client holding the same session id."""
    client = registry._client
    assert client is not None
    session_id, password = client.client_id
    twin = KazooClient(address, client_id=(session_id, password))
    twin.start(timeout=10)
    twin.stop()
    twin.close()
    return int(session_id)


def test_forced_session_expiry_restores_everything_within_a_second_of_the_new_session(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    urls = [provider(interface, 30000 + i) for i in range(50)]
    consumer = DubboURL.consumer(interface, "127.0.0.1", application="py-test")
    with (
        _registry(zookeeper.address, metrics) as registry,
        _registry(zookeeper.address, CollectorRegistry()) as other,
    ):
        for url in urls:
            registry.register(url)
        registry.register(consumer)
        subscription = registry.subscribe(interface)
        wait_until(lambda: len(subscription.providers) == 50)
        old_session = _expire(registry, zookeeper.address)
        wait_until(lambda: registry.session_id not in (None, old_session))
        new_session_seen = time.monotonic()

        def restored() -> bool:
            stats = [observer.exists(f"/dubbo/{interface}/providers/{u.encoded()}") for u in urls]
            return all(s is not None and s.ephemeralOwner == registry.session_id for s in stats)

        wait_until(restored, timeout=5)
        assert time.monotonic() - new_session_seen <= 1.0
        assert registry.last_restore_seconds is not None
        assert registry.last_restore_seconds <= 1.0
        assert leaves(observer, interface, "consumers") == [consumer.encoded()]
        assert _sample(metrics, "paas_registry_sessions_reestablished_total") == 1
        assert _sample(metrics, "paas_registry_registered", side="provider") == 50
        assert _sample(metrics, "paas_registry_registered", side="consumer") == 1
        # the subscription's watch is re-armed on the new session
        other.register(provider(interface, 40000))
        wait_until(lambda: len(subscription.providers) == 51)


def test_ephemeral_left_by_an_old_session_is_replaced_not_kept(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    url = provider(interface)
    path = f"/dubbo/{interface}/providers/{url.encoded()}"
    old = KazooClient(zookeeper.address, timeout=4)
    old.start(timeout=10)
    old.create(path, b"", ephemeral=True, makepath=True)
    with _registry(zookeeper.address, metrics) as registry:
        registry.register(url)
        stat = observer.exists(path)
        assert stat is not None
        assert stat.ephemeralOwner == registry.session_id
        old.stop()  # the old session ends: ZooKeeper deletes only its own nodes
        old.close()
        time.sleep(0.3)
        assert observer.exists(path) is not None
        assert registry.registered


def test_stale_node_among_many_is_replaced_when_restoring(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    urls = [provider(interface, 21000 + i) for i in range(20)]
    stale = f"/dubbo/{interface}/providers/{urls[7].encoded()}"
    old = KazooClient(zookeeper.address, timeout=4)
    old.start(timeout=10)
    old.create(stale, b"", ephemeral=True, makepath=True)
    registry = ZooKeeperRegistry(zookeeper.address, session_timeout=4.0, metrics=metrics)
    for url in urls:  # asked for before connecting: all restored in one go on connect
        registry.register(url)
    with registry.start():
        wait_until(lambda: registry.registered)
        owners = {observer.exists(f"/dubbo/{interface}/providers/{u.encoded()}") for u in urls}
        assert {stat.ephemeralOwner for stat in owners if stat} == {registry.session_id}
        old.stop()
        old.close()
        time.sleep(0.3)
        assert len(leaves(observer, interface)) == 20


def test_zookeeper_restart_restores_registrations_and_subscriptions(
    managed_zookeeper: ZooKeeperServer, interface: str, metrics: CollectorRegistry
) -> None:
    url = provider(interface)
    registry = ZooKeeperRegistry(managed_zookeeper.hosts, session_timeout=2.0, metrics=metrics)
    with registry.start():
        registry.register(url)
        subscription = registry.subscribe(interface)
        wait_until(lambda: len(subscription.providers) == 1)
        managed_zookeeper.stop()
        wait_until(lambda: not registry.connected)
        assert not registry.registered
        assert _sample(metrics, "paas_registry_connected") == 0
        time.sleep(2.5)  # longer than the session timeout
        managed_zookeeper.start()
        wait_until(lambda: registry.registered, timeout=30)
        observer = KazooClient(managed_zookeeper.hosts)
        observer.start(timeout=10)
        try:
            wait_until(lambda: leaves(observer, interface) == [url.encoded()], timeout=10)
            stat = observer.exists(f"/dubbo/{interface}/providers/{url.encoded()}")
            assert stat is not None
            assert stat.ephemeralOwner == registry.session_id
        finally:
            observer.stop()
            observer.close()
        assert subscription.addresses == ("127.0.0.1:20880",)
        assert _sample(metrics, "paas_registry_connected") == 1


def test_digest_auth_protects_nodes_and_wrong_credentials_get_a_clear_error(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    # a root of its own: the parents it creates are readable by this identity only
    secured = {"root": f"secured-{interface}", "username": "dubbo"}
    with _registry(zookeeper.address, metrics, password="right", **secured) as owner:
        owner.register(provider(interface, 1))
        with pytest.raises(NoAuthError):
            observer.get_children(f"/secured-{interface}/{interface}/providers")
        with _registry(
            zookeeper.address, CollectorRegistry(), password="s3cr3t-guess", **secured
        ) as intruder:
            with pytest.raises(RegistryAuthError) as error:
                intruder.register(provider(interface, 2))
            assert "digest user 'dubbo'" in str(error.value)
            assert f"/{interface}/providers" in str(error.value)
            assert "s3cr3t-guess" not in str(error.value)
            assert not intruder.registered
        with _registry(
            zookeeper.address, CollectorRegistry(), password="right", **secured
        ) as friend:
            friend.register(provider(interface, 3))
            assert len(friend.subscribe(interface).providers) == 2


def test_unreachable_zookeeper_fails_after_a_bounded_wait(metrics: CollectorRegistry) -> None:
    address = f"127.0.0.1:{free_port()}"
    registry = ZooKeeperRegistry(address, connect_timeout=1.0, metrics=metrics)
    started = time.monotonic()
    with pytest.raises(RegistryConnectionError, match=r"within 1 s") as error:
        registry.start()
    assert time.monotonic() - started < 3
    assert address in str(error.value)


def test_unreachable_zookeeper_with_background_retry_registers_once_it_is_up(
    metrics: CollectorRegistry, interface: str, tmp_path: Any
) -> None:
    server = ZooKeeperServer(tmp_path)
    registry = ZooKeeperRegistry(
        server.hosts, connect_timeout=0.5, retry_in_background=True, metrics=metrics
    ).start()
    try:
        registry.register(provider(interface))
        assert not registry.connected
        assert not registry.registered
        server.start()
        wait_until(lambda: registry.registered, timeout=30)
    finally:
        registry.close()
        server.stop()


def test_application_level_registration_writes_instance_metadata_and_mapping(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    app = f"py-app-{interface.rsplit('.', 1)[-1].lower()}"
    url = provider(interface, 20990)
    with _registry(zookeeper.address, metrics) as registry:
        instance = ApplicationInstance(registry, app, "127.0.0.1", 20990, [url])
        instance.register()
        raw, stat = observer.get(f"/services/{app}/127.0.0.1:20990")
        assert stat.ephemeralOwner == registry.session_id
        document = json.loads(raw)
        assert document["payload"]["@class"] == (
            "org.apache.dubbo.registry.zookeeper.ZookeeperInstance"
        )
        assert document["address"] == "127.0.0.1"
        assert document["port"] == 20990
        # Java writes the instance id in the payload and the registration time for warm-up
        assert document["payload"]["id"] == "127.0.0.1:20990"
        metadata = document["payload"]["metadata"]
        assert metadata["timestamp"] == str(instance.registration_time_ms)
        assert metadata["dubbo.metadata.storage-type"] == "remote"
        revision = metadata["dubbo.metadata.revision"]
        stored = json.loads(observer.get(f"/dubbo/metadata/{app}/{revision}")[0])
        assert stored["services"][f"{interface}:dubbo"]["port"] == 20990
        assert observer.get(f"/dubbo/mapping/{interface}")[0].decode() == app
        # a second app providing the interface is appended to the mapping
        ApplicationInstance(registry, "other-app", "127.0.0.1", 20991, [url]).register()
        assert observer.get(f"/dubbo/mapping/{interface}")[0].decode() == f"{app},other-app"
        old_session = _expire(registry, zookeeper.address)
        wait_until(lambda: registry.session_id not in (None, old_session))
        wait_until(lambda: observer.exists(f"/services/{app}/127.0.0.1:20990") is not None)
    assert observer.exists(f"/services/{app}/127.0.0.1:20990") is None


def test_a_blocking_listener_never_stalls_watches_or_the_session(
    zookeeper: Any, interface: str, metrics: CollectorRegistry
) -> None:
    release = threading.Event()
    calls: list[int] = []

    def slow(providers: tuple[DubboURL, ...]) -> None:
        calls.append(len(providers))
        release.wait(10)

    with _registry(zookeeper.address, metrics) as registry:
        subscription = registry.subscribe(interface, listener=slow)
        registry.register(provider(interface, 1))
        wait_until(lambda: calls == [1])
        # the listener is stuck; the list, new registrations and session restore go on
        registry.register(provider(interface, 2))
        wait_until(lambda: len(subscription.providers) == 2)
        old_session = _expire(registry, zookeeper.address)
        wait_until(lambda: registry.session_id not in (None, old_session))
        wait_until(lambda: registry.registered)
        assert calls == [1]
        release.set()
        wait_until(lambda: calls[-1] == 2)


def test_a_forked_child_starts_its_own_session_and_leaves_the_parents_alone(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    url = provider(interface)
    with _registry(zookeeper.address, metrics) as registry:
        registry.register(url)
        parent_session = registry.session_id
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report and leave without running pytest's teardown
            status = 1
            try:
                assert not registry.connected
                registry.unregister(url)  # not connected: forgets it, touches no node
                registry.register(provider(interface, 20881))
                registry.start()
                wait_until(lambda: registry.registered)
                os.write(write, f"{registry.session_id}".encode())
                registry.close()
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        reported = os.read(read, 100).decode()
        os.close(read)
        assert os.waitstatus_to_exitcode(status) == 0
        assert reported.isdigit()
        assert int(reported) != parent_session
        # the parent's session and registration survived the child's exit
        assert registry.connected
        assert registry.session_id == parent_session
        wait_until(lambda: leaves(observer, interface) == [url.encoded()])
        stat = observer.exists(f"/dubbo/{interface}/providers/{url.encoded()}")
        assert stat is not None
        assert stat.ephemeralOwner == parent_session


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ("127.0.0.1:abc", "bad ZooKeeper connect string"),
        ("127.0.0.1:99999", "bad ZooKeeper connect string"),
        ("  ", "connect string is empty"),
    ],
)
def test_a_bad_connect_string_is_named_in_the_error(
    hosts: str, message: str, metrics: CollectorRegistry
) -> None:
    with pytest.raises(RegistryError, match=message) as error:
        ZooKeeperRegistry(hosts, connect_timeout=0.5, metrics=metrics).start()
    assert hosts.strip() in str(error.value)


def test_digest_auth_needs_both_username_and_password(metrics: CollectorRegistry) -> None:
    with pytest.raises(RegistryError, match="both a username and a password"):
        ZooKeeperRegistry("127.0.0.1:2181", username="dubbo", metrics=metrics)


def test_dubbo_registry_address_configures_hosts_root_auth_and_timeouts(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    registry = ZooKeeperRegistry.from_address(
        f"zookeeper://{zookeeper.address}?backup=127.0.0.1:1&group=addr-{interface}"
        "&session=3000&timeout=5000",
        metrics=metrics,
    )
    assert registry.hosts == f"{zookeeper.address},127.0.0.1:1"
    assert registry.session_timeout == 3.0
    assert registry.connect_timeout == 5.0
    with registry.start():
        registry.register(provider(interface))
        assert len(observer.get_children(f"/addr-{interface}/{interface}/providers")) == 1
    secured = ZooKeeperRegistry.from_address("zookeeper://dubbo:pa55@127.0.0.1:2181")
    assert secured.username == "dubbo"
    with pytest.raises(RegistryError, match="not a number") as error:
        ZooKeeperRegistry.from_address("zookeeper://dubbo:pa55@127.0.0.1:2181?session=soon")
    assert "pa55" not in str(error.value)
    assert "dubbo:***@127.0.0.1:2181" in str(error.value)


def test_explicit_acls_let_anonymous_readers_see_what_only_the_owner_may_change(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    acl = [make_digest_acl("ops", "pa55", all=True), make_acl("world", "anyone", read=True)]
    root = f"acl-{interface}"
    with _registry(
        zookeeper.address, metrics, root=root, username="ops", password="pa55", acl=acl
    ) as registry:
        registry.register(provider(interface))
        assert len(observer.get_children(f"/{root}/{interface}/providers")) == 1
        with pytest.raises(NoAuthError):
            observer.create(f"/{root}/{interface}/providers/intruder", ephemeral=True)


def test_an_unregister_made_while_zookeeper_is_unreachable_is_retried_on_reconnect(
    managed_zookeeper: ZooKeeperServer, interface: str, metrics: CollectorRegistry
) -> None:
    # a session that outlives the outage: the leaf is not expired, only the retry removes it
    url = provider(interface)
    registry = ZooKeeperRegistry(managed_zookeeper.hosts, session_timeout=20.0, metrics=metrics)
    with registry.start():
        registry.register(url)
        session = registry.session_id
        managed_zookeeper.stop()
        wait_until(lambda: not registry.connected)
        registry.unregister(url)  # lost in the old code: the node stayed for the whole session
        managed_zookeeper.start()
        wait_until(lambda: registry.connected, timeout=30)
        assert registry.session_id == session  # resumed, so the ephemeral leaf survived
        observer = KazooClient(managed_zookeeper.hosts)
        observer.start(timeout=10)
        try:
            wait_until(lambda: leaves(observer, interface) == [], timeout=10)
        finally:
            observer.stop()
            observer.close()


def test_close_leaves_static_registrations_as_dubbo_does(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    dynamic = provider(interface, 20881)
    static = provider(interface, 20882, dynamic=False)
    with _registry(zookeeper.address, metrics) as registry:
        registry.register(dynamic)
        registry.register(static)
        assert sorted(leaves(observer, interface)) == sorted([dynamic.encoded(), static.encoded()])
    assert leaves(observer, interface) == [static.encoded()]
    observer.delete(f"/dubbo/{interface}/providers/{static.encoded()}")


def test_watches_asked_for_while_zookeeper_is_down_are_armed_once_it_is_up(
    metrics: CollectorRegistry, tmp_path: Any
) -> None:
    server = ZooKeeperServer(tmp_path)
    registry = ZooKeeperRegistry(
        server.hosts, connect_timeout=0.5, retry_in_background=True, metrics=metrics
    ).start()
    data: list[bytes | None] = []
    children: list[list[str]] = []
    closed: list[bytes | None] = []
    try:
        registry.watch_data("/dubbo/config/rule", data.append)  # no RegistryConnectionError
        registry.watch_children("/services/app", children.append)
        registry.watch_data("/dubbo/config/rule", closed.append).close()
        server.start()
        wait_until(lambda: data == [None] and children == [[]], timeout=30)
        client = KazooClient(server.hosts)
        client.start(timeout=10)
        try:
            client.create("/dubbo/config/rule", b"v1", makepath=True)
            client.create("/services/app/10.0.0.5:20880", b"{}")
            wait_until(lambda: data == [None, b"v1"] and children == [[], ["10.0.0.5:20880"]])
        finally:
            client.stop()
            client.close()
        assert closed == []
    finally:
        registry.close()
        server.stop()
