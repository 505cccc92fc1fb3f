"""Per-request cost of the HTTP metrics middleware, against the bare app and an established library.

The same FastAPI app (one templated route) is driven in-process through its ASGI interface, so
the figures are the middleware's cost and not the network's: bare, with `AsgiMetricsMiddleware`,
and with prometheus-fastapi-instrumentator (the anchor: default settings, and cut down to a
latency histogram plus in-progress gauge, which is what ours records). Overheads are the
difference to the bare app per request; the ratio compares ours to the anchor's (target <= 1).

    .venv/bin/python benchmarks/metrics_http_middleware.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator, metrics

from paas_sdk.metrics import AsgiMetricsMiddleware


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> PlainTextResponse:
        return PlainTextResponse(str(item_id))

    return app


def bare() -> FastAPI:
    return build_app()


def ours() -> FastAPI:
    app = build_app()
    app.add_middleware(AsgiMetricsMiddleware, registry=CollectorRegistry())
    return app


def instrumentator() -> FastAPI:
    app = build_app()
    Instrumentator(registry=CollectorRegistry()).instrument(app)
    return app


def instrumentator_latency_only() -> FastAPI:
    """The anchor cut down to one latency histogram, closest to what ours records."""
    app = build_app()
    registry = CollectorRegistry()
    anchor = Instrumentator(registry=registry, should_instrument_requests_inprogress=True)
    anchor.add(metrics.latency(registry=registry)).instrument(app)
    return app


async def drive(app: Any, requests: int) -> float:
    """Seconds per request for `requests` sequential GETs through the ASGI interface."""
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.perf_counter()
    for n in range(requests):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/items/{n % 100}",
            "raw_path": f"/items/{n % 100}".encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"svc")],
            "client": ("127.0.0.1", 1234),
            "server": ("svc", 80),
        }
        await app(scope, receive, send)
        sent.clear()
    return (time.perf_counter() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    args = parser.parse_args()
    requests, rounds = (2_000, 3) if args.quick else (10_000, 7)
    variants: dict[str, Callable[[], FastAPI]] = {
        "bare": bare,
        "paas_sdk": ours,
        "instrumentator": instrumentator,
        "instr_latency": instrumentator_latency_only,
    }
    apps = {name: make() for name, make in variants.items()}
    for app in apps.values():  # warm up: build middleware stacks, create label children
        asyncio.run(drive(app, 200))
    timings: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):  # interleaved, so drift in machine load hits every variant alike
        for name, app in apps.items():
            timings[name].append(asyncio.run(drive(app, requests)))
    per_request = {name: statistics.median(values) for name, values in timings.items()}
    base = per_request["bare"]
    print(f"{requests} requests x {rounds} rounds, median per request (microseconds):")
    for name, seconds in per_request.items():
        print(f"  {name:15s} {seconds * 1e6:8.1f} us  ({seconds / base:.2f}x bare)")
    ours_overhead = per_request["paas_sdk"] - base
    anchor_overhead = per_request["instrumentator"] - base
    print(
        f"overhead over bare: paas_sdk {ours_overhead * 1e6:.1f} us, "
        f"instrumentator {anchor_overhead * 1e6:.1f} us"
    )
    lean_overhead = per_request["instr_latency"] - base
    print(
        f"overhead ratio paas_sdk / instrumentator (defaults): "
        f"{ours_overhead / anchor_overhead:.2f} (target <= 1)"
    )
    print(
        f"overhead ratio paas_sdk / instrumentator (latency + in-progress only): "
        f"{ours_overhead / lean_overhead:.2f} (target <= 1)"
    )


if __name__ == "__main__":
    main()
