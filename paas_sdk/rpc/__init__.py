"""Dubbo Triple on grpcio: serve protobuf services Java Dubbo consumers call, and call Java
Dubbo providers, both found through ZooKeeper.

Triple is gRPC-compatible for protobuf (IDL) services, so the bytes are grpcio's; this package
adds what makes a process a member of the Dubbo mesh: the registration a Java Triple provider
writes (`TripleServer`, `AsyncTripleServer`), discovery, Dubbo's load balancing, failover and
Dubbo Admin's override rules (`DubboReference`), RPC metrics and W3C trace context (interceptors).

    server = TripleServer(application="order-service", port=50051, registry=registry)
    server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, OrderServicer())
    server.start()

    orders = DubboReference(registry, "paas.example.order.v1.OrderService",
                            application="web", retryable=["GetOrder"]).start()
    orders.stub(order_pb2_grpc.OrderServiceStub).GetOrder(request, timeout=1.0)

Needs the `rpc` extra (grpcio, protobuf, kazoo). Only unary calls are carried.
"""

from paas_sdk.rpc._cluster import Endpoint, Picker
from paas_sdk.rpc._governance import Override, parse_configurators, rule_key
from paas_sdk.rpc._reference import (
    ClusterChannel,
    DubboReference,
    NoProviderCallError,
    TripleCallError,
)
from paas_sdk.rpc._server import TRIPLE_PORT, AsyncTripleServer, TripleServer, triple_provider_url
from paas_sdk.rpc._service import TripleService
from paas_sdk.rpc._telemetry import AsyncServerTelemetry, ServerTelemetry

__all__ = [
    "TRIPLE_PORT",
    "AsyncServerTelemetry",
    "AsyncTripleServer",
    "ClusterChannel",
    "DubboReference",
    "Endpoint",
    "NoProviderCallError",
    "Override",
    "Picker",
    "ServerTelemetry",
    "TripleCallError",
    "TripleServer",
    "TripleService",
    "parse_configurators",
    "rule_key",
    "triple_provider_url",
]
