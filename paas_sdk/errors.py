"""The exceptions every part of paas_sdk raises, in one tree.

Each error says what failed and where (a URL, a file, an environment variable, a ZooKeeper path),
and never carries a secret::

    PaasError
     ├── ContextError              a malformed identity variable (PAAS_APP_ID, POD_IP, ...)
     ├── ConfigError               configuration could not be loaded or bound
     │    ├── ConfigSourceError    the config service or a local file cannot be read
     │    │    ├── ConfigAuthError         the access-key signature was rejected (401)
     │    │    └── NamespaceNotFoundError  the namespace does not exist (404)
     │    ├── ConfigFormatError    a namespace's content does not parse (properties/JSON/YAML/XML)
     │    └── ConfigValidationError  values do not fit the typed settings model
     ├── RegistryError             Dubbo registration or discovery in ZooKeeper
     │    ├── InvalidDubboURLError a URL or a value that Dubbo cannot carry
     │    ├── RegistryConnectionError  ZooKeeper could not be reached in time
     │    └── RegistryAuthError    digest credentials or ACLs were refused
     ├── RpcError                  a Triple (gRPC) service cannot be served or called
     │    ├── NoProviderError      no provider of the interface could be reached in time
     │    └── TripleCallError      (paas_sdk.rpc) a failed call, also a `grpc.RpcError`
     ├── LogShippingError          the Kafka log handler cannot be set up
     ├── LogIndexingError          `paas-logs` cannot set up or feed Elasticsearch
     ├── ExporterError             paas-exporter
     │    ├── ExporterConfigError  the exporter's YAML config is invalid
     │    └── UpstreamError        Harbor, Jenkins or Spinnaker answered badly or not at all
     ├── DashboardError            paas-dash: a dashboard or rule cannot be built or linted
     │    ├── GrafanaError         the Grafana API refused or failed a request
     │    └── KubernetesError      the Kubernetes API server refused or failed a request
     └── HarnessError              a test server (ZooKeeper, Kafka, ...) cannot be set up or started

A `PaasError` is meant to be shown to a person as it is: `str(error)` is the whole message.
"""

from __future__ import annotations

__all__ = [
    "ConfigAuthError",
    "ConfigError",
    "ConfigFormatError",
    "ConfigSourceError",
    "ConfigValidationError",
    "ContextError",
    "DashboardError",
    "ExporterConfigError",
    "ExporterError",
    "GrafanaError",
    "HarnessError",
    "InvalidDubboURLError",
    "KubernetesError",
    "LogIndexingError",
    "LogShippingError",
    "NamespaceNotFoundError",
    "NoProviderError",
    "PaasError",
    "RegistryAuthError",
    "RegistryConnectionError",
    "RegistryError",
    "RpcError",
    "UpstreamError",
]


class PaasError(Exception):
    """Base of every error paas_sdk raises; `where` names the file, URL, path or variable."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ContextError(PaasError):
    """An identity environment variable holds a value that cannot be used."""


class ConfigError(PaasError):
    """Configuration could not be loaded or bound."""


class ConfigSourceError(ConfigError):
    """The config service or a local config file cannot be read."""


class ConfigAuthError(ConfigSourceError):
    """The config service rejected the request's access-key signature."""


class NamespaceNotFoundError(ConfigSourceError):
    """The requested namespace does not exist for this app, cluster and environment."""


class ConfigFormatError(ConfigError):
    """A namespace's content does not parse in its declared format."""


class ConfigValidationError(ConfigError):
    """Configuration values do not fit the typed settings model."""


class RegistryError(PaasError):
    """Dubbo registration or discovery in ZooKeeper failed."""


class InvalidDubboURLError(RegistryError):
    """A Dubbo URL, or a value to put in one, that Dubbo cannot carry."""


class RegistryConnectionError(RegistryError):
    """ZooKeeper could not be reached within the configured wait."""


class RegistryAuthError(RegistryError):
    """ZooKeeper refused the digest credentials or the ACLs."""


class RpcError(PaasError):
    """A Triple (gRPC) service could not be served or called."""


class NoProviderError(RpcError):
    """No provider of the interface (group, version) could be reached within the wait."""


class LogShippingError(PaasError):
    """The Kafka log handler cannot be set up (logging calls themselves never raise)."""


class LogIndexingError(PaasError):
    """`paas-logs` cannot set up or feed Elasticsearch."""


class ExporterError(PaasError):
    """paas-exporter cannot run."""


class ExporterConfigError(ExporterError):
    """The exporter's YAML config is invalid."""


class UpstreamError(ExporterError):
    """Harbor, Jenkins or Spinnaker answered with an error, garbage, or not at all.

    `reason` is one of a fixed set for metrics: auth, timeout, connect, http_4xx, http_5xx or
    malformed (an answer of the wrong type or shape, the default).
    """

    def __init__(self, message: str, *, where: str | None = None, reason: str = "malformed"):
        super().__init__(message, where=where)
        self.reason = reason


class DashboardError(PaasError):
    """A dashboard or alert rule cannot be built, rendered or linted."""


class GrafanaError(DashboardError):
    """The Grafana HTTP API refused or failed a request."""


class KubernetesError(DashboardError):
    """The Kubernetes API server refused or failed a request (`paas-dash apply`)."""


class HarnessError(PaasError):
    """A real test server (ZooKeeper, Kafka, Elasticsearch, Prometheus) cannot be set up."""


def connection_failure(error: BaseException) -> str:
    """Why a connection failed, in words ("Connection refused"), not an exception's class name.

    HTTP clients wrap the socket's error (urllib3's NewConnectionError around the
    ConnectionRefusedError, requests' ConnectionError around that); the innermost OSError's
    reason is the one a person can act on.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror)
        nested = [arg for arg in current.args if isinstance(arg, BaseException)]
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError keeps it there
        if isinstance(reason, BaseException):
            nested.insert(0, reason)
        current = current.__cause__ or current.__context__ or (nested[0] if nested else None)
    return str(error) or type(error).__name__
