"""HTTP metrics from the ASGI middleware, as a scraper sees them."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CollectorRegistry

from paas_sdk.context import ServiceContext
from paas_sdk.metrics import (
    AsgiMetricsMiddleware,
    register_runtime_collectors,
    register_service_info,
)
from paas_sdk.metrics._http import HttpMetrics, Receive, Scope, Send
from tests.metrics.conftest import build_service, promtool_check, samples

COUNT = "http_server_request_duration_seconds_count"


async def _load(app: object, paths: list[str], concurrency: int = 20) -> list[int]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(path: str) -> int:
            async with gate:
                return (await client.get(path)).status_code

        return await asyncio.gather(*(one(path) for path in paths))


async def _scrape(app: object, accept: str = "") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.get("/metrics", headers={"Accept": accept} if accept else {})


def test_scrape_after_concurrent_load_passes_promtool(registry: CollectorRegistry) -> None:
    app, _ = build_service(registry)
    register_runtime_collectors(registry)
    register_service_info(ServiceContext.from_env({"PAAS_APP_ID": "orders"}), registry)
    paths = [f"/users/{n}" for n in range(150)] + ["/boom"] * 10 + ["/nowhere"] * 10
    paths += [f"/api/v{n % 2}/items/{n}" for n in range(50)]
    statuses = asyncio.run(_load(app, paths))
    assert statuses.count(200) == 200
    assert statuses.count(500) == 10

    scraped = asyncio.run(_scrape(app))
    assert scraped.status_code == 200
    checked = promtool_check(scraped.content)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == b""
    text = scraped.text
    assert "process_cpu_seconds_total" in text
    assert "python_gc_collections_total" in text


def test_route_label_is_the_template_never_the_path(registry: CollectorRegistry) -> None:
    app, _ = build_service(registry)
    asyncio.run(_load(app, ["/users/1", "/users/2", "/api/v1/items/a", "/api/v2/items/b"]))
    counts = samples(asyncio.run(_scrape(app)).text, COUNT)
    by_route = {dict(labels)["route"]: value for labels, value in counts.items()}
    assert by_route["/users/{user_id:int}"] == 2
    assert by_route["/api/{version}/items/{item_id}"] == 2
    assert not any("/users/1" in route or "/v1/" in route for route in by_route)


def test_unmatched_and_failing_requests_are_counted_by_status(registry: CollectorRegistry) -> None:
    app, _ = build_service(registry)
    asyncio.run(_load(app, ["/nowhere/1", "/nowhere/2", "/boom"]))
    counts = samples(asyncio.run(_scrape(app)).text, COUNT)
    assert counts[(("method", "GET"), ("route", "<unmatched>"), ("status", "404"))] == 2
    assert counts[(("method", "GET"), ("route", "/boom"), ("status", "500"))] == 1


def test_in_flight_gauge_counts_requests_being_served(registry: CollectorRegistry) -> None:
    release = asyncio.Event()
    seen: list[float] = []

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = AsgiMetricsMiddleware(slow_app, registry=registry, route_resolver=lambda s: "/slow")

    def in_flight() -> float:
        value = registry.get_sample_value("http_server_requests_in_flight", {"method": "POST"})
        return value or 0.0

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            calls = [asyncio.create_task(client.post("/slow")) for _ in range(3)]
            await asyncio.sleep(0.05)
            seen.append(in_flight())
            release.set()
            await asyncio.gather(*calls)
            seen.append(in_flight())

    asyncio.run(scenario())
    assert seen == [3.0, 0.0]
    labels = {"method": "POST", "route": "/slow", "status": "204"}
    assert registry.get_sample_value(COUNT, labels) == 3


def test_a_method_nobody_knows_is_counted_as_other(registry: CollectorRegistry) -> None:
    app, _ = build_service(registry)

    async def brew() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            await client.request("BREW", "/users/1")

    asyncio.run(brew())
    labels = {"method": "other", "route": "/users/{user_id:int}", "status": "405"}
    assert registry.get_sample_value(COUNT, labels) == 1


def test_methods_nobody_knows_do_not_grow_what_is_kept(registry: CollectorRegistry) -> None:
    app, _ = build_service(registry)

    async def invent() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            for n in range(50):
                await client.request(f"BREW{n}", "/users/1")

    asyncio.run(invent())
    metrics = HttpMetrics.of(registry)
    assert len(metrics._observers) == 1  # one per label set, however many methods were sent
    assert len(metrics._gauges) == 1
    labels = {"method": "other", "route": "/users/{user_id:int}", "status": "405"}
    assert registry.get_sample_value(COUNT, labels) == 50


@pytest.mark.parametrize(
    ("accept", "content_type", "ending"),
    [
        ("", "text/plain; version=0.0.4; charset=utf-8", "\n"),
        ("application/openmetrics-text; version=1.0.0", "application/openmetrics-text", "# EOF\n"),
    ],
)
def test_metrics_format_follows_the_accept_header(
    registry: CollectorRegistry, accept: str, content_type: str, ending: str
) -> None:
    app, _ = build_service(registry)
    asyncio.run(_load(app, ["/users/7"]))
    scraped = asyncio.run(_scrape(app, accept))
    assert scraped.headers["content-type"].startswith(content_type)
    assert scraped.text.endswith(ending)
    assert 'route="/users/{user_id:int}"' in scraped.text
