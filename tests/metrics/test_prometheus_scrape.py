"""A real Prometheus scrapes the endpoints server while the service is under load."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from paas_sdk.context import ServiceContext
from paas_sdk.metrics import HealthEndpoints, MetricsServer, register_service_info
from paas_sdk.testing.servers import PrometheusServer
from tests.metrics.conftest import build_service


async def _load(app: object, rounds: int) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for n in range(rounds):
            await asyncio.gather(*(client.get(f"/users/{n * 10 + k}") for k in range(10)))
            await asyncio.sleep(0.01)


def test_prometheus_scrapes_templated_routes_and_identity(
    prometheus: PrometheusServer, registry: CollectorRegistry
) -> None:
    app, _ = build_service(registry)
    register_service_info(ServiceContext.from_env({"PAAS_APP_ID": "orders"}), registry)
    with MetricsServer(HealthEndpoints(registry=registry), host="127.0.0.1", port=0) as server:
        prometheus.scrape("metrics-svc", [f"127.0.0.1:{server.port}"])
        try:
            _scrape_and_query(prometheus, app)
        finally:
            prometheus.scrape("metrics-svc", [])


def _scrape_and_query(prometheus: PrometheusServer, app: object) -> None:
    """Load the app while Prometheus scrapes, then read back what it stored."""
    asyncio.run(_load(app, 30))
    prometheus.wait_for_targets_up("metrics-svc", 1)
    expr = 'sum(http_server_request_duration_seconds_count{job="metrics-svc"}) by (route)'
    deadline = time.monotonic() + 20
    series: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        series = prometheus.query(expr)
        if series and series[0]["value"][1] == "300":
            break
        time.sleep(0.5)
    assert [s["metric"] for s in series] == [{"route": "/users/{user_id:int}"}]
    assert series[0]["value"][1] == "300"
    info = prometheus.query('paas_service_info{job="metrics-svc"}')
    assert [s["metric"]["app"] for s in info] == ["orders"]
