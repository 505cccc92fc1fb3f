"""Registry state as Prometheus metrics (`paas_registry_*`), read live from the registries.

One collector per Prometheus registry sums over every open `ZooKeeperRegistry` it was given,
so several registries in one process never collide on metric names.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from paas_sdk.registry._zookeeper import ZooKeeperRegistry


class RegistryCollector(Collector):
    """Collects `paas_registry_connected`, `_registered{side}`, `_providers{interface}` and
    `_sessions_reestablished_total` from the registries attached to it."""

    def __init__(self) -> None:
        self._registries: weakref.WeakSet[ZooKeeperRegistry] = weakref.WeakSet()
        self._sessions_reestablished = 0
        self._lock = threading.Lock()

    def attach(self, registry: ZooKeeperRegistry) -> None:
        self._registries.add(registry)

    def detach(self, registry: ZooKeeperRegistry) -> None:
        self._registries.discard(registry)

    def session_reestablished(self) -> None:
        with self._lock:
            self._sessions_reestablished += 1

    def describe(self) -> list[Metric]:
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        registries = list(self._registries)
        connected = GaugeMetricFamily(
            "paas_registry_connected",
            "1 when every registry client has a live ZooKeeper session",
        )
        connected.add_metric([], 1.0 if registries and all(r.connected for r in registries) else 0)
        yield connected
        registered = GaugeMetricFamily(
            "paas_registry_registered",
            "URLs this process has registered in ZooKeeper in the current session",
            labels=["side"],
        )
        sides: Counter[str] = Counter({"provider": 0, "consumer": 0})
        providers: Counter[str] = Counter()
        for registry in registries:
            sides.update(registry.registered_sides())
            providers.update(registry.provider_counts())
        for side, count in sorted(sides.items()):
            registered.add_metric([side], count)
        yield registered
        seen = GaugeMetricFamily(
            "paas_registry_providers",
            "Providers currently seen for each subscribed interface",
            labels=["interface"],
        )
        for interface, count in sorted(providers.items()):
            seen.add_metric([interface], count)
        yield seen
        sessions = CounterMetricFamily(
            "paas_registry_sessions_reestablished",
            "New ZooKeeper sessions after a lost one, each followed by a full restore",
        )
        sessions.add_metric([], self._sessions_reestablished)
        yield sessions
