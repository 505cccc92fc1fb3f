"""The order service as an ASGI app (Starlette on uvicorn), wired by `paas_sdk.init()`.

    PAAS_APP_ID=order-service APOLLO_META=http://127.0.0.1:8080 PAAS_ZOOKEEPER=127.0.0.1:2181 \\
    PAAS_KAFKA_BOOTSTRAP=127.0.0.1:9092 python -m examples.order_service.asgi_app --port 8080

`/greeting` answers with the configured greeting (hot-reloaded from Apollo), `/orders/{id}` looks
an order up and `POST /orders` places one, timed as the Dubbo methods the service also exposes;
`/metrics`, `/healthz` and `/readyz` come from the SDK on `PAAS_METRICS_PORT` (default 9464).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import paas_sdk
from examples.order_service.orders import OrderBook, TooManyItemsError
from examples.order_service.settings import OrderSettings
from examples.order_service.triple import serve_triple
from paas_sdk.metrics import AsgiMetricsMiddleware

log = logging.getLogger("order_service")


def create_app(platform: paas_sdk.Platform, book: OrderBook | None = None) -> Starlette:
    """The app, given a started platform (tests pass their own) and the orders it shares."""
    settings = platform.typed_settings(OrderSettings)
    orders = book if book is not None else OrderBook()

    async def greeting(_: Request) -> JSONResponse:
        return JSONResponse({"greeting": settings.current.greeting})

    async def get_order(request: Request) -> JSONResponse:
        order_id = int(request.path_params["order_id"])
        order = orders.get(order_id)
        if order is None:
            return JSONResponse({"error": f"no order {order_id}"}, status_code=404)
        return JSONResponse(order.as_json())

    async def place_order(request: Request) -> JSONResponse:
        body = await request.json()
        items = list(body.get("items", []))
        limit = settings.current.orders.max_items
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
        ]
    )
    app.add_middleware(AsgiMetricsMiddleware, registry=platform.metrics_registry)
    return app


class _PlatformOwnedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the platform's lifecycle owns SIGTERM, so the app
    keeps serving through the drain after deregistration and stops only when told to."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The example order service (ASGI).")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    platform = paas_sdk.init()
    book = OrderBook()
    server = _PlatformOwnedServer(
        uvicorn.Config(create_app(platform, book), host=args.host, port=args.port, log_config=None)
    )
    platform.lifecycle.on_stop(
        "http server", lambda: setattr(server, "should_exit", True), first=True
    )
    serve_triple(platform, book)  # the Dubbo face: Java consumers call it through ZooKeeper
    log.info("order service listening", extra={"url.port": args.port})
    server.run()
    platform.shutdown("http server stopped")  # a no-op when SIGTERM already started it
    platform.wait(timeout=30)


if __name__ == "__main__":
    main()
