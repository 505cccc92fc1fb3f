"""The example order service, run as a user runs it: scraped under load, promtool-clean, and
stopped with SIGTERM the platform's way (not ready at once, still serving through the drain)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client import CollectorRegistry

import paas_sdk
from examples.order_service.proto import order_pb2, order_pb2_grpc
from paas_sdk.context import ServiceContext
from paas_sdk.platform import PlatformSettings
from paas_sdk.testing.servers import free_port, promtool

ROOT = Path(__file__).resolve().parents[2]


class RunningService:
    def __init__(
        self, process: subprocess.Popen[bytes], port: int, metrics_port: int, triple_port: int
    ) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.metrics_url = f"http://127.0.0.1:{metrics_port}"
        self.triple_address = f"127.0.0.1:{triple_port}"

    def place_over_triple(self, items: list[str]) -> Any:
        with grpc.insecure_channel(self.triple_address) as channel:
            stub = order_pb2_grpc.OrderServiceStub(channel)
            return stub.PlaceOrder(order_pb2.PlaceOrderRequest(items=items), timeout=5)


@pytest.fixture
def order_service(tmp_path: Path) -> Iterator[RunningService]:
    config = tmp_path / "config"
    config.mkdir()
    (config / "application.properties").write_text("greeting=hi\norders.max_items=3\n")
    port, metrics_port, triple_port = free_port(), free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("APOLLO_", "PAAS_", "PROMETHEUS_"))
    }
    env.update(
        PAAS_APP_ID="order-service",
        PAAS_CONFIG_DIR=str(config),
        PAAS_METRICS_PORT=str(metrics_port),
        PAAS_DRAIN_SECONDS="1.5",
        PAAS_TRIPLE_PORT=str(triple_port),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.order_service.asgi_app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    service = RunningService(process, port, metrics_port, triple_port)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(service.metrics_url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            process.kill()
            pytest.fail(f"the service never became ready: {process.communicate()[1][-2000:]!r}")
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_scraped_under_load_the_metrics_are_promtool_clean(
    order_service: RunningService, tmp_path: Path
) -> None:
    def traffic(i: int) -> int:
        with httpx.Client(base_url=order_service.url) as client:
            placed = client.post("/orders", json={"items": ["book"] * (i % 5)})
            client.get(f"/orders/{i}")
            client.get("/greeting")
            return placed.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(traffic, range(200)))
    assert statuses.count(422) == 40  # 4 items against orders.max_items=3
    placed = order_service.place_over_triple(["tea"])  # the same orders, over Triple
    assert placed.id == 161
    assert placed.served_by.endswith(order_service.triple_address.rsplit(":", 1)[1])
    with pytest.raises(grpc.RpcError) as refused:
        order_service.place_over_triple(["tea"] * 4)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    scrape = httpx.get(order_service.metrics_url + "/metrics").text
    path = tmp_path / "scrape.prom"
    path.write_bytes(scrape.encode())
    check = subprocess.run(
        [promtool(), "check", "metrics"], input=path.read_bytes(), capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert 'route="/orders/{order_id:int}"' in scrape or 'route="/orders/{order_id}"' in scrape
    assert 'route="/orders/7"' not in scrape
    assert (
        'rpc_server_duration_seconds_count{method="PlaceOrder",service="com.example.order.v1'
        '.OrderService",status="INVALID_ARGUMENT"} 1.0'
    ) in scrape
    assert 'paas_service_info{app="order-service"' in scrape


def test_sigterm_makes_it_unready_at_once_and_it_serves_through_the_drain(
    order_service: RunningService,
) -> None:
    order_service.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert httpx.get(order_service.metrics_url + "/readyz").status_code == 503
    assert httpx.get(order_service.url + "/greeting").json() == {"greeting": "hi"}
    assert order_service.place_over_triple(["tea"]).id == 1  # Triple answers through the drain
    # uvicorn, once stopped, re-raises the signal it stopped on: terminated by SIGTERM, as without
    # the SDK
    assert order_service.process.wait(20) in (0, -signal.SIGTERM)


def test_the_wsgi_variant_labels_flask_routes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from examples.order_service.wsgi_app import create_app

    config = tmp_path / "config"
    config.mkdir()
    (config / "application.properties").write_text("greeting=hallo\n")
    monkeypatch.setenv("PAAS_CONFIG_DIR", str(config))
    for name in ("APOLLO_META", "APOLLO_CONFIG_SERVICE"):
        monkeypatch.delenv(name, raising=False)
    registry = CollectorRegistry()
    platform = paas_sdk.init(
        context=ServiceContext(app_id="order-service-wsgi"),
        settings=PlatformSettings(metrics_port=-1, drain_seconds=0),
        metrics_registry=registry,
        configure_logging=False,
        install_signal_handlers=False,
    )
    try:
        client = create_app(platform).test_client()
        responses = [
            client.get("/greeting"),
            client.post("/orders", json={"items": ["a"]}),
            client.get("/orders/1"),
            client.get("/orders/99"),
        ]
        for response in responses:
            response.close()  # as a WSGI server does once the body is sent
        assert responses[0].get_json() == {"greeting": "hallo"}
        assert [r.status_code for r in responses[1:]] == [201, 200, 404]
    finally:
        platform.shutdown()
    count = registry.get_sample_value(
        "http_server_request_duration_seconds_count",
        {"method": "GET", "route": "/orders/<int:order_id>", "status": "404"},
    )
    assert count == 1
