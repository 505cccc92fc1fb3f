"""Calls keep succeeding while providers die, stop, are disabled by Dubbo Admin, or while the
consumer's own ZooKeeper session expires: Python and Java consumers, real ZooKeeper."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl
from prometheus_client import CollectorRegistry

from examples.order_service.java_dubbo import java_command
from examples.order_service.proto import order_pb2, order_pb2_grpc
from paas_sdk.errors import RegistryAuthError
from paas_sdk.registry import ZooKeeperRegistry
from paas_sdk.rpc import DubboReference, NoProviderCallError, TripleServer
from paas_sdk.testing.servers import ZooKeeperServer, free_port
from tests.rpc.conftest import INTERFACE, ORDER_SERVICE, Orders

ROOT = Path(__file__).resolve().parents[2]


class ProviderProcess:
    def __init__(self, zookeeper: str, name: str, drain: float = 0.0) -> None:
        self.port = free_port()
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.rpc.provider_process", zookeeper, str(self.port), name,
             str(drain)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "READY":
            self.process.kill()
            pytest.fail(f"provider did not start: {line!r} {self.process.stderr.read()[-2000:]}")  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture
def two_providers(zookeeper: Any) -> Iterator[list[ProviderProcess]]:
    # half the platform's default drain (10 s): time for a Java consumer to drop a provider that
    # deregistered. With the provider killed by the test before still registered (until its
    # ZooKeeper session expires) that took it 2.5 to 3 s here, against 0.3 s without it.
    providers = [ProviderProcess(zookeeper.address, n, drain=5.0) for n in ("p1", "p2")]
    yield providers
    for provider in providers:
        provider.stop()


def _stream(stub: Any, stop: threading.Event, results: Counter[str]) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        try:
            results[stub.GetOrder(order_pb2.GetOrderRequest(id=i), timeout=3).served_by] += 1
        except Exception as exc:  # counted, reported by the test
            results[f"failed: {exc}"] += 1
        time.sleep(0.002)


def test_kill_9_of_one_provider_fails_no_retryable_call(
    registry: ZooKeeperRegistry, two_providers: list[ProviderProcess], metrics: CollectorRegistry
) -> None:
    with DubboReference(
        registry, ORDER_SERVICE, application="py-web", retryable=["GetOrder"], metrics=metrics
    ) as orders:
        stub = orders.stub(order_pb2_grpc.OrderServiceStub)
        _wait(lambda: len(orders.providers) == 2)
        results: Counter[str] = Counter()
        stop = threading.Event()
        caller = threading.Thread(target=_stream, args=(stub, stop, results))
        caller.start()
        time.sleep(1.0)
        os.kill(two_providers[0].process.pid, signal.SIGKILL)  # its ZooKeeper node stays a while
        killed_at = sum(results.values())
        time.sleep(2.0)
        stop.set()
        caller.join(10)
    failed = {k: v for k, v in results.items() if k.startswith("failed")}
    assert failed == {}, failed
    assert results["p1"] > 0
    assert results["p2"] > 0
    assert sum(results.values()) > killed_at + 20  # the stream went on after the kill


def test_sigterm_of_one_provider_fails_no_call_of_a_java_consumer(
    zookeeper: Any, two_providers: list[ProviderProcess], interop_classpath: str
) -> None:
    java = subprocess.Popen(
        java_command(interop_classpath, "consume", zookeeper.address, "-", "-", "700", "10"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert java.stdout is not None
    lines: list[str] = []
    stopped = two_providers[0].process
    for line in java.stdout:
        lines.append(line.strip())
        if len(lines) == 60:  # calling both for a while: now stop one the platform's way
            stopped.send_signal(signal.SIGTERM)
    assert java.wait(60) == 0
    assert stopped.wait(30) == 0
    answers = Counter(line.split()[2] for line in lines if line.startswith("OK "))
    failures = [(n, line) for n, line in enumerate(lines) if line.startswith("FAIL")]
    # the calls outlast p1's drain: it stopped while the consumer still called
    assert lines[-1].startswith("DONE ok=700 failed=0"), (failures, lines[-5:])
    assert answers["p1"] > 0, answers
    assert answers["p2"] > answers["p1"], answers  # p1 left some time after the 60th call


def test_an_override_written_as_dubbo_admin_does_takes_a_provider_out_within_a_second(
    zookeeper: Any, registry: ZooKeeperRegistry, metrics: CollectorRegistry
) -> None:
    servers = _servers_a_and_b(registry, metrics, group=None)
    admin = KazooClient(zookeeper.address)
    admin.start(timeout=10)
    path = f"/dubbo/config/dubbo/{INTERFACE}::.configurators"
    rule = (
        "configVersion: v3.0\nscope: service\nkey: " + INTERFACE + "\nenabled: true\n"
        "configs:\n- addresses: ['" + servers[0].address + "']\n  side: provider\n"
        "  parameters:\n    disabled: true\n"
    )
    try:
        with DubboReference(registry, ORDER_SERVICE, application="py-web", metrics=metrics) as ref:
            stub = ref.stub(order_pb2_grpc.OrderServiceStub)
            _wait(lambda: len(ref.providers) == 2)
            admin.create(path, rule.encode(), makepath=True)
            written = time.monotonic()
            _wait(lambda: [u.address for u in ref.providers] == [servers[1].address], 1.0)
            took = time.monotonic() - written
            seen = Counter(
                stub.GetOrder(order_pb2.GetOrderRequest(id=1)).served_by for _ in range(50)
            )
            assert seen == Counter({"b": 50})
            admin.delete(path)
            _wait(lambda: len(ref.providers) == 2, 1.0)
            seen = Counter(
                stub.GetOrder(order_pb2.GetOrderRequest(id=1)).served_by for _ in range(200)
            )
            assert set(seen) == {"a", "b"}
            assert took < 1.0
    finally:
        admin.stop()
        admin.close()
        for server in servers:
            server.stop(grace=1)


def test_after_the_consumers_session_expires_the_list_is_restored_and_calls_go_on(
    zookeeper: Any, metrics: CollectorRegistry
) -> None:
    consumer_registry = ZooKeeperRegistry(zookeeper.address, session_timeout=4.0, metrics=metrics)
    provider_registry = ZooKeeperRegistry(zookeeper.address, metrics=metrics)
    with consumer_registry, provider_registry:
        server = TripleServer(
            application="py-orders", port=free_port(), host="127.0.0.1",
            registry=provider_registry, metrics=metrics,
        )  # fmt: skip
        server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders("only"))
        server.start()
        try:
            with DubboReference(
                consumer_registry, ORDER_SERVICE, application="py-web", metrics=metrics
            ) as ref:
                stub = ref.stub(order_pb2_grpc.OrderServiceStub)
                assert stub.GetOrder(order_pb2.GetOrderRequest(id=1)).served_by == "only"
                old = consumer_registry.session_id
                client = consumer_registry._client
                assert client is not None
                twin = KazooClient(zookeeper.address, client_id=client.client_id)
                twin.start(timeout=10)
                twin.stop()
                twin.close()
                _wait(lambda: consumer_registry.session_id not in (None, old), 20)
                _wait(lambda: consumer_registry.registered, 10)
                assert [u.address for u in ref.providers] == [server.address]
                assert stub.GetOrder(order_pb2.GetOrderRequest(id=2)).served_by == "only"
        finally:
            server.stop(grace=1)


def _servers_a_and_b(
    registry: ZooKeeperRegistry, metrics: CollectorRegistry, group: str | None
) -> list[TripleServer]:
    servers = []
    for name in ("a", "b"):
        server = TripleServer(
            application="py-orders", port=free_port(), host="127.0.0.1", registry=registry,
            group=group, metrics=metrics,
        )  # fmt: skip
        server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders(name))
        servers.append(server.start())
    return servers


def _wait(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.005)


def test_a_condition_router_written_as_dubbo_admin_does_steers_a_method(
    zookeeper: Any, registry: ZooKeeperRegistry, metrics: CollectorRegistry
) -> None:
    servers = _servers_a_and_b(registry, metrics, group="routed")
    admin = KazooClient(zookeeper.address)
    admin.start(timeout=10)
    path = f"/dubbo/config/dubbo/{INTERFACE}::routed.condition-router"
    rule = (
        "configVersion: v3.0\nscope: service\nforce: false\nruntime: true\nenabled: true\n"
        f"key: {INTERFACE}\nconditions:\n"
        f"- method = getOrder => port = {servers[1].port}\n"
        "- method = placeOrder => host = 10.9.9.9\n"  # matches nobody: not forced, so ignored
    )
    try:
        with DubboReference(
            registry, ORDER_SERVICE, application="py-web", group="routed", metrics=metrics
        ) as ref:
            stub = ref.stub(order_pb2_grpc.OrderServiceStub)
            _wait(lambda: len(ref.providers) == 2)
            admin.create(path, rule.encode(), makepath=True)
            get = order_pb2.GetOrderRequest(id=1)
            _wait(lambda: stub.GetOrder(get).served_by == "b" and ref._routers != (), 1.0)
            assert Counter(stub.GetOrder(get).served_by for _ in range(50)) == Counter({"b": 50})
            place = order_pb2.PlaceOrderRequest(items=["tea"])
            assert {stub.PlaceOrder(place).served_by for _ in range(50)} == {"a", "b"}
            forced = rule.replace("force: false", "force: true")
            admin.set(path, forced.encode())
            _wait(lambda: ref._routers != () and ref._routers[0].force, 1.0)
            with pytest.raises(NoProviderCallError):
                stub.PlaceOrder(place, timeout=0.2)
            admin.delete(path)
            _wait(lambda: ref._routers == (), 1.0)
            assert {stub.GetOrder(get).served_by for _ in range(50)} == {"a", "b"}
    finally:
        admin.stop()
        admin.close()
        for server in servers:
            server.stop(grace=1)


def test_a_reference_started_while_zookeeper_is_down_finds_its_providers_once_it_is_up(
    metrics: CollectorRegistry, tmp_path: Path
) -> None:
    """As the platform starts it: the registry retries in the background, the reference starts
    at once and arms its watches (mapping, overrides) when ZooKeeper comes up."""
    server = ZooKeeperServer(tmp_path)
    consumer_registry = ZooKeeperRegistry(
        server.hosts, connect_timeout=0.5, retry_in_background=True, metrics=metrics
    ).start()
    ref = DubboReference(
        consumer_registry, ORDER_SERVICE, application="py-web", group="late", metrics=metrics
    ).start()
    servers: list[TripleServer] = []
    provider_registry = ZooKeeperRegistry(server.hosts, metrics=metrics)
    try:
        assert not consumer_registry.connected
        assert not ref.providers
        server.start()
        provider_registry.start()
        for name, mode in (("interface", "interface"), ("instance", "instance")):
            provider = TripleServer(
                application=f"py-orders-{name}", port=free_port(), host="127.0.0.1",
                registry=provider_registry, group="late", metrics=metrics, register_mode=mode,
            )  # fmt: skip
            provider.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders(name))
            servers.append(provider.start())
        # the instance-only provider is found through the mapping watch armed on connect
        _wait(lambda: len(ref.providers) == 2, 30)
        stub = ref.stub(order_pb2_grpc.OrderServiceStub)
        seen = Counter(stub.GetOrder(order_pb2.GetOrderRequest(id=1)).served_by for _ in range(40))
        assert set(seen) == {"interface", "instance"}
        # and the override watch is armed too: Dubbo Admin disables one provider
        rule = (
            f"configVersion: v3.0\nscope: service\nkey: {INTERFACE}\nenabled: true\n"
            f"configs:\n- addresses: ['{servers[0].address}']\n  side: provider\n"
            "  parameters:\n    disabled: true\n"
        )
        client = provider_registry._client
        assert client is not None
        client.create(
            f"/dubbo/config/dubbo/{INTERFACE}::late.configurators", rule.encode(), makepath=True
        )
        _wait(lambda: [p.address for p in ref.providers] == [servers[1].address], 10)
    finally:
        ref.close()
        for provider in servers:
            provider.stop(grace=1)
        provider_registry.close()
        consumer_registry.close()
        server.stop()


def test_a_failed_start_releases_what_it_opened(
    zookeeper: Any, registry: ZooKeeperRegistry, metrics: CollectorRegistry
) -> None:
    # the override rules node readable by its writer alone: the reference's watch is refused
    admin = KazooClient(zookeeper.address, auth_data=[("digest", "admin:secret")])
    admin.start(timeout=10)
    path = f"/dubbo/config/dubbo/{INTERFACE}::refused.configurators"
    try:
        admin.ensure_path(path.rsplit("/", 1)[0])  # the parents open, as everyone's are
        admin.create(path, b"", acl=[make_digest_acl("admin", "secret", all=True)])
        ref = DubboReference(
            registry, ORDER_SERVICE, application="py-web", group="refused", metrics=metrics
        )
        with pytest.raises(RegistryAuthError):
            ref.start()
        assert ref._subscription is None
        assert ref._applications is None
        assert [s for s in registry._subscriptions if s.url.get("group") == "refused"] == []
        assert not any(u.get("group") == "refused" for u in registry.registrations)
    finally:
        admin.delete(path)
        admin.stop()
        admin.close()


def test_an_application_whose_instances_cannot_be_watched_does_not_hide_the_others(
    zookeeper: Any, registry: ZooKeeperRegistry, metrics: CollectorRegistry
) -> None:
    """The mapping names two applications providing the interface; ZooKeeper refuses to list the
    first one's instances. The second is found all the same, and the first once the mapping
    changes after its ACL is fixed."""
    servers = []
    for name in ("locked", "open"):
        server = TripleServer(
            application=f"py-{name}", port=free_port(), host="127.0.0.1", registry=registry,
            group="acl", metrics=metrics, register_mode="instance",
        )  # fmt: skip
        server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders(name))
        servers.append(server.start())
    admin = KazooClient(zookeeper.address, auth_data=[("digest", "admin:secret")])
    admin.start(timeout=10)
    locked = "/services/py-locked"
    mapping = f"/dubbo/mapping/{INTERFACE}"
    try:
        admin.set_acls(locked, [make_digest_acl("admin", "secret", all=True)])
        apps = admin.get(mapping)[0].decode().split(",")
        assert apps.index("py-locked") < apps.index("py-open")
        with DubboReference(
            registry, ORDER_SERVICE, application="py-web", group="acl", metrics=metrics
        ) as ref:
            _wait(lambda: [u.address for u in ref.providers] == [servers[1].address])
            admin.set_acls(locked, OPEN_ACL_UNSAFE)
            admin.set(mapping, admin.get(mapping)[0])  # as a provider's mapping update does
            _wait(lambda: len(ref.providers) == 2)
    finally:
        with contextlib.suppress(Exception):
            admin.set_acls(locked, OPEN_ACL_UNSAFE)
        admin.stop()
        admin.close()
        for server in servers:
            server.stop(grace=1)
