"""Java Dubbo 3.3 and Python, both ways over Triple, through a real ZooKeeper."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry

from examples.order_service.java_dubbo import JavaProvider, run_java_consumer
from examples.order_service.proto import order_pb2, order_pb2_grpc
from paas_sdk.registry import DubboURL, ZooKeeperRegistry
from paas_sdk.rpc import DubboReference, TripleServer
from paas_sdk.testing.servers import free_port
from tests.rpc.conftest import INTERFACE, ORDER_SERVICE, Orders


def _server(registry: ZooKeeperRegistry, metrics: CollectorRegistry, name: str) -> TripleServer:
    server = TripleServer(
        application="py-orders",
        port=free_port(),
        host="127.0.0.1",
        registry=registry,
        metrics=metrics,
    )
    server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders(name))
    return server.start()


def test_a_java_consumer_calls_two_python_providers_through_zookeeper(
    zookeeper: Any, registry: ZooKeeperRegistry, metrics: CollectorRegistry, interop_classpath: str
) -> None:
    first, second = _server(registry, metrics, "py-a"), _server(registry, metrics, "py-b")
    try:
        lines = run_java_consumer(interop_classpath, zookeeper.address, calls=40)
    finally:
        first.stop(grace=1)
        second.stop(grace=1)
    answers = [line.split() for line in lines if line.startswith("OK ")]
    assert len(answers) == 40, lines
    assert [int(a[1]) for a in answers] == list(range(1, 41))
    spread = Counter(a[2] for a in answers)
    assert set(spread) == {"py-a", "py-b"}, spread
    assert "PLACED 1 tea" in lines
    assert lines[-1].startswith("DONE ok=40 failed=0")
    served = metrics.get_sample_value(
        "rpc_server_duration_seconds_count",
        {"service": INTERFACE, "method": "GetOrder", "status": "ok"},
    )
    assert served == 40


def test_a_python_consumer_calls_a_java_provider_and_never_another_group(
    zookeeper: Any, registry: ZooKeeperRegistry, metrics: CollectorRegistry, interop_classpath: str
) -> None:
    java = JavaProvider(
        interop_classpath, zookeeper.address, free_port(), "java-g1", group="g1", version="1.0"
    )
    python = TripleServer(
        application="py-orders",
        port=free_port(),
        host="127.0.0.1",
        registry=registry,
        group="g2",
        version="1.0",
        metrics=metrics,
    )
    python.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders("py-g2"))
    python.start()
    try:
        with (
            DubboReference(
                registry,
                ORDER_SERVICE,
                application="py-web",
                group="g1",
                version="1.0",
                metrics=metrics,
            ) as g1,
            DubboReference(
                registry,
                ORDER_SERVICE,
                application="py-web",
                group="g2",
                version="1.0",
                metrics=metrics,
            ) as g2,
        ):
            to_java = g1.stub(order_pb2_grpc.OrderServiceStub)
            to_python = g2.stub(order_pb2_grpc.OrderServiceStub)
            for i in range(1, 21):
                answer = to_java.GetOrder(order_pb2.GetOrderRequest(id=i), timeout=5)
                assert (answer.id, answer.served_by) == (i, "java-g1")
                assert to_python.GetOrder(order_pb2.GetOrderRequest(id=i)).served_by == "py-g2"
            placed = to_java.PlaceOrder(order_pb2.PlaceOrderRequest(items=["tea", "cake"]))
            assert list(placed.items) == ["tea", "cake"]
            assert [u.port for u in g1.providers] == [java.port]
            _registered_as_java_does(g1.providers[0], python.urls[0], observer_of(registry))
    finally:
        java.stop()
        python.stop(grace=1)
    calls = metrics.get_sample_value(
        "rpc_client_duration_seconds_count",
        {"service": INTERFACE, "method": "GetOrder", "status": "ok"},
    )
    assert calls == 40


def observer_of(registry: ZooKeeperRegistry) -> Any:
    client = registry._client
    assert client is not None
    return client


def _registered_as_java_does(java: DubboURL, python: DubboURL, client: Any) -> None:
    """Our leaf and application instance, side by side with those Dubbo 3.3.5 Java wrote."""
    assert python.protocol == java.protocol == "tri"
    assert python.path == java.path == "paas.example.order.v1.OrderService"
    assert set(python.parameters) == set(java.parameters)
    for key in set(java.parameters) - {"application", "group", "timestamp"}:
        assert python.get(key) == java.get(key), key
    java_instance = json.loads(client.get(f"/services/java-order-provider/{java.address}")[0])
    ours = json.loads(client.get(f"/services/py-orders/{python.address}")[0])
    assert set(ours) == set(java_instance)
    assert ours["payload"]["@class"] == java_instance["payload"]["@class"]
    assert ours["payload"]["id"] == python.address  # as Java's is its ip:port
    assert java_instance["payload"]["id"] == java.address
    for key in ("dubbo.endpoints", "dubbo.metadata.revision", "timestamp"):
        assert key in ours["payload"]["metadata"], key
        assert key in java_instance["payload"]["metadata"], key
    assert json.loads(ours["payload"]["metadata"]["dubbo.endpoints"]) == [
        {"port": python.port, "protocol": "tri"}
    ]


def test_a_python_consumer_finds_providers_registered_only_at_the_application_level(
    zookeeper: Any, registry: ZooKeeperRegistry, metrics: CollectorRegistry, interop_classpath: str
) -> None:
    # Dubbo 3's register-mode=instance: no interface-level leaf, only the instance, the mapping
    # and (remote) metadata
    java = JavaProvider(
        interop_classpath, zookeeper.address, free_port(), "java-app", group="app-only",
        properties=[
            "dubbo.application.register-mode=instance",
            "dubbo.application.metadata-type=remote",
        ],
    )  # fmt: skip
    python = TripleServer(
        application="py-orders-app", port=free_port(), host="127.0.0.1", registry=registry,
        group="app-only", metrics=metrics, register_mode="instance",
    )  # fmt: skip
    python.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders("py-app"))
    python.start()
    try:
        assert registry.subscribe(INTERFACE, group="app-only").providers == ()
        with DubboReference(
            registry, ORDER_SERVICE, application="py-web", group="app-only", metrics=metrics
        ) as reference:
            stub = reference.stub(order_pb2_grpc.OrderServiceStub)
            deadline = time.monotonic() + 10
            while len(reference.providers) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert sorted(u.port for u in reference.providers) == sorted([java.port, python.port])
            request = order_pb2.GetOrderRequest(id=5)
            seen = Counter(stub.GetOrder(request).served_by for _ in range(60))
    finally:
        java.stop()
        python.stop(grace=1)
    assert set(seen) == {"java-app", "py-app"}, seen
