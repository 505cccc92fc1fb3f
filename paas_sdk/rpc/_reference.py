"""Calling a Dubbo interface over Triple: providers discovered in ZooKeeper, chosen and retried
the way Dubbo's consumer does, through a channel any generated grpcio stub accepts.

Dubbo's defaults are kept: `failover` with ``retries=2`` (for calls marked retryable; a call whose
connection was refused never left, so it moves on whatever its mark) and weighted random with a
10 min warm-up. The default timeout is 3 s for the whole call, retries included (Dubbo's 1 s is
per attempt; gRPC has none). A caller's deadline is inherited from the call being served.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from prometheus_client import REGISTRY, CollectorRegistry

from paas_sdk.errors import NoProviderError, RpcError
from paas_sdk.metrics import RpcMetrics
from paas_sdk.registry import DubboURL, Subscription, Watch, ZooKeeperRegistry
from paas_sdk.rpc._cluster import Endpoint, Picker
from paas_sdk.rpc._discovery import ApplicationProviders
from paas_sdk.rpc._governance import (
    ConditionRouter,
    Override,
    parse_condition_router,
    parse_configurators,
    route,
    rule_key,
)
from paas_sdk.rpc._server import _advertised_host
from paas_sdk.rpc._service import TripleService
from paas_sdk.rpc._telemetry import call_deadline, outgoing_trace, status_label

__all__ = ["DubboReference", "NoProviderCallError", "TripleCallError"]

log = logging.getLogger("paas_sdk.rpc")

# what failover retries on: the provider could not take the call (Dubbo retries network errors
# and timeouts; a deadline here is the caller's whole budget, so it is never retried)
_RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
_NEVER_SENT = ("failed to connect", "connection refused", "connections to all backends failing")


class TripleCallError(RpcError, grpc.RpcError):
    """A call that failed, naming interface, method and provider; `code()` is its gRPC status."""

    def __init__(
        self, message: str, code: grpc.StatusCode, details: str, *, where: str | None = None
    ) -> None:
        super().__init__(message, where=where)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[()]:
        return ()


class NoProviderCallError(TripleCallError, NoProviderError):
    """No provider of the interface was there within the call's deadline."""


