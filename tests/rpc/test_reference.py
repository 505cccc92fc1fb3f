"""The consumer and the provider in one process: bad input gets a clear error naming the
interface and the address, the asyncio server, trace context in both sides' ECS lines, and the
load balancer's warm-up."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc
import orjson
import pytest
from prometheus_client import CollectorRegistry

from examples.order_service.proto import order_pb2, order_pb2_grpc
from paas_sdk.context import ServiceContext
from paas_sdk.errors import RpcError
from paas_sdk.logs import EcsFormatter, current_trace
from paas_sdk.registry import ApplicationInstance, DubboURL, ZooKeeperRegistry
from paas_sdk.rpc import (
    AsyncTripleServer,
    DubboReference,
    Endpoint,
    NoProviderCallError,
    Picker,
    TripleCallError,
    TripleServer,
    TripleService,
    parse_configurators,
    triple_provider_url,
)
from paas_sdk.rpc._governance import parse_condition_router, route
from paas_sdk.testing.servers import free_port
from tests.rpc.conftest import INTERFACE, ORDER_SERVICE, Orders

SERVICE = TripleService.of(ORDER_SERVICE)


@pytest.fixture
def server(registry: ZooKeeperRegistry, metrics: CollectorRegistry) -> Iterator[TripleServer]:
    server = TripleServer(
        application="py-orders", port=free_port(), host="127.0.0.1", registry=registry,
        group="bad-input", metrics=metrics,
    )  # fmt: skip
    server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders("s"))
    yield server.start()
    server.stop(grace=1)


@pytest.fixture
def reference(
    registry: ZooKeeperRegistry, metrics: CollectorRegistry, server: TripleServer
) -> Iterator[DubboReference]:
    with DubboReference(
        registry, ORDER_SERVICE, application="py-web", group="bad-input", timeout=2.0,
        metrics=metrics,
    ) as reference:  # fmt: skip
        yield reference


def test_the_service_is_named_as_dubbos_stub_generator_names_it() -> None:
    assert SERVICE.name == "paas.example.order.v1.OrderService"
    assert SERVICE.interface == INTERFACE  # java_package + service name
    assert SERVICE.java_methods == ("getOrder", "getOrderAsync", "placeOrder", "placeOrderAsync")
    url = triple_provider_url(SERVICE, "10.0.0.5", 50051, application="orders", timestamp_ms=1)
    assert str(url) == (
        "tri://10.0.0.5:50051/paas.example.order.v1.OrderService?application=orders"
        "&deprecated=false&dubbo=2.0.2&dynamic=true&generic=false"
        "&interface=com.example.order.v1.OrderService"
        "&methods=getOrder,getOrderAsync,placeOrder,placeOrderAsync"
        "&prefer.serialization=hessian2,fastjson2&proxy=nativestub&release=3.3.5"
        "&service-name-mapping=true&side=provider&timestamp=1"
    )


def test_an_unknown_method_names_interface_and_address(
    reference: DubboReference, server: TripleServer
) -> None:
    cancel = reference.channel.unary_unary(
        "/paas.example.order.v1.OrderService/Cancel",
        request_serializer=order_pb2.GetOrderRequest.SerializeToString,
        response_deserializer=order_pb2.Order.FromString,
    )
    with pytest.raises(TripleCallError) as error:
        cancel(order_pb2.GetOrderRequest(id=1))
    assert error.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert f"{INTERFACE}.Cancel on {server.address}" in str(error.value)
    assert isinstance(error.value, grpc.RpcError)


def test_a_proto_mismatch_names_interface_and_address(
    reference: DubboReference, server: TripleServer
) -> None:
    garbled = reference.channel.unary_unary(
        "/paas.example.order.v1.OrderService/GetOrder",
        request_serializer=lambda _request: b"\xff\xff\xff",  # not a GetOrderRequest
        response_deserializer=order_pb2.Order.FromString,
    )
    with pytest.raises(TripleCallError) as error:
        garbled(object())
    assert error.value.code() is grpc.StatusCode.INTERNAL
    assert f"{INTERFACE}.GetOrder on {server.address}" in str(error.value)
    assert "deserializing" in str(error.value)


def test_a_servers_status_reaches_the_caller_with_its_message(reference: DubboReference) -> None:
    stub = reference.stub(order_pb2_grpc.OrderServiceStub)
    with pytest.raises(TripleCallError) as error:
        stub.GetOrder(order_pb2.GetOrderRequest(id=0))
    assert error.value.code() is grpc.StatusCode.NOT_FOUND
    assert "no order 0" in str(error.value)


def test_no_provider_within_the_deadline_is_named_and_bounded(
    registry: ZooKeeperRegistry, metrics: CollectorRegistry
) -> None:
    with DubboReference(
        registry, ORDER_SERVICE, application="py-web", group="nobody", metrics=metrics
    ) as reference:
        stub = reference.stub(order_pb2_grpc.OrderServiceStub)
        started = time.monotonic()
        with pytest.raises(NoProviderCallError) as error:
            stub.GetOrder(order_pb2.GetOrderRequest(id=1), timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 1.0
    message = str(error.value)
    assert f"{INTERFACE}.GetOrder: no Triple provider" in message
    assert "group nobody" in message
    assert f"zookeeper://{registry.hosts}" in message
    assert error.value.code() is grpc.StatusCode.UNAVAILABLE


def test_an_unreachable_provider_is_named_after_failover_gives_up(
    registry: ZooKeeperRegistry, metrics: CollectorRegistry
) -> None:
    dead = triple_provider_url(SERVICE, "127.0.0.1", free_port(), application="gone", group="dead")
    registry.register(dead)
    try:
        with DubboReference(
            registry, ORDER_SERVICE, application="py-web", group="dead", metrics=metrics
        ) as reference:
            stub = reference.stub(order_pb2_grpc.OrderServiceStub)
            with pytest.raises(TripleCallError) as error:
                stub.GetOrder(order_pb2.GetOrderRequest(id=1), timeout=2)
    finally:
        registry.unregister(dead)
    assert error.value.code() is grpc.StatusCode.UNAVAILABLE
    assert f"{INTERFACE}.GetOrder on {dead.address} failed with UNAVAILABLE" in str(error.value)
    failed = metrics.get_sample_value(
        "rpc_client_duration_seconds_count",
        {"service": INTERFACE, "method": "GetOrder", "status": "UNAVAILABLE"},
    )
    assert failed == 1


def test_a_dubbo2_only_provider_is_skipped_with_the_fix_named(
    registry: ZooKeeperRegistry, metrics: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    legacy = DubboURL.provider(INTERFACE, "127.0.0.1", 20880, application="old", group="legacy")
    registry.register(legacy)
    caplog.set_level(logging.WARNING, logger="paas_sdk.rpc")
    try:
        with DubboReference(
            registry, ORDER_SERVICE, application="py-web", group="legacy", metrics=metrics
        ) as reference:
            assert reference.providers == ()
    finally:
        registry.unregister(legacy)
    warning = next(r.getMessage() for r in caplog.records if "127.0.0.1:20880" in r.getMessage())
    assert "speaks only dubbo://" in warning
    assert "tri" in warning


def test_setup_mistakes_are_named(registry: ZooKeeperRegistry, server: TripleServer) -> None:
    with pytest.raises(RpcError, match=r"has no method 'cancel'; it has GetOrder, PlaceOrder"):
        DubboReference(registry, ORDER_SERVICE, application="x", retryable=["cancel"])
    with pytest.raises(RpcError, match="import its generated _pb2"):
        DubboReference(registry, "acme.Nothing", application="x")
    taken = TripleServer(application="x", port=server.port, metrics=None)
    taken.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders("t"))
    with pytest.raises(RpcError, match=rf"cannot listen.*:{server.port}"):
        taken.start()
    with pytest.raises(RpcError, match="no service was added"):
        TripleServer(application="x", port=free_port(), metrics=None).start()


def test_the_asyncio_server_serves_and_registers_like_the_threaded_one(
    registry: ZooKeeperRegistry, metrics: CollectorRegistry
) -> None:
    class AsyncOrders(order_pb2_grpc.OrderServiceServicer):  # type: ignore[misc]
        async def GetOrder(self, request: Any, context: Any) -> Any:  # noqa: N802
            await asyncio.sleep(0)
            return order_pb2.Order(id=request.id, served_by="aio")

    ready = threading.Event()
    stop: list[asyncio.Event] = []
    port = free_port()

    async def serve() -> None:
        server = AsyncTripleServer(
            application="py-aio", port=port, host="127.0.0.1", registry=registry,
            group="aio", metrics=metrics,
        )  # fmt: skip
        server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, AsyncOrders())
        await server.start()
        stop.append(asyncio.Event())
        ready.set()
        await stop[0].wait()
        await server.stop(grace=1)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    try:
        assert ready.wait(10)
        with DubboReference(
            registry, ORDER_SERVICE, application="py-web", group="aio", metrics=metrics
        ) as reference:
            stub = reference.stub(order_pb2_grpc.OrderServiceStub)
            assert stub.GetOrder(order_pb2.GetOrderRequest(id=3)).served_by == "aio"
            assert [u.protocol for u in reference.providers] == ["tri"]
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        loop.close()
    served = metrics.get_sample_value(
        "rpc_server_duration_seconds_count",
        {"service": INTERFACE, "method": "GetOrder", "status": "ok"},
    )
    assert served == 1


def test_trace_context_crosses_the_call_into_both_sides_ecs_lines(
    registry: ZooKeeperRegistry, metrics: CollectorRegistry
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EcsFormatter(ServiceContext(app_id="trace-test")))
    log = logging.getLogger("tests.rpc.trace")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    class Logging(Orders):
        def GetOrder(self, request: Any, context: Any) -> Any:  # noqa: N802
            log.info("provider side")
            return super().GetOrder(request, context)

    server = TripleServer(
        application="py-orders", port=free_port(), host="127.0.0.1", registry=registry,
        group="trace", metrics=metrics,
    )  # fmt: skip
    server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Logging("t"))
    server.start()
    token = current_trace.set(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
    try:
        with DubboReference(
            registry, ORDER_SERVICE, application="py-web", group="trace", metrics=metrics
        ) as reference:
            log.info("consumer side")
            reference.stub(order_pb2_grpc.OrderServiceStub).GetOrder(
                order_pb2.GetOrderRequest(id=1)
            )
    finally:
        current_trace.reset(token)
        server.stop(grace=1)
        log.removeHandler(handler)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["consumer side", "provider side"]
    assert {line["trace"]["id"] for line in lines} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    assert lines[1]["span"]["id"] != "00f067aa0ba902b7"  # the provider's own span


def test_weighted_random_follows_weights_and_warm_up() -> None:
    now_ms = int(time.time() * 1000)

    def endpoint(port: int, **parameters: Any) -> Endpoint:
        url = triple_provider_url(SERVICE, "127.0.0.1", port, application="a", **parameters)
        return Endpoint(url, [])

    heavy = endpoint(1, weight=300, timestamp_ms=now_ms - 3_600_000)
    light = endpoint(2, weight=100, timestamp_ms=now_ms - 3_600_000)
    # started 1 minute ago, 10 minute warm-up: Dubbo ramps 100 down to 10
    warming = endpoint(3, weight=100, timestamp_ms=now_ms - 60_000)
    future = endpoint(4, timestamp_ms=now_ms + 60_000)  # a clock ahead: weight 1
    assert warming.effective_weight(now_ms) == 10
    assert future.effective_weight(now_ms) == 1
    picker = Picker()
    picker.update([heavy, light, warming])
    counts = Counter(picker.pick(set()).address for _ in range(41_000))  # type: ignore[union-attr]
    assert counts["127.0.0.1:1"] == pytest.approx(30_000, rel=0.05)
    assert counts["127.0.0.1:2"] == pytest.approx(10_000, rel=0.08)
    assert counts["127.0.0.1:3"] == pytest.approx(1_000, rel=0.25)
    light.refused()  # set aside: not picked until its back-off ends
    assert "127.0.0.1:2" not in {picker.pick(set()).address for _ in range(2000)}  # type: ignore[union-attr]
    for e in (heavy, light, warming, future):
        e.close()


def test_rules_read_as_dubbo_reads_them(caplog: pytest.LogCaptureFixture) -> None:
    def provider(host: str, port: int, **parameters: Any) -> DubboURL:
        return triple_provider_url(SERVICE, host, port, application="p", **parameters)

    a, b, c = provider("10.0.1.5", 50051), provider("10.0.1.6", 50052), provider("10.0.2.7", 50051)
    consumer = DubboURL.consumer(INTERFACE, "10.0.3.1", application="web")
    routers = parse_condition_router(
        "conditions:\n"
        "- host = 10.0.3.* & application = web => host = 10.0.1.*, 10.0.9.9 & port != 50052\n"
        "- method = placeOrder =>\n",
        "test",
    )
    assert route(routers, "getOrder", consumer, [a, b, c]) == [a]
    # an empty then-side is "no provider" even without force (ConditionStateRouter.doRoute)
    assert route(routers, "placeOrder", consumer, [a, b, c]) == []
    other = DubboURL.consumer(INTERFACE, "10.7.0.1", application="web")
    assert route(routers, "getOrder", other, [a, b, c]) == [a, b, c]
    overrides = parse_configurators(
        "configs:\n- addresses: [10.0.1.6]\n  side: provider\n  parameters: {weight: 7}\n"
        "- addresses: ['0.0.0.0']\n  side: consumer\n  parameters: {timeout: 1}\n",
        "test",
    )
    assert [o.apply(u).get("weight") for o in overrides for u in (a, b)] == [None, "7"]
    caplog.set_level(logging.WARNING, logger="paas_sdk.rpc")
    assert parse_configurators("configs: [unclosed", "/dubbo/config/dubbo/x.configurators") == ()
    assert parse_condition_router("conditions: ['=> = x']", "/dubbo/config/dubbo/x.cr") == ()
    messages = [r.getMessage() for r in caplog.records]
    assert any("/dubbo/config/dubbo/x.configurators" in m for m in messages)
    assert any("/dubbo/config/dubbo/x.cr" in m for m in messages)


def test_condition_rules_with_bare_true_false_and_prefixed_keys_read_as_dubbo_reads_them() -> None:
    # ConditionStateRouter.init: a blank or `true` when-side matches every call, a blank or
    # `false` then-side is "no provider" (force or not), `consumer.`/`provider.` prefixes drop.
    a = triple_provider_url(SERVICE, "10.0.1.5", 50051, application="p")
    b = triple_provider_url(SERVICE, "10.0.1.6", 50052, application="p")
    web = DubboURL.consumer(INTERFACE, "10.0.3.1", application="web")
    batch = DubboURL.consumer(INTERFACE, "10.0.4.1", application="batch")

    def rules(*conditions: str, force: bool = False) -> Any:
        body = "".join(f"- {c!r}\n" for c in conditions)
        routers = parse_condition_router(f"force: {str(force).lower()}\nconditions:\n{body}", "t")
        assert routers, conditions
        return routers

    assert route(rules("true => host = 10.0.1.6"), "getOrder", web, [a, b]) == [b]
    assert route(rules("=> host = 10.0.1.6"), "getOrder", batch, [a, b]) == [b]
    assert route(rules("application = batch => false"), "getOrder", batch, [a, b]) == []
    assert route(rules("application = batch => false"), "getOrder", web, [a, b]) == [a, b]
    assert route(rules("application = batch =>"), "getOrder", batch, [a, b]) == []
    blacklist = rules("consumer.host = 10.0.3.* => provider.host = 10.0.1.5")
    assert route(blacklist, "getOrder", web, [a, b]) == [a]
    assert route(blacklist, "getOrder", batch, [a, b]) == [a, b]
    # a then-side nobody matches: the full list unless forced, as before
    assert route(rules("=> host = 10.9.9.9"), "getOrder", web, [a, b]) == [a, b]
    assert route(rules("=> host = 10.9.9.9", force=True), "getOrder", web, [a, b]) == []


def test_a_call_made_while_serving_one_inherits_its_deadline(
    registry: ZooKeeperRegistry, metrics: CollectorRegistry
) -> None:
    class Slow(Orders):
        def GetOrder(self, request: Any, context: Any) -> Any:  # noqa: N802
            time.sleep(1.5)
            return super().GetOrder(request, context)

    inner_took: list[float] = []
    inner_codes: list[grpc.StatusCode] = []

    class Front(Orders):
        def GetOrder(self, request: Any, context: Any) -> Any:  # noqa: N802
            started = time.monotonic()
            try:
                return slow_stub.GetOrder(request)  # no timeout given: the caller's applies
            except TripleCallError as exc:
                inner_codes.append(exc.code())
                context.abort(exc.code(), exc.details())
            finally:
                inner_took.append(time.monotonic() - started)

    servers = []
    for group, servicer in (("slow", Slow("slow")), ("front", Front("front"))):
        server = TripleServer(
            application="py-orders", port=free_port(), host="127.0.0.1", registry=registry,
            group=group, metrics=metrics,
        )  # fmt: skip
        server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, servicer)
        servers.append(server.start())
    try:
        with DubboReference(
            registry, ORDER_SERVICE, application="front", group="slow", metrics=metrics
        ) as slow, DubboReference(
            registry, ORDER_SERVICE, application="web", group="front", metrics=metrics
        ) as front:  # fmt: skip
            slow_stub = slow.stub(order_pb2_grpc.OrderServiceStub)
            with pytest.raises(TripleCallError) as error:
                front.stub(order_pb2_grpc.OrderServiceStub).GetOrder(
                    order_pb2.GetOrderRequest(id=1), timeout=0.4
                )
    finally:
        for server in servers:
            server.stop(grace=2)
    assert error.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert inner_codes == [grpc.StatusCode.DEADLINE_EXCEEDED]
    assert inner_took[0] < 0.6  # the inner call's own default was 3 s


def test_a_start_that_fails_after_registering_leaves_no_provider_registered(
    registry: ZooKeeperRegistry, metrics: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kazoo.exceptions import ConnectionLoss

    def connection_lost(_instance: ApplicationInstance) -> None:
        raise ConnectionLoss  # kazoo's error as it comes, not a RegistryError

    # the instance is registered after the interface-level tri:// URLs
    monkeypatch.setattr(ApplicationInstance, "register", connection_lost)
    server = TripleServer(
        application="py-orders", port=free_port(), host="127.0.0.1", registry=registry,
        group="lost", metrics=metrics,
    )  # fmt: skip
    server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders("s"))
    with pytest.raises(ConnectionLoss):
        server.start()
    # nothing left to re-create after the next session: consumers are not sent to a closed port
    assert not [u for u in registry.registrations if u.get("group") == "lost"]
    assert registry.subscribe(INTERFACE, group="lost").providers == ()
