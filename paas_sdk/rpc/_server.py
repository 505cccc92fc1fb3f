"""Serving protobuf services over Triple with grpcio, registered as a Java Dubbo 3.3 IDL provider.

grpcio keeps the wire and the server loop; this adds the Dubbo membership: the interface-level
``tri://`` leaf under ``/dubbo/<interface>/providers`` with the parameters a Java Triple provider
writes, and the application-level instance (``/services/<app>/<ip:port>``, endpoints
``[{"port": ..., "protocol": "tri"}]``), so Java consumers in either discovery mode call it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

import grpc
import grpc.aio
from prometheus_client import REGISTRY, CollectorRegistry

from paas_sdk.errors import RegistryError, RpcError
from paas_sdk.metrics import RpcMetrics
from paas_sdk.registry import ApplicationInstance, DubboURL, ZooKeeperRegistry
from paas_sdk.rpc._service import TripleService
from paas_sdk.rpc._telemetry import AsyncServerTelemetry, ServerTelemetry

__all__ = ["AsyncTripleServer", "TripleServer", "triple_provider_url"]

log = logging.getLogger("paas_sdk.rpc")

# Triple's default port in Dubbo (`ProtocolConfig("tri")`)
TRIPLE_PORT = 50051

AddToServer = Callable[[Any, Any], None]


def _options(options: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """grpcio binds with SO_REUSEPORT by default: a second server on a taken port would share
    its calls silently. Off unless asked for, so a taken port is an error."""
    given = list(options)
    if not any(name == "grpc.so_reuseport" for name, _ in given):
        given.append(("grpc.so_reuseport", 0))
    return given


def triple_provider_url(
    service: TripleService,
    host: str,
    port: int,
    *,
    application: str,
    group: str | None = None,
    version: str | None = None,
    weight: int | None = None,
    timestamp_ms: int | None = None,
) -> DubboURL:
    """The ``tri://`` URL a Dubbo 3.3 Java provider of this IDL service registers.

    Read from a Java provider's leaf: path is the gRPC service name, ``interface`` the Java
    interface; no ``pid`` and no ``serialization`` (protobuf is implied by the stub).
    """
    return DubboURL.provider(
        service.interface,
        host,
        port,
        application=application,
        methods=service.java_methods,
        group=group,
        version=version,
        protocol="tri",
        serialization=None,
        weight=weight,
        timestamp_ms=timestamp_ms,
        parameters={
            "pid": None,
            "prefer.serialization": "hessian2,fastjson2",
            "proxy": "nativestub",
            # Java writes the service version again as `revision` when one is set
            "revision": version,
            "service-name-mapping": "true",
        },
        path=service.name,
    )


class _Membership:
    """The registrations of one server: its tri:// URLs and its application instance."""

    def __init__(
        self,
        registry: ZooKeeperRegistry | None,
        application: str,
        host: str,
        port: int,
        *,
        group: str | None,
        version: str | None,
        weight: int | None,
        register_mode: str,
    ) -> None:
        if register_mode not in ("all", "interface", "instance"):
            raise RpcError(
                f"register_mode {register_mode!r} is not one of all, interface, instance",
                where="register_mode",
            )
        self.registry = registry
        self.application = application
        self.host = host
        self.port = port
        self.group = group
        self.version = version
        self.weight = weight
        self.register_mode = register_mode
        self.services: list[TripleService] = []
        self.urls: tuple[DubboURL, ...] = ()
        self._instance: ApplicationInstance | None = None

    def add(self, service: TripleService) -> None:
        if any(s.name == service.name for s in self.services):
            raise RpcError("this service is already added", where=service.name)
        self.services.append(service)

    def register(self) -> None:
        if not self.services:
            raise RpcError(
                "no service was added: call add_service() before start()",
                where=f"{self.host}:{self.port}",
            )
        self.urls = tuple(
            triple_provider_url(
                s,
                self.host,
                self.port,
                application=self.application,
                group=self.group,
                version=self.version,
                weight=self.weight,
            )
            for s in self.services
        )
        if self.registry is None:
            return
        registered: list[DubboURL] = []
        try:
            if self.register_mode != "instance":
                for url in self.urls:
                    self.registry.register(url)
                    registered.append(url)
            if self.register_mode != "interface":
                instance = ApplicationInstance(
                    self.registry, self.application, self.host, self.port, self.urls
                )
                try:
                    instance.register()
                    self._instance = instance
                except RegistryError as exc:  # interface-level consumers still find us
                    log.warning("application-level registration skipped: %s", exc)
        except BaseException:
            # The server is not started after all: a URL left registered stays wanted and is
            # re-created after every new session, sending consumers to a closed port.
            for url in registered:
                try:
                    self.registry.unregister(url)
                except Exception as exc:  # the failure that brought us here is the one to raise
                    log.warning("unregistering %s after a failed start failed: %r", url, exc)
            raise
        log.info(
            "serving %s over Triple on %s:%d",
            ", ".join(s.interface for s in self.services),
            self.host,
            self.port,
        )

    def deregister(self) -> None:
        if self.registry is None:
            return
        if self._instance is not None:
            self._instance.unregister()
        for url in self.urls:
            self.registry.unregister(url)

    def interfaces(self) -> dict[str, str]:
        return {s.name: s.interface for s in self.services}


