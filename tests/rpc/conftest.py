"""Fixtures for the Triple tests: the Java Dubbo side built once per session, a registry on the
session's ZooKeeper, and a Python servicer that says who answered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from examples.order_service.java_dubbo import java_classpath
from examples.order_service.proto import order_pb2, order_pb2_grpc
from paas_sdk.registry import ZooKeeperRegistry

ORDER_SERVICE = order_pb2.DESCRIPTOR.services_by_name["OrderService"]
INTERFACE = "com.example.order.v1.OrderService"


class Orders(order_pb2_grpc.OrderServiceServicer):  # type: ignore[misc]
    """Answers GetOrder with the id asked for and its own name; NOT_FOUND for id 0."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def GetOrder(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self.calls += 1
        if request.id == 0:
            context.abort(grpc.StatusCode.NOT_FOUND, "no order 0")
        return order_pb2.Order(id=request.id, served_by=self.name)

    def PlaceOrder(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self.calls += 1
        return order_pb2.Order(id=1, items=list(request.items), served_by=self.name)


@pytest.fixture(scope="session")
def interop_classpath() -> str:
    return java_classpath()


@pytest.fixture
def metrics() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def registry(zookeeper: Any, metrics: CollectorRegistry) -> Iterator[ZooKeeperRegistry]:
    with ZooKeeperRegistry(zookeeper.address, metrics=metrics) as registry:
        yield registry
