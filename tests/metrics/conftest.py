"""A small instrumented Starlette service shared by the metrics tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from paas_sdk.metrics import AsgiMetricsMiddleware, HealthEndpoints
from paas_sdk.metrics._http import ASGIApp
from paas_sdk.testing.servers import promtool


async def get_user(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.path_params["user_id"]})


async def get_item(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["item_id"])


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("the handler failed")


def build_service(
    registry: CollectorRegistry, readiness_checks: dict[str, Callable[[], bool]] | None = None
) -> tuple[ASGIApp, HealthEndpoints]:
    """The service: users, items under a templated mount, a failing route, and the endpoints."""
    app = Starlette(
        routes=[
            Route("/users/{user_id:int}", get_user),
            Route("/boom", boom),
            Mount("/api/{version}", routes=[Route("/items/{item_id}", get_item)]),
        ]
    )
    app.add_middleware(AsgiMetricsMiddleware, registry=registry)
    endpoints = HealthEndpoints(registry=registry, readiness_checks=readiness_checks)
    return endpoints.mount_asgi(app), endpoints


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def samples(exposition: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample called `name` in a text exposition, keyed by its sorted labels."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def promtool_check(exposition: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [promtool(), "check", "metrics"],
        input=exposition,
        capture_output=True,
        timeout=30,
        check=False,
    )