class DubboReference:
    """A reference to one Dubbo interface (group, version) whose providers are in ZooKeeper.

    >>> orders = DubboReference(registry, order_pb2.DESCRIPTOR.services_by_name["OrderService"],
    ...                         application="web", retryable=["GetOrder"]).start()
    >>> stub = orders.stub(order_pb2_grpc.OrderServiceStub)
    >>> stub.GetOrder(order_pb2.GetOrderRequest(id=7), timeout=1.0)

    `retryable` names the proto methods safe to call twice (``True`` for all); `retries` is
    Dubbo's failover count. Providers are found at the interface level and the application
    level (Dubbo 3), as a Java consumer's default migration step does. A consumer node is
    registered under ``.../consumers`` as Java consumers do, and override rules and condition
    routers from Dubbo Admin are applied live.
    """

    def __init__(
        self,
        registry: ZooKeeperRegistry,
        service: ServiceDescriptor | str,
        *,
        application: str,
        group: str | None = None,
        version: str | None = None,
        timeout: float = 3.0,
        retries: int = 2,
        retryable: Iterable[str] | bool = (),
        register_consumer: bool = True,
        metrics: CollectorRegistry | None = REGISTRY,
        channel_options: Sequence[tuple[str, object]] = (),
        host: str | None = None,
    ) -> None:
        if timeout <= 0 or retries < 0:
            raise RpcError("timeout must be > 0 and retries >= 0", where="DubboReference")
        self.registry = registry
        self.service = TripleService.of(service)
        self.application = application
        self.group = group
        self.version = version
        self.timeout = timeout
        self.retries = retries
        self._retryable = (
            retryable
            if isinstance(retryable, bool)
            else frozenset(self.service.method_of(m) for m in retryable)
        )
        self._register_consumer = register_consumer
        self._metrics = RpcMetrics.of(metrics) if metrics is not None else None
        self._timers: dict[tuple[str, str], Any] = {}
        self._channel_options = list(channel_options)
        self._host = host
        self.picker = Picker()
        self._endpoints: dict[str, Endpoint] = {}
        self._overrides: tuple[Override, ...] = ()
        self._routers: tuple[ConditionRouter, ...] = ()
        self._routed: dict[str, tuple[Endpoint, ...]] = {}  # by method, while nothing changes
        self._lock = threading.Lock()
        self._subscription: Subscription | None = None
        self._applications: ApplicationProviders | None = None
        self._watches: list[Watch] = []
        self._consumer_url: DubboURL | None = None
        self._warned: set[str] = set()
        self._closed = False
        self.channel = ClusterChannel(self)

    @property
    def interface(self) -> str:
        return self.service.interface

    @property
    def consumer_url(self) -> DubboURL:
        """This consumer as Java consumers register it; condition routers match against it."""
        if self._consumer_url is None:
            self._consumer_url = DubboURL.consumer(
                self.interface,
                self._host or _advertised_host(),
                application=self.application,
                methods=self.service.java_methods,
                group=self.group,
                version=self.version,
                parameters={"protocol": "tri", "retries": self.retries},
            )
        return self._consumer_url

    @property
    def where(self) -> str:
        """The service key and registry, for error messages."""
        key = self.interface
        if self.group:
            key = f"{self.group}/{key}"
        if self.version:
            key = f"{key}:{self.version}"
        return f"{key} in zookeeper://{self.registry.hosts}"

    def retryable(self, method: str) -> bool:
        return self._retryable if isinstance(self._retryable, bool) else method in self._retryable

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Subscribe to the providers and the override rules; register the consumer node.

        While ZooKeeper is not connected (a registry retrying in the background) everything is
        armed once it is. A start() that fails releases what it opened."""
        try:
            self._subscription = self.registry.subscribe(
                self.interface, group=self.group, version=self.version, listener=self._on_providers
            )
            self._applications = ApplicationProviders(
                self.registry,
                self.interface,
                group=self.group,
                version=self.version,
                on_change=self._rebuild,
            )
            self._applications.start()
            self._rebuild()
            rules = rule_key(self.interface, self.group, self.version)
            key = f"{self.registry.root}/config/dubbo/{rules}"
            self._watches.append(
                self.registry.watch_data(f"{key}.configurators", self._on_configurators)
            )
            self._watches.append(
                self.registry.watch_data(f"{key}.condition-router", self._on_routers)
            )
            # last: when it raises, the registry has kept nothing of it
            if self._register_consumer:
                self.registry.register(self.consumer_url)
        except BaseException:
            self._release()
            raise
        return self

    def _release(self) -> None:
        """End the subscription and the watches."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._applications is not None:
            self._applications.close()
            self._applications = None
        for watch in self._watches:
            watch.close()
        self._watches.clear()

    def close(self) -> None:
        self._closed = True
        self._release()
        if self._register_consumer and self._consumer_url is not None:
            self.registry.unregister(self._consumer_url)
        with self._lock:
            for endpoint in self._endpoints.values():
                endpoint.close()
            self._endpoints.clear()
            self.picker.update(())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def stub(self, stub_class: Callable[[grpc.Channel], Any]) -> Any:
        """A generated grpcio stub whose calls go through this reference."""
        return stub_class(self.channel)

    @property
    def providers(self) -> tuple[DubboURL, ...]:
        """The providers calls may go to now (overrides applied, disabled ones left out)."""
        return tuple(e.url for e in self.picker.endpoints)

    # -- provider list ---------------------------------------------------------------------
    def _on_providers(self, _providers: tuple[DubboURL, ...]) -> None:
        self._rebuild()

    def _on_configurators(self, data: bytes | None) -> None:
        self._overrides = parse_configurators(data, self.where)
        self._rebuild()

    def _on_routers(self, data: bytes | None) -> None:
        self._routers = parse_condition_router(data, self.where)
        self._rebuild()

    def _route(self, method: str) -> tuple[Endpoint, ...]:
        """The endpoints the condition routers leave for `method` (cached until a change)."""
        if not self._routers:
            return self.picker.endpoints
        cache = self._routed
        routed = cache.get(method)
        if routed is None:
            endpoints = {e.url: e for e in self.picker.endpoints}
            # Dubbo's rules name Java methods (what Dubbo Admin lists): getOrder, not GetOrder
            java_method = method[:1].lower() + method[1:]
            kept = route(self._routers, java_method, self.consumer_url, list(endpoints))
            routed = cache[method] = tuple(endpoints[url] for url in kept)
        return routed

    def _rebuild(self) -> None:
        subscription = self._subscription
        if subscription is None or self._closed:
            return
        found = subscription.providers
        applications = self._applications  # a failed start() may release it meanwhile
        if applications is not None:  # the interface level wins for an address in both
            listed = {p.address for p in found}
            found += tuple(p for p in applications.providers if p.address not in listed)
        with self._lock:
            wanted: dict[str, DubboURL] = {}
            for provider in found:
                if provider.protocol != "tri":
                    self._warn_once(provider)
                    continue
                url = provider
                for override in self._overrides:
                    url = override.apply(url)
                if _disabled(url):
                    continue
                wanted[url.address] = url
            for address in set(self._endpoints) - set(wanted):
                self._endpoints.pop(address).close()
            for address, url in wanted.items():
                endpoint = self._endpoints.get(address)
                if endpoint is None:
                    self._endpoints[address] = Endpoint(url, self._channel_options)
                elif endpoint.url != url:
                    endpoint.reconfigure(url)
            self.picker.update(self._endpoints.values())
            self._routed = {}  # after the update: a lookup racing it caches into the old dict

    def _warn_once(self, url: DubboURL) -> None:
        if url.address not in self._warned:
            self._warned.add(url.address)
            log.warning(
                "provider %s of %s speaks only %s://, not Triple: skipped. Enable the tri"
                ' protocol on it (Dubbo 3: <dubbo:protocol name="tri"/> or'
                " dubbo.protocols.tri.name=tri)",
                url.address,
                self.interface,
                url.protocol,
            )

    # -- calling ---------------------------------------------------------------------------
    def invoke(
        self,
        method: str,
        call: Callable[[Endpoint, float, list[tuple[str, Any]]], Any],
        timeout: float | None,
        metadata: Sequence[tuple[str, str | bytes]] | None,
    ) -> Any:
        """Run `call(endpoint, seconds_left, metadata)` on a chosen provider, failing over."""
        started = time.perf_counter()
        now = time.monotonic()
        deadline = now + (self.timeout if timeout is None else timeout)
        inherited = call_deadline.get()
        if inherited is not None:
            deadline = min(deadline, inherited)
        outgoing: list[tuple[str, Any]] = (
            [*metadata, outgoing_trace()] if metadata else [outgoing_trace()]
        )
        attempts = 1 + self.retries
        retryable = self.retryable(method)
        tried: set[str] = set()
        status = "ok"
        try:
            while True:
                endpoint = self.picker.pick(tried, self._route(method))
                if endpoint is None:
                    if tried:  # every provider was tried once: start over while attempts remain
                        tried.clear()
                        continue
                    endpoint = self._wait_for_provider(deadline, method)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TripleCallError(
                        f"{self.interface}.{method}: deadline exceeded before a provider answered",
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        "deadline exceeded",
                        where=self.where,
                    )
                try:
                    response = call(endpoint, remaining, outgoing)
                except grpc.RpcError as exc:
                    code: grpc.StatusCode = exc.code()
                    details = str(exc.details() or "")
                    never_sent = code is grpc.StatusCode.UNAVAILABLE and any(
                        marker in details.lower() for marker in _NEVER_SENT
                    )
                    if never_sent:
                        endpoint.refused()
                    attempts -= 1
                    if attempts > 0 and (never_sent or (retryable and code in _RETRY_CODES)):
                        tried.add(endpoint.address)
                        continue
                    raise TripleCallError(
                        f"{self.interface}.{method} on {endpoint.address} failed with"
                        f" {code.name}: {details}",
                        code,
                        details,
                        where=self.where,
                    ) from None
                endpoint.answered()
                return response
        except TripleCallError as exc:
            status = status_label(exc.code())
            raise
        finally:
            if self._metrics is not None:
                self._timer(method, status).observe(time.perf_counter() - started)

    def _timer(self, method: str, status: str) -> Any:
        """The histogram child for (method, status), looked up once: `labels()` costs ~5 µs."""
        child = self._timers.get((method, status))
        if child is None:
            assert self._metrics is not None
            child = self._metrics.client_duration.labels(self.interface, method, status)
            self._timers[(method, status)] = child
        return child

    def _wait_for_provider(self, deadline: float, method: str) -> Endpoint:
        with self.picker.changed:
            while True:
                endpoint = self.picker.pick(set(), self._route(method))
                if endpoint is not None:
                    return endpoint
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    raise NoProviderCallError(
                        f"{self.interface}.{method}: no Triple provider of this interface"
                        f" (group {self.group or '-'}, version {self.version or '-'}) was"
                        " available within the call's deadline",
                        grpc.StatusCode.UNAVAILABLE,
                        "no provider available",
                        where=self.where,
                    )
                self.picker.changed.wait(remaining)


