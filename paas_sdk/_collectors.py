"""One collector of each kind per Prometheus registry, registered in it on first use.

The SDK's collectors read live state from every client attached to them (config stores, Dubbo
registries, log handlers), so several clients in one process share one set of series.
"""

from __future__ import annotations

import threading
import weakref
from typing import TypeVar

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.registry import Collector

__all__ = ["collector_in"]

C = TypeVar("C", bound=Collector)

_lock = threading.Lock()
# Weak keys: a registry that is gone takes its collectors with it, and its id() can be reused.
_collectors: weakref.WeakKeyDictionary[CollectorRegistry, dict[type[Collector], Collector]] = (
    weakref.WeakKeyDictionary()
)


def collector_in(registry: CollectorRegistry | None, kind: type[C]) -> C:
    """The `kind` collector of `registry` (default: the global one), created on first use."""
    target = REGISTRY if registry is None else registry
    with _lock:
        kinds = _collectors.setdefault(target, {})
        collector = kinds.get(kind)
        if collector is None:
            collector = kinds[kind] = kind()
            target.register(collector)
        assert isinstance(collector, kind)
        return collector
