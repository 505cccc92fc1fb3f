"""The order service as an ASGI app (Starlette on uvicorn), wired by `paas_sdk.init()`.

    PAAS_APP_ID=order-service APOLLO_META=http://127.0.0.1:8080 PAAS_ZOOKEEPER=127.0.0.1:2181 \\
    PAAS_KAFKA_BOOTSTRAP=127.0.0.1:9092 python -m examples.order_service.asgi_app --port 8080

`/greeting` answers with the configured greeting (hot-reloaded from Apollo), `/orders/{id}` looks
an order up and `POST /orders` places one, timed as the Dubbo methods the service also exposes;
`/metrics`, `/healthz` and `/readyz` come from the SDK on `PAAS_METRICS_PORT` (default 9464).
The platform starts in the app's lifespan (`paas_sdk.integrations.asgi.lifespan`), inside
uvicorn, so SIGTERM deregisters, drains while both faces keep serving, and is then handed on to
uvicorn, which stops itself.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import paas_sdk
from examples.order_service.orders import OrderBook, TooManyItemsError
from examples.order_service.settings import OrderSettings
from examples.order_service.triple import serve_triple
from paas_sdk.config import TypedSettings
from paas_sdk.integrations.asgi import lifespan
from paas_sdk.metrics import AsgiMetricsMiddleware

log = logging.getLogger("order_service")


def create_app(
    platform: paas_sdk.Platform | None = None, book: OrderBook | None = None
) -> Starlette:
    """The app and the orders it shares; served, it starts the platform and the Triple face in
    its lifespan (tests pass a started platform)."""
    orders = book if book is not None else OrderBook()
    bound: dict[str, TypedSettings[OrderSettings]] = {}
    if platform is not None:
        bound["settings"] = platform.typed_settings(OrderSettings)

    @asynccontextmanager
    async def serving(app: Starlette) -> AsyncIterator[None]:
        if platform is not None:
            yield
            return
        async with lifespan(app) as state:
            started = state["platform"]
            bound["settings"] = started.typed_settings(OrderSettings)
            serve_triple(started, orders)  # the Dubbo face: Java consumers call it through ZK
            yield

    def current() -> OrderSettings:
        return bound["settings"].current

    async def greeting(_: Request) -> JSONResponse:
        return JSONResponse({"greeting": current().greeting})

    async def get_order(request: Request) -> JSONResponse:
        order_id = int(request.path_params["order_id"])
        order = orders.get(order_id)
        if order is None:
            return JSONResponse({"error": f"no order {order_id}"}, status_code=404)
        return JSONResponse(order.as_json())

    async def place_order(request: Request) -> JSONResponse:
        body = await request.json()
        items = list(body.get("items", []))
        limit = current().orders.max_items
        try:
            order = orders.place(items, limit)
        except TooManyItemsError as exc:
            log.warning("order rejected", extra={"order.items": len(items), "limit": limit})
            return JSONResponse({"error": str(exc)}, status_code=422)
        log.info("order placed", extra={"order.id": order.id, "order.items": len(items)})
        return JSONResponse(order.as_json(), status_code=201)

    app = Starlette(
        routes=[
            Route("/greeting", greeting),
            Route("/orders/{order_id:int}", get_order),
            Route("/orders", place_order, methods=["POST"]),
        ],
        lifespan=serving,
    )
    registry = platform.metrics_registry if platform is not None else REGISTRY
    app.add_middleware(AsgiMetricsMiddleware, registry=registry)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The example order service (ASGI).")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    log.info("order service listening", extra={"url.port": args.port})
    uvicorn.run(create_app(), host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
