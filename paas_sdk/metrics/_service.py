"""The service's identity as `paas_service_info`, and the process and garbage-collector collectors.

The identity lives in one info-style gauge (value 1) rather than on every series, so the
environment and cluster are joined in queries when needed and never baked into other labels.
"""

from __future__ import annotations

import contextlib
import weakref

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)

from paas_sdk.context import ServiceContext

__all__ = ["register_runtime_collectors", "register_service_info"]

_info_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Gauge] = weakref.WeakKeyDictionary()


def register_service_info(context: ServiceContext, registry: CollectorRegistry = REGISTRY) -> Gauge:
    """Expose ``paas_service_info{app, version, env, cluster} 1`` for `context`.

    Calling it again for the same registry replaces the identity (one series at a time). A
    gauge (multiprocess mode "max") rather than a custom collector, so gunicorn workers report
    it through `PROMETHEUS_MULTIPROC_DIR` like every other series.
    """
    info = _info_by_registry.get(registry)
    if info is not None:
        info.clear()
    else:
        info = _info_by_registry[registry] = Gauge(
            "paas_service_info",
            "The service's identity: app id, version, environment and cluster; always 1.",
            ["app", "version", "env", "cluster"],
            multiprocess_mode="max",
            registry=registry,
        )
    info.labels(context.app_id, context.version, context.environment, context.cluster).set(1)
    return info


def register_runtime_collectors(registry: CollectorRegistry) -> None:
    """Add the process_*, python_gc_* and python_info collectors to `registry`.

    prometheus_client's default `REGISTRY` has them already; this is for a registry of your own.
    """
    if registry is REGISTRY:
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            # re-adding to the default registry after a user unregistered them
            with contextlib.suppress(ValueError):
                registry.register(collector)
        return
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