class _RecordingServer:
    """Stands in for the grpc server while a generated ``add_..._to_server`` runs, to learn the
    service name it registers (the descriptor names the Dubbo interface)."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self.names: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Iterable[Any]) -> None:
        handlers = tuple(handlers)
        for handler in handlers:
            name = getattr(handler, "service_name", None)
            if callable(name):
                self.names.append(str(name()))
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.names.append(service)
        self._server.add_registered_method_handlers(service, handlers)


class _TripleServerBase:
    """What both servers share: the Dubbo membership, binding, and adding generated services."""

    def __init__(
        self,
        *,
        application: str,
        port: int = TRIPLE_PORT,
        host: str | None = None,
        bind: str = "[::]",
        registry: ZooKeeperRegistry | None = None,
        group: str | None = None,
        version: str | None = None,
        weight: int | None = None,
        metrics: CollectorRegistry | None = REGISTRY,
        interceptors: Sequence[Any] = (),
        options: Sequence[tuple[str, Any]] = (),
        register_mode: str = "all",
    ) -> None:
        if not 0 < port < 65536:
            raise RpcError(f"port {port} is out of range", where=type(self).__name__)
        self.port = port
        self.bind = bind
        self.metrics = RpcMetrics.of(metrics) if metrics is not None else None
        self.membership = _Membership(
            registry,
            application,
            host or _advertised_host(),
            port,
            group=group,
            version=version,
            weight=weight,
            register_mode=register_mode,
        )
        self._interfaces: dict[str, str] = {}
        self._started = False
        self.grpc_server: Any = self._create(list(interceptors), _options(options))

    def _create(self, interceptors: list[Any], options: list[tuple[str, Any]]) -> Any:
        raise NotImplementedError

    @property
    def urls(self) -> tuple[DubboURL, ...]:
        """The tri:// URLs registered (after `start()`)."""
        return self.membership.urls

    @property
    def address(self) -> str:
        return f"{self.membership.host}:{self.port}"

    def add_service(self, add_to_server: AddToServer, servicer: object) -> TripleService:
        """Add a servicer with its generated ``add_<Service>Servicer_to_server`` function."""
        recorder = _RecordingServer(self.grpc_server)
        add_to_server(servicer, recorder)
        if not recorder.names:
            raise RpcError(
                "the function added no gRPC service; pass a generated add_..._to_server",
                where=getattr(add_to_server, "__name__", repr(add_to_server)),
            )
        service = TripleService.of(recorder.names[0])
        self.membership.add(service)
        self._interfaces[service.name] = service.interface
        return service

    def _bind(self) -> None:
        target = f"{self.bind}:{self.port}"
        try:
            bound = self.grpc_server.add_insecure_port(target)
        except RuntimeError as exc:
            raise RpcError(f"cannot listen: {exc}", where=target) from None
        if bound == 0:
            raise RpcError("cannot listen: the port is in use or not allowed", where=target)

    def deregister(self) -> None:
        """Remove the registrations (graceful shutdown's first step); keep serving."""
        self.membership.deregister()


class TripleServer(_TripleServerBase):
    """A grpcio server whose protobuf services Java Dubbo consumers find in ZooKeeper and call.

    >>> server = TripleServer(application="order-service", port=50051, registry=registry)
    >>> server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, OrderServicer())
    >>> server.start()                      # listens, then registers tri:// and the instance
    >>> server.stop(grace=10)               # deregisters, then drains in-flight calls

    `host` is the address consumers dial (the pod IP; default: this host's address);
    `bind` the listening address; `max_workers` the size of the thread pool serving calls.
    `register_mode` is Dubbo's ``dubbo.application.register-mode``: ``all`` (interface-level
    leaves and the application instance, Dubbo 3's default), ``interface`` or ``instance``.
    Metrics and trace context come from an interceptor that runs before any of `interceptors`.
    """

    def __init__(self, *, max_workers: int = 16, **options: Any) -> None:
        self.max_workers = max_workers
        super().__init__(**options)

    def _create(self, interceptors: list[Any], options: list[tuple[str, Any]]) -> Any:
        return grpc.server(
            ThreadPoolExecutor(self.max_workers, thread_name_prefix="paas-rpc"),
            interceptors=[ServerTelemetry(self.metrics, self._interfaces), *interceptors],
            options=options,
        )

    def start(self) -> Self:
        """Listen, start serving, then register (so nobody is sent to a port not yet open)."""
        self._bind()
        self.grpc_server.start()
        self._started = True
        try:
            self.membership.register()
        except BaseException:
            self.grpc_server.stop(None)
            raise
        return self

    def stop(self, grace: float | None = 10.0) -> None:
        """Deregister, then stop accepting and give in-flight calls `grace` seconds."""
        self.deregister()
        if self._started:
            self.grpc_server.stop(grace).wait()
            self._started = False

    def wait(self, timeout: float | None = None) -> bool:
        return bool(self.grpc_server.wait_for_termination(timeout))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop(grace=None)


class AsyncTripleServer(_TripleServerBase):
    """`TripleServer` on `grpc.aio`: ``await server.start()``, ``await server.stop(grace)``.

    Takes the same keywords as `TripleServer` but `max_workers` (calls run on the event loop).
    """

    def _create(self, interceptors: list[Any], options: list[tuple[str, Any]]) -> Any:
        return grpc.aio.server(
            interceptors=[AsyncServerTelemetry(self.metrics, self._interfaces), *interceptors],
            options=options,
        )

    async def start(self) -> Self:
        self._bind()
        await self.grpc_server.start()
        self._started = True
        try:
            self.membership.register()
        except BaseException:
            await self.grpc_server.stop(None)
            raise
        return self

    async def stop(self, grace: float | None = 10.0) -> None:
        self.deregister()
        if self._started:
            await self.grpc_server.stop(grace)
            self._started = False


def _advertised_host() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
