"""`paas_sdk.init()`: embedded defaults with nothing configured, everything wired against the
real servers, readiness that follows config and registry, and shutdown in order."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from confluent_kafka import Consumer
from kazoo.client import KazooClient
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

import paas_sdk
from examples.order_service.proto import order_pb2_grpc
from examples.order_service.settings import DUBBO_INTERFACE
from paas_sdk.context import ServiceContext
from paas_sdk.errors import ConfigError
from paas_sdk.platform import PlatformSettings
from paas_sdk.testing.apollo import ApolloDouble
from paas_sdk.testing.pytest_plugin import Endpoint
from paas_sdk.testing.servers import ZooKeeperServer, free_port


class Greeting(BaseModel):
    greeting: str = "hello"


def wait_until(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("APOLLO_META", "APOLLO_CONFIG_SERVICE", "PAAS_ZOOKEEPER", "PAAS_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "application.properties").write_text("greeting=from a file\n")
    monkeypatch.setenv("PAAS_CONFIG_DIR", str(config_dir))
    return config_dir


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def start(settings: PlatformSettings, **options: object) -> paas_sdk.Platform:
    return paas_sdk.init(
        context=ServiceContext(app_id=f"svc-{uuid.uuid4().hex[:6]}", pod_ip="127.0.0.1"),
        settings=settings,
        metrics_registry=CollectorRegistry(),
        install_signal_handlers=False,
        **options,  # type: ignore[arg-type]
    )


def test_with_nothing_configured_it_runs_on_embedded_defaults(
    clean_env: Path, root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = start(PlatformSettings(metrics_port=0, drain_seconds=0))
    try:
        assert platform.registry is None
        assert platform.config is not None
        assert platform.config.loaded
        assert platform.typed_settings(Greeting).current.greeting == "from a file"
        base = f"http://127.0.0.1:{platform.metrics_server.port}"  # type: ignore[union-attr]
        assert httpx.get(base + "/readyz").status_code == 200
        metrics = httpx.get(base + "/metrics").text
        assert f'paas_service_info{{app="{platform.context.app_id}"' in metrics
        logging.getLogger("svc").info("started on defaults")
        line = capsys.readouterr().out.strip().splitlines()[-1]
        document = orjson.loads(line)
        assert document["message"] == "started on defaults"
        assert document["service"]["name"] == platform.context.app_id
    finally:
        platform.shutdown()


def test_init_is_idempotent_until_shutdown(clean_env: Path, root_logging: None) -> None:
    first = start(PlatformSettings(metrics_port=-1, drain_seconds=0))
    try:
        assert start(PlatformSettings(metrics_port=-1, drain_seconds=0)) is first
    finally:
        first.shutdown()
    second = start(PlatformSettings(metrics_port=-1, drain_seconds=0))
    second.shutdown()
    assert second is not first


def test_a_malformed_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAAS_METRICS_PORT", "ninety")
    with pytest.raises(ConfigError) as caught:
        PlatformSettings.from_env()
    assert caught.value.where == "PAAS_METRICS_PORT"
    assert "'ninety'" in str(caught.value)


def test_with_everything_configured_it_uses_the_real_servers(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    root_logging: None,
    zookeeper: Endpoint,
    kafka: Endpoint,
) -> None:
    app_id = f"orders-{uuid.uuid4().hex[:6]}"
    topic = f"logs-{app_id}"
    with ApolloDouble(hold_seconds=1.0) as apollo:
        apollo.publish(app_id, "application", {"greeting": "from apollo"})
        monkeypatch.setenv("APOLLO_CONFIG_SERVICE", apollo.url)
        monkeypatch.setenv("APOLLO_CACHE_DIR", str(tmp_path / "cache"))
        settings = PlatformSettings(
            zookeeper=zookeeper.address,
            kafka_bootstrap=kafka.address,
            log_topic=topic,
            metrics_port=0,
            drain_seconds=0.5,
        )
        platform = paas_sdk.init(
            context=ServiceContext(app_id=app_id, pod_ip="127.0.0.1"),
            settings=settings,
            metrics_registry=CollectorRegistry(),
            install_signal_handlers=False,
        )
        zk = KazooClient(hosts=zookeeper.address)
        zk.start(timeout=15)
        try:
            greeting = platform.typed_settings(Greeting)
            assert greeting.current.greeting == "from apollo"
            triple = platform.triple_server(port=free_port())
            triple.add_service(
                order_pb2_grpc.add_OrderServiceServicer_to_server,
                order_pb2_grpc.OrderServiceServicer(),
            )
            triple.start()
            url = platform.expose(DUBBO_INTERFACE, port=triple.port)
            providers = f"/dubbo/{DUBBO_INTERFACE}/providers"
            assert wait_until(lambda: zk.exists(providers) and zk.get_children(providers))
            assert wait_until(platform.ready)
            apollo.publish(app_id, "application", {"greeting": "hot reloaded"})
            assert wait_until(lambda: greeting.current.greeting == "hot reloaded", timeout=10)
            logging.getLogger("orders").info("shipped", extra={"order.id": 7})
            platform.shutdown()
            assert zk.get_children(providers) == []
            assert not platform.ready()
        finally:
            platform.shutdown()
            zk.stop()
    assert url.parameters["application"] == app_id
    consumer = Consumer(
        {"bootstrap.servers": kafka.address, "group.id": topic, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    messages: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(b"shipped" in m for m in messages):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and message.value():
                messages.append(message.value() or b"")
    finally:
        consumer.close()
    shipped = [orjson.loads(m) for m in messages if b'"shipped"' in m]
    assert shipped
    assert shipped[0]["order"]["id"] == 7
    assert shipped[0]["service"]["name"] == app_id


def test_readiness_follows_the_registry(
    managed_zookeeper: ZooKeeperServer, clean_env: Path, root_logging: None
) -> None:
    platform = start(
        PlatformSettings(zookeeper=managed_zookeeper.hosts, metrics_port=0, drain_seconds=0)
    )
    try:
        triple = platform.triple_server(port=free_port())
        triple.add_service(
            order_pb2_grpc.add_OrderServiceServicer_to_server, order_pb2_grpc.OrderServiceServicer()
        )
        triple.start()
        readyz = f"http://127.0.0.1:{platform.metrics_server.port}/readyz"  # type: ignore[union-attr]
        assert wait_until(lambda: httpx.get(readyz).status_code == 200)
        managed_zookeeper.stop()
        assert wait_until(lambda: httpx.get(readyz).status_code == 503, timeout=20)
        assert "registry" in httpx.get(readyz).text
        managed_zookeeper.start()
        assert wait_until(lambda: httpx.get(readyz).status_code == 200, timeout=30)
    finally:
        platform.shutdown()


def test_logging_can_be_left_to_the_service(clean_env: Path, root_logging: None) -> None:
    platform = start(PlatformSettings(metrics_port=-1, drain_seconds=0), configure_logging=False)
    try:
        assert platform.logging is None
        assert not any(getattr(h, "_paas_logs", False) for h in logging.getLogger().handlers)
    finally:
        platform.shutdown()


def test_expose_refuses_what_no_triple_server_serves(clean_env: Path, root_logging: None) -> None:
    # the old behaviour registered the HTTP port as dubbo://, which every consumer call failed on
    platform = start(PlatformSettings(metrics_port=-1, drain_seconds=0))
    try:
        with pytest.raises(ConfigError, match=r"no Triple server .* serves com\.example\.Greeter"):
            platform.expose("com.example.Greeter", port=8080)
        triple = platform.triple_server(port=free_port())
        triple.add_service(
            order_pb2_grpc.add_OrderServiceServicer_to_server, order_pb2_grpc.OrderServiceServicer()
        )
        triple.start()
        assert platform.expose(DUBBO_INTERFACE, port=triple.port).protocol == "tri"
        with pytest.raises(ConfigError, match=rf"serves {DUBBO_INTERFACE} on :{triple.port}"):
            platform.expose(DUBBO_INTERFACE, port=triple.port + 1)
    finally:
        platform.shutdown()


def test_a_platform_calls_what_another_serves_and_closes_its_reference_on_shutdown(
    zookeeper: Endpoint, clean_env: Path, root_logging: None
) -> None:
    from examples.order_service.proto import order_pb2
    from tests.rpc.conftest import ORDER_SERVICE, Orders

    settings = PlatformSettings(zookeeper=zookeeper.address, metrics_port=-1, drain_seconds=0)
    provider, consumer = start(settings), start(settings)
    try:
        triple = provider.triple_server(port=free_port(), group="platforms")
        triple.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders("served"))
        triple.start()
        orders = consumer.dubbo_reference(ORDER_SERVICE, group="platforms", retryable=True)
        stub = orders.stub(order_pb2_grpc.OrderServiceStub)
        assert stub.GetOrder(order_pb2.GetOrderRequest(id=9), timeout=5).served_by == "served"
        assert orders.consumer_url.get("application") == consumer.context.app_id
    finally:
        consumer.shutdown()
        provider.shutdown()
    assert ("dubbo reference " + DUBBO_INTERFACE, "ok") in consumer.lifecycle.completed
    no_registry = start(PlatformSettings(metrics_port=-1, drain_seconds=0))
    try:
        with pytest.raises(ConfigError, match="PAAS_ZOOKEEPER"):
            no_registry.dubbo_reference(ORDER_SERVICE)
    finally:
        no_registry.shutdown()
