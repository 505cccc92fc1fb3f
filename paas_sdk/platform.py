"""`paas_sdk.init()`: one call that wires config, logs, metrics, registry and shutdown together.

Every part is optional and each subsystem still works alone; `init()` reads the service's
identity (`paas_sdk.context`) and the platform settings below from the environment, starts what is
configured, and returns the `Platform` that owns every thread and client it started.

Configuration comes from Apollo when ``APOLLO_META`` or ``APOLLO_CONFIG_SERVICE`` is set (with
Apollo's own variables, see `paas_sdk.config.open_config`), else from the local files in
``PAAS_CONFIG_DIR``. The rest:

- ``PAAS_ZOOKEEPER``: ZooKeeper connect string or ``zookeeper://`` address (unset: registry off)
- ``PAAS_DUBBO_PORT``: the port registered for exposed Dubbo services (``20880``)
- ``PAAS_KAFKA_BOOTSTRAP``: Kafka bootstrap servers for log shipping (unset: stdout only)
- ``PAAS_LOG_TOPIC``: the Kafka topic logs go to (``paas-logs``)
- ``PAAS_LOG_LEVEL``: root log level (``INFO``)
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
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paas_sdk._http_server import describe_listening
from paas_sdk._web_config import load_web_config
from paas_sdk.context import ServiceContext
from paas_sdk.errors import ConfigError
from paas_sdk.lifecycle import Lifecycle
from paas_sdk.metrics import (
    HealthEndpoints,
    MetricsServer,
    register_runtime_collectors,
    register_service_info,
)

if TYPE_CHECKING:
    from paas_sdk.config import ApolloClient, FileConfigClient, TypedSettings
    from paas_sdk.logs import LoggingSetup
    from paas_sdk.registry import DubboURL, ZooKeeperRegistry

M = TypeVar("M", bound=BaseModel)

__all__ = ["Platform", "PlatformSettings", "init"]

_log = logging.getLogger("paas_sdk")


class PlatformSettings(BaseSettings):
    """Which platform services this process uses; read from ``PAAS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="PAAS_", extra="ignore", frozen=True)

    zookeeper: str | None = None
    dubbo_port: int = Field(default=20880, ge=1, le=65535)
    kafka_bootstrap: str | None = None
    log_topic: str = "paas-logs"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    metrics_port: int = Field(default=9464, ge=-1, le=65535)
    metrics_host: str = "0.0.0.0"
    web_config_file: str | None = None
    drain_seconds: float = Field(default=10.0, ge=0)

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
                f"{first['msg']}, got {first.get('input')!r}", where=variable
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
        self._exposed: list[DubboURL] = []

    # -- what a service calls ------------------------------------------------------------------
    def typed_settings(self, model: type[M], *, namespaces: Iterable[str] = ()) -> TypedSettings[M]:
        """`model` bound to the config (all loaded namespaces unless named), kept current."""
        from paas_sdk.config import TypedSettings

        if self.config is None:
            raise ConfigError("init() was told not to load configuration", where=model.__name__)
        return TypedSettings(model, self.config, namespaces=list(namespaces) or None)

    def expose(
        self,
        interface: str,
        *,
        methods: Iterable[str] = (),
        group: str | None = None,
        version: str | None = None,
        port: int | None = None,
    ) -> DubboURL:
        """Register a Dubbo provider for `interface` at this pod's address (no-op without ZK)."""
        from paas_sdk.registry import DubboURL

        url = DubboURL.provider(
            interface,
            self.advertised_host,
            port or self.settings.dubbo_port,
            application=self.context.app_id,
            methods=methods,
            group=group,
            version=version,
        )
        self._exposed.append(url)
        if self.registry is not None:
            self.registry.register(url)
        return url

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

    def shutdown(self, reason: str = "requested") -> None:
        """Deregister, drain, then stop logs, config, registry and endpoints, in that order."""
        self.lifecycle.shutdown(reason)

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
        # logging first, so that what config and the registry say on start is ECS (and shipped)
        if configure_logging:
            self._start_logging()
        register_service_info(self.context, self.metrics_registry)
        if self.metrics_registry is not REGISTRY:  # the default one has them already
            register_runtime_collectors(self.metrics_registry)
        if load_config:
            self._start_config()
        if self.settings.zookeeper:
            self._start_registry(self.settings.zookeeper)
        if self.settings.metrics_port >= 0:
            web_config = load_web_config(self.settings.web_config_file)
            server = MetricsServer(
                self.endpoints,
                host=self.settings.metrics_host,
                port=self.settings.metrics_port,
                web_config=web_config,
            )
            server.start()
            _log.info(
                "metrics endpoints on %s",
                describe_listening(self.settings.metrics_host, server.port, web_config),
            )
            self.metrics_server = server
            self.lifecycle.on_stop("metrics endpoints", server.close)
        if self.logging is not None:
            # last: whatever the other parts log while stopping is still shipped
            self.lifecycle.on_stop("logs", self.logging.close)
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            self.lifecycle.install_signal_handlers()

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
            **options,
        )
        # httpx logs every request at INFO, the config client's long polls included: a line per
        # poll per process would drown the service's own records in Kafka and Elasticsearch.
        for noisy in ("httpx", "httpcore"):
            if logging.getLogger(noisy).level == logging.NOTSET:
                logging.getLogger(noisy).setLevel(logging.WARNING)

    def _start_config(self) -> None:
        from paas_sdk.config import open_config

        client = open_config(self.context.app_id, metrics=self.metrics_registry)
        client.start()
        self.config = client
        self._add_readiness("config", lambda: client.loaded)
        self.lifecycle.on_stop("config", client.close)

    def _start_registry(self, address: str) -> None:
        from paas_sdk.registry import ZooKeeperRegistry

        options: dict[str, Any] = {"metrics": self.metrics_registry, "retry_in_background": True}
        registry = (
            ZooKeeperRegistry.from_address(address, **options)
            if address.startswith("zookeeper://")
            else ZooKeeperRegistry(address, **options)
        )
        registry.start()
        self.registry = registry
        self._add_readiness("registry", lambda: not self._exposed or registry.registered)
        self.lifecycle.on_deregister("registry", registry.unregister_all)
        self.lifecycle.on_stop("registry", registry.close)


_current: Platform | None = None
_current_lock = threading.Lock()


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
            platform.shutdown("start failed")
            raise
        _current = platform
        return platform
