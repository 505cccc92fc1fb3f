"""The order service's Triple endpoint: `proto/order.proto` served with grpcio, registered in
ZooKeeper so Java Dubbo consumers call it (`paas_sdk.Platform.triple_server`)."""

from __future__ import annotations

import logging
from typing import Any

import grpc

import paas_sdk
from examples.order_service.orders import OrderBook, TooManyItemsError
from examples.order_service.proto import order_pb2, order_pb2_grpc
from examples.order_service.settings import OrderSettings
from paas_sdk.config import TypedSettings
from paas_sdk.rpc import TripleServer

log = logging.getLogger("order_service")


class OrderServicer(order_pb2_grpc.OrderServiceServicer):  # type: ignore[misc]
    """`OrderService` over the shared `OrderBook`, limits from the live settings."""

    def __init__(self, book: OrderBook, settings: TypedSettings[OrderSettings], name: str) -> None:
        self.book = book
        self.settings = settings
        self.name = name

    def GetOrder(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        order = self.book.get(request.id)
        if order is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no order {request.id}")
        return order_pb2.Order(id=order.id, items=order.items, served_by=self.name)

    def PlaceOrder(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        try:
            order = self.book.place(list(request.items), self.settings.current.orders.max_items)
        except TooManyItemsError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        log.info("order placed", extra={"order.id": order.id, "order.items": len(order.items)})
        return order_pb2.Order(id=order.id, items=order.items, served_by=self.name)


def serve_triple(
    platform: paas_sdk.Platform, book: OrderBook, port: int | None = None
) -> TripleServer:
    """Start the Triple server on ``PAAS_TRIPLE_PORT`` (or `port`); the platform stops it."""
    server = platform.triple_server(port=port)
    servicer = OrderServicer(book, platform.typed_settings(OrderSettings), server.address)
    server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, servicer)
    server.start()
    log.info("order service serving Triple", extra={"url.port": server.port})
    return server
