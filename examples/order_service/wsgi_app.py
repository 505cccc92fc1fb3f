"""The order service as a WSGI app (Flask), wired by `paas_sdk.init()`.

    gunicorn -c python:paas_sdk.integrations.gunicorn -w 2 \\
        'examples.order_service.wsgi_app:create_app()'
    python -m examples.order_service.wsgi_app --port 8080        # single process, for trying

Under gunicorn the config module `paas_sdk.integrations.gunicorn` binds one `/metrics` for all
workers in the arbiter and hands SIGTERM on to gunicorn once each worker's drain is over.

Same routes as the ASGI variant; the metrics middleware wraps `app.wsgi_app`, so the route label
is Flask's url rule (``/orders/<int:order_id>``), never the raw path.
"""

from __future__ import annotations

import argparse
import logging
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

import paas_sdk
from examples.order_service.orders import OrderBook, TooManyItemsError
from examples.order_service.settings import OrderSettings
from examples.order_service.triple import serve_triple
from paas_sdk.metrics import WsgiMetricsMiddleware

log = logging.getLogger("order_service")


def create_app(platform: paas_sdk.Platform | None = None, book: OrderBook | None = None) -> Flask:
    """The Flask app; with no platform given, `paas_sdk.init()` starts one (gunicorn workers)."""
    platform = platform or paas_sdk.init()
    settings = platform.typed_settings(OrderSettings)
    orders = book if book is not None else OrderBook()
    app = Flask("order_service")

    @app.get("/greeting")
    def greeting() -> ResponseReturnValue:
        return jsonify(greeting=settings.current.greeting)

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> ResponseReturnValue:
        order = orders.get(order_id)
        if order is None:
            return jsonify(error=f"no order {order_id}"), 404
        return jsonify(order.as_json())

    @app.post("/orders")
    def place_order() -> ResponseReturnValue:
        items = list((request.get_json(silent=True) or {}).get("items", []))
        try:
            order = orders.place(items, settings.current.orders.max_items)
        except TooManyItemsError as exc:
            return jsonify(error=str(exc)), 422
        log.info("order placed", extra={"order.id": order.id, "order.items": len(items)})
        return jsonify(order.as_json()), 201

    app.wsgi_app = WsgiMetricsMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, registry=platform.metrics_registry
    )
    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return  # access logs would duplicate the ECS records and the HTTP metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The example order service (WSGI).")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    platform = paas_sdk.init()
    book = OrderBook()
    server: WSGIServer = make_server(
        args.host, args.port, create_app(platform, book), handler_class=_QuietHandler
    )
    platform.lifecycle.on_stop("http server", server.shutdown, first=True)
    serve_triple(platform, book)  # the Dubbo face: Java consumers call it through ZooKeeper
    server.serve_forever()
    platform.wait(timeout=30)


if __name__ == "__main__":
    main()
