"""`paas_sdk.init()`: one call that wires config, logs, metrics, registry and shutdown together.

Every part is optional and each subsystem still works alone; `init()` reads the service's
identity (`paas_sdk.context`) and the platform settings below from the environment, starts what is
configured, and returns the `Platform` that owns every thread and client it started.

Configuration comes from Apollo when ``APOLLO_META`` or ``APOLLO_CONFIG_SERVICE`` is set (with
Apollo's own variables, see `paas_sdk.config.open_config`), else from the local files in
``PAAS_CONFIG_DIR``. The rest:

- ``PAAS_ZOOKEEPER``: ZooKeeper connect string or ``zookeeper://`` address (unset: registry off)
- ``PAAS_ZOOKEEPER_USERNAME`` and ``PAAS_ZOOKEEPER_PASSWORD_FILE``: digest credentials, the
  password read from a file (a mounted Secret), so that registered nodes are this identity's only
- ``PAAS_ZOOKEEPER_ALLOW_OPEN_ACL``: ``true`` lets a production environment (``PAAS_ENV`` of
  ``pro``, ``prd``, ``prod`` or ``production``) register without ZooKeeper credentials, in
  world-writable nodes; elsewhere that is only warned about (``false``)
- ``PAAS_TRIPLE_PORT``: the port `triple_server()` serves Dubbo Triple (gRPC) on (``50051``)
- ``PAAS_KAFKA_BOOTSTRAP``: Kafka bootstrap servers for log shipping (unset: stdout only)
- ``PAAS_LOG_TOPIC``: the Kafka topic logs go to (``paas-logs``)
- ``PAAS_LOG_LEVEL``: root log level (``INFO``)
- ``PAAS_LOG_FORMAT``: ``json`` (ECS) or ``console`` on stdout; unset: console on a terminal,
  else ECS JSON (Kafka always gets ECS)
- ``PAAS_METRICS_PORT``: port of ``/metrics``, ``/healthz``, ``/readyz``; ``-1`` turns it off
  (``9464``)
- ``PAAS_METRICS_HOST``: the address that port listens on (``0.0.0.0``, all interfaces, as
  Prometheus exporters do; ``127.0.0.1`` keeps it to the pod)
- ``PAAS_WEB_CONFIG_FILE``: a Prometheus exporter-toolkit web config adding TLS and basic auth to
  those endpoints (unset: plain HTTP)
- ``PAAS_DRAIN_SECONDS``: how long to keep serving after deregistering on SIGTERM (``10``)
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paas_sdk._http_server import describe_listening
from paas_sdk._startup import app_id_source, require, unknown_variables
from paas_sdk._web_config import load_web_config
from paas_sdk.context import ServiceContext
from paas_sdk.errors import ConfigError, RegistryAuthError
from paas_sdk.lifecycle import Lifecycle
from paas_sdk.logs._servers import capture_uncaught, route_server_logs
from paas_sdk.metrics import (
    HealthEndpoints,
    MetricsServer,
    register_runtime_collectors,
    register_service_info,
)
from paas_sdk.metrics._multiprocess import (
    announce_worker,
    supervised_directory,
    use_multiprocess_values,
)

if TYPE_CHECKING:
    from google.protobuf.descriptor import ServiceDescriptor

    from paas_sdk.config import ApolloClient, FileConfigClient, TypedSettings
    from paas_sdk.logs import LoggingSetup
    from paas_sdk.registry import DubboURL, ZooKeeperRegistry
    from paas_sdk.rpc import DubboReference, TripleServer

M = TypeVar("M", bound=BaseModel)

__all__ = ["Platform", "PlatformSettings", "current", "init"]

_log = logging.getLogger("paas_sdk")
# Environment names meaning production (Apollo's own is PRO).
_PRODUCTION = frozenset({"pro", "prd", "prod", "production"})


class PlatformSettings(BaseSettings):
    """Which platform services this process uses; read from ``PAAS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="PAAS_", extra="ignore", frozen=True)

    zookeeper: str | None = None
    zookeeper_username: str | None = None
    zookeeper_password_file: Path | None = None
    zookeeper_allow_open_acl: bool = False
    triple_port: int = Field(default=50051, ge=1, le=65535)
    kafka_bootstrap: str | None = None
    log_topic: str = "paas-logs"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] | None = None  # unset: console on a terminal
    metrics_port: int = Field(default=9464, ge=-1, le=65535)
    metrics_host: str = "0.0.0.0"
    web_config_file: str | None = None
    drain_seconds: float = Field(default=10.0, ge=0)

    @property
    def console_logs(self) -> bool:
        """Whether stdout gets the console format: as set, else when stdout is a terminal."""
        return self.log_format == "console" if self.log_format else sys.stdout.isatty()

    @field_validator("zookeeper")
    @classmethod
    def _a_connect_string(cls, value: str | None) -> str | None:
        if value and "://" in value and not value.startswith("zookeeper://"):
            raise ValueError(
                "a ZooKeeper connect string is host:port[,host:port...][/chroot] "
                "(or zookeeper://host:port), not a URL"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def from_env(cls) -> PlatformSettings:
        """Read the settings; a malformed value raises `ConfigError` naming the variable."""
        try:
            return cls()
        except ValidationError as exc:
            first = exc.errors()[0]
            variable = "PAAS_" + str(first["loc"][0]).upper() if first["loc"] else "PAAS_*"
            raise ConfigError(
                f"{str(first['msg']).removeprefix('Value error, ')}, got {first.get('input')!r}",
                where=variable,
            ) from None


class Platform:
    """Everything `init()` started, and the one `shutdown()` that stops it in order."""

    def __init__(
        self,
        context: ServiceContext,
        settings: PlatformSettings,
        *,
        metrics_registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.context = context
        self.settings = settings
        self.metrics_registry = metrics_registry
        self.lifecycle = Lifecycle(drain_seconds=settings.drain_seconds)
        self.registry: ZooKeeperRegistry | None = None
        self.config: ApolloClient | FileConfigClient | None = None
        self.logging: LoggingSetup | None = None
        self.endpoints = HealthEndpoints(
            registry=metrics_registry, readiness_checks=self.lifecycle.readiness_checks()
        )
        self.metrics_server: MetricsServer | None = None
        self._triple_servers: list[TripleServer] = []
        self._config_source = "not loaded"

    # -- what a service calls ------------------------------------------------------------------
    def typed_settings(self, model: type[M], *, namespaces: Iterable[str] = ()) -> TypedSettings[M]:
        """`model` bound to the config (all loaded namespaces unless named), kept current."""
        from paas_sdk.config import TypedSettings

        if self.config is None:
            raise ConfigError("init() was told not to load configuration", where=model.__name__)
        return TypedSettings(model, self.config, namespaces=list(namespaces) or None)

    def triple_server(
        self,
        *,
        port: int | None = None,
        group: str | None = None,
        version: str | None = None,
        grace_seconds: float = 10.0,
        **options: Any,
    ) -> TripleServer:
        """A Dubbo Triple (gRPC) server for this service, not yet started.

        Add protobuf services to it and `start()` it: it registers in this platform's ZooKeeper
        (if any) as the app ``PAAS_APP_ID`` at the pod's address, on ``PAAS_TRIPLE_PORT`` unless
        `port` is given. On shutdown it is deregistered first, keeps answering through the
        drain, then stops accepting and gives in-flight calls `grace_seconds`.
        """
        from paas_sdk.rpc import TripleServer

        server = TripleServer(
            application=self.context.app_id,
            port=port or self.settings.triple_port,
            host=self.advertised_host,
            registry=self.registry,
            group=group,
            version=version,
            metrics=self.metrics_registry,
            **options,
        )
        self._triple_servers.append(server)
        self.lifecycle.on_deregister(f"triple :{server.port}", server.deregister)
        self.lifecycle.on_stop(
            f"triple :{server.port}",
            lambda: server.stop(grace=grace_seconds),
            timeout=grace_seconds + 5,
            first=True,
        )
        return server

    def dubbo_reference(
        self,
        service: ServiceDescriptor | str,
        *,
        group: str | None = None,
        version: str | None = None,
        retryable: Iterable[str] | bool = (),
        **options: Any,
    ) -> DubboReference:
        """A started `DubboReference` to a Dubbo interface, found in this platform's ZooKeeper.

        Calls carry this service's name (``PAAS_APP_ID``) and are timed in the platform's
        metrics; the reference is closed when the platform stops. Needs ``PAAS_ZOOKEEPER``.
        """
        from paas_sdk.rpc import DubboReference

        if self.registry is None:
            raise ConfigError(
                "calling Dubbo services needs the registry: set PAAS_ZOOKEEPER",
                where="PAAS_ZOOKEEPER",
            )
        reference = DubboReference(
            self.registry,
            service,
            application=self.context.app_id,
            group=group,
            version=version,
            retryable=retryable,
            metrics=self.metrics_registry,
            host=self.advertised_host,
            **options,
        ).start()
        self.lifecycle.on_stop(
            f"dubbo reference {reference.interface}", reference.close, first=True
        )
        return reference

    def expose(
        self,
        interface: str,
        *,
        methods: Iterable[str] = (),
        group: str | None = None,
        version: str | None = None,
        port: int | None = None,
    ) -> DubboURL:
        """The registration of `interface`, which a started `triple_server()` must serve.

        Only what this process really serves is registered: asking for an interface (or a
        port) no Triple server of this platform serves raises `ConfigError`, because a Dubbo
        consumer resolving that registration would fail every call.
        """
        del methods  # the served service's descriptor lists them
        wanted = port or self.settings.triple_port
        for server in self._triple_servers:
            for url in server.urls:
                if (
                    url.interface == interface
                    and server.port == wanted
                    and url.group == group
                    and url.version == version
                ):
                    return url
        served = [f"{u.interface} on :{s.port}" for s in self._triple_servers for u in s.urls]
        raise ConfigError(
            f"no Triple server of this platform serves {interface} on port {wanted}"
            + (f" (it serves {', '.join(served)})" if served else "")
            + "; a Dubbo registration is made only for a protocol and port the process serves:"
            " serve the protobuf service with platform.triple_server()",
            where=interface,
        )

    @property
    def advertised_host(self) -> str:
        """The address consumers reach this process at: the pod IP, else the host's address."""
        if self.context.pod_ip:
            return self.context.pod_ip
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"

    def ready(self) -> bool:
        return self.lifecycle.ready()

    def shutdown(self, reason: str = "requested", *, drain: bool = True) -> None:
        """Deregister, drain, then stop endpoints, config, registry and logs, in that order.

        `drain=False` when the server has already stopped accepting (an integration's exit hook).
        """
        self.lifecycle.shutdown(reason, drain=drain)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until shutdown has finished (for example after SIGTERM)."""
        return self.lifecycle.wait(timeout)

    def _add_readiness(self, name: str, check: Callable[[], bool]) -> None:
        self.lifecycle.add_readiness(name, check)
        self.endpoints.add_readiness_check(name, check)

    # -- starting --------------------------------------------------------------------------
    def _start(
        self, *, configure_logging: bool, load_config: bool, install_signal_handlers: bool
    ) -> None:
        if self.settings.kafka_bootstrap and configure_logging:
            require("confluent_kafka", "PAAS_KAFKA_BOOTSTRAP")
        if self.settings.zookeeper:
            require("kazoo", "PAAS_ZOOKEEPER")
        # logging first, so that what config and the registry say on start is ECS (and shipped)
        if configure_logging:
            self._start_logging()
        pod = supervised_directory()  # a worker: the supervisor serves the pod's endpoints
        if pod is not None:
            use_multiprocess_values()  # before the first metric below is created
            # the first deregistration step: the pod's /readyz turns at once
            self.lifecycle.on_deregister("pod readiness", lambda: announce_worker(pod, False))
        register_service_info(self.context, self.metrics_registry)
        if self.metrics_registry is not REGISTRY:  # the default one has them already
            register_runtime_collectors(self.metrics_registry)
        if load_config:
            self._start_config()
        if self.settings.zookeeper:
            self._start_registry(self.settings.zookeeper)
        if pod is None and self.settings.metrics_port >= 0:
            server = serve_endpoints(self.endpoints, self.settings)
            self.metrics_server = server
            self.lifecycle.on_stop("metrics endpoints", server.close)
        if self.logging is not None:
            # last: whatever the other parts log while stopping is still shipped
            self.lifecycle.on_stop("logs", self.logging.close, last=True)
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            self.lifecycle.install_signal_handlers()
        if pod is not None:
            announce_worker(pod, serving=True)
        self._report_start(pod)

    def _report_start(self, pod: str | None) -> None:
        """One summary line, and a warning for each fallback the process started on."""
        environ = os.environ
        known = {"PAAS_" + name.upper() for name in PlatformSettings.model_fields}
        for warning in unknown_variables(known, environ):
            _log.warning(warning)
        source = app_id_source(environ)
        if source == "the program's name":
            _log.warning(
                "app id %r is the program's name: set PAAS_APP_ID (or Apollo's APP_ID)",
                self.context.app_id,
            )
        if self.registry is not None and self.advertised_host.startswith("127."):
            _log.warning(
                "registering %s in ZooKeeper, which only this machine can reach: set POD_IP",
                self.advertised_host,
            )
        if pod is not None:
            endpoints = "served by the supervisor"
        elif self.metrics_server is not None:
            endpoints = f"port {self.metrics_server.port}"
        else:
            endpoints = "off"
        sinks = "stdout" + (
            f", Kafka {self.settings.kafka_bootstrap}"
            if self.logging and self.logging.kafka_handler
            else ""
        )
        _log.info(
            "paas_sdk started: app %s (from %s), config %s, endpoints %s, registry %s, logs %s",
            self.context.app_id,
            source,
            self._config_source,
            endpoints,
            self.settings.zookeeper or "off",
            sinks if self.logging is not None else "the process's own",
        )

    def _start_logging(self) -> None:
        from paas_sdk.logs import configure_logging

        options: dict[str, Any] = {}
        if self.settings.kafka_bootstrap:
            options["registry"] = self.metrics_registry
        self.logging = configure_logging(
            self.context,
            kafka_bootstrap=self.settings.kafka_bootstrap,
            topic=self.settings.log_topic,
            level=self.settings.log_level,
            console=self.settings.console_logs,
            **options,
        )
        route_server_logs()  # gunicorn's, uvicorn's and Django's own lines through the same
        self.lifecycle.on_stop("uncaught exceptions", capture_uncaught(), last=True)
        # httpx logs every request at INFO, the config client's long polls included: a line per
        # poll per process would drown the service's own records in Kafka and Elasticsearch.
        for noisy in ("httpx", "httpcore"):
            if logging.getLogger(noisy).level == logging.NOTSET:
                logging.getLogger(noisy).setLevel(logging.WARNING)

    def _start_config(self) -> None:
        from pathlib import Path

        from paas_sdk.config import FileConfigClient, open_config

        apollo = os.environ.get("APOLLO_CONFIG_SERVICE") or os.environ.get("APOLLO_META")
        directory = os.environ.get("PAAS_CONFIG_DIR", "config")
        client: ApolloClient | FileConfigClient
        if not apollo and "PAAS_CONFIG_DIR" not in os.environ and not Path(directory).is_dir():
            # nothing configured (a first try in an empty directory): the models' defaults, and
            # config/application.properties is read as soon as it appears
            _log.warning(
                "no configuration source: settings take their models' defaults; set "
                "PAAS_CONFIG_DIR to a directory of .properties/.json/.yaml files, or APOLLO_META"
            )
            empty = Path(directory, "application.properties")
            client = FileConfigClient([empty], metrics=self.metrics_registry, missing_ok=True)
            self._config_source = "none (the models' defaults)"
        else:
            client = open_config(self.context.app_id, metrics=self.metrics_registry)
            self._config_source = f"Apollo {apollo}" if apollo else f"files in {directory}"
        client.start()
        self.config = client
        self._add_readiness("config", lambda: client.loaded)
        self.lifecycle.on_stop("config", client.close)

    def _start_registry(self, address: str) -> None:
        from paas_sdk.registry import ZooKeeperRegistry

        environment = self.context.environment
        production = environment.lower() in _PRODUCTION
        options: dict[str, Any] = {
            "metrics": self.metrics_registry,
            "retry_in_background": True,
            "refuse_open_acl": production and not self.settings.zookeeper_allow_open_acl,
        }
        if self.settings.zookeeper_username:
            options["username"] = self.settings.zookeeper_username
            options["password"] = self._zookeeper_password()
        registry = (
            ZooKeeperRegistry.from_address(address, **options)
            if address.startswith("zookeeper://")
            else ZooKeeperRegistry(address, **options)
        )
        try:
            registry.start()
        except RegistryAuthError as error:
            if not registry.refuse_open_acl:
                raise
            raise ConfigError(
                f"{error}; refused because PAAS_ENV={environment} is production "
                "(PAAS_ZOOKEEPER_ALLOW_OPEN_ACL=true accepts it)",
                where="PAAS_ZOOKEEPER",
            ) from None
        self.registry = registry
        self._add_readiness(
            "registry", lambda: not any(s.urls for s in self._triple_servers) or registry.registered
        )
        self.lifecycle.on_deregister("registry", registry.unregister_all)
        self.lifecycle.on_stop("registry", registry.close)

    def _zookeeper_password(self) -> SecretStr:
        path = self.settings.zookeeper_password_file
        if path is None:
            raise ConfigError(
                "PAAS_ZOOKEEPER_USERNAME needs PAAS_ZOOKEEPER_PASSWORD_FILE",
                where="PAAS_ZOOKEEPER_PASSWORD_FILE",
            )
        try:
            return SecretStr(path.read_text().strip())
        except OSError as error:
            raise ConfigError(
                f"cannot read the ZooKeeper password: {error.strerror}",
                where=f"PAAS_ZOOKEEPER_PASSWORD_FILE={path}",
            ) from None


def serve_endpoints(endpoints: HealthEndpoints, settings: PlatformSettings) -> MetricsServer:
    """Start `endpoints` where the settings say (host, port, TLS and basic auth) and log where."""
    web_config = load_web_config(settings.web_config_file)
    server = MetricsServer(
        endpoints, host=settings.metrics_host, port=settings.metrics_port, web_config=web_config
    )
    server.start()
    _log.info(
        "metrics endpoints on %s",
        describe_listening(settings.metrics_host, server.port, web_config),
    )
    return server


_current: Platform | None = None
_current_lock = threading.Lock()


def current() -> Platform | None:
    """The platform `init()` started in this process, while it runs (not yet shut down)."""
    platform = _current
    return platform if platform is not None and not platform.lifecycle.finished else None


def init(
    *,
    context: ServiceContext | None = None,
    settings: PlatformSettings | None = None,
    metrics_registry: CollectorRegistry = REGISTRY,
    configure_logging: bool = True,
    load_config: bool = True,
    install_signal_handlers: bool = True,
) -> Platform:
    """Start the SDK for this process and return the `Platform` that owns it.

    Every part can be left out: `configure_logging=False` keeps the process's own logging,
    `load_config=False` loads no configuration; the registry starts only with ``PAAS_ZOOKEEPER``,
    Kafka shipping only with ``PAAS_KAFKA_BOOTSTRAP``, the endpoints unless
    ``PAAS_METRICS_PORT=-1``. Idempotent: while a platform is running, calling `init()` again
    returns it; after its `shutdown()` a new call starts afresh.
    """
    global _current  # noqa: PLW0603 - the one documented process-wide platform
    with _current_lock:
        if _current is not None and not _current.lifecycle.shutting_down:
            return _current
        platform = Platform(
            context or ServiceContext.from_env(),
            settings or PlatformSettings.from_env(),
            metrics_registry=metrics_registry,
        )
        try:
            platform._start(
                configure_logging=configure_logging,
                load_config=load_config,
                install_signal_handlers=install_signal_handlers,
            )
        except BaseException:
            platform.shutdown("start failed", drain=False)
            raise
        _current = platform
        return platform