class _UnaryUnary(grpc.UnaryUnaryMultiCallable):  # type: ignore[type-arg]
    """What a generated stub's method is: a call through the reference's failover."""

    def __init__(
        self,
        reference: DubboReference,
        path: str,
        serializer: Callable[[Any], bytes] | None,
        deserializer: Callable[[bytes], Any] | None,
    ) -> None:
        self._reference = reference
        self._path = path
        self._method = path.rsplit("/", 1)[-1]
        self._serializer = serializer
        self._deserializer = deserializer

    def __call__(  # noqa: PLR0917 - grpc's signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        path, serializer, deserializer = self._path, self._serializer, self._deserializer

        def call(endpoint: Endpoint, remaining: float, outgoing: list[tuple[str, Any]]) -> Any:
            return endpoint.unary_unary(path, serializer, deserializer)(
                request, timeout=remaining, metadata=outgoing
            )

        return self._reference.invoke(self._method, call, timeout, metadata)

    def with_call(self, *args: Any, **kwargs: Any) -> Any:
        raise RpcError("with_call is not supported through a Dubbo reference", where=self._path)

    def future(self, *args: Any, **kwargs: Any) -> Any:
        raise RpcError("future is not supported through a Dubbo reference", where=self._path)


class ClusterChannel(grpc.Channel):
    """A `grpc.Channel` for generated stubs; unary calls go to the reference's providers."""

    def __init__(self, reference: DubboReference) -> None:
        self._reference = reference

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool | None = False,
    ) -> _UnaryUnary:
        return _UnaryUnary(self._reference, method, request_serializer, response_deserializer)

    def _streaming(self, method: str, *_args: Any, **_kwargs: Any) -> Any:
        raise RpcError("only unary calls go through a Dubbo reference", where=method)

    unary_stream = stream_unary = stream_stream = _streaming

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        raise RpcError("a Dubbo reference has no single connectivity state", where="subscribe")

    def unsubscribe(self, callback: Any) -> None:
        return None

    def close(self) -> None:
        self._reference.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _disabled(url: DubboURL) -> bool:
    """`RegistryDirectory.toInvokers`: ``disabled`` wins over ``enabled`` when present."""
    disabled = url.get("disabled")
    if disabled is not None:
        return disabled.lower() == "true"
    return not url.enabled
