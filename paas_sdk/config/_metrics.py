"""Config state as Prometheus metrics (`paas_config_*`), read live from the attached clients."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from paas_sdk.config._store import ConfigStore


class ConfigCollector(Collector):
    """Per namespace: last sync time, reloads, rejected updates, sync errors, active source."""

    def __init__(self) -> None:
        self._stores: weakref.WeakSet[ConfigStore] = weakref.WeakSet()

    def attach(self, store: ConfigStore) -> None:
        self._stores.add(store)

    def describe(self) -> list[Metric]:
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        last_sync = GaugeMetricFamily(
            "paas_config_last_sync_timestamp_seconds",
            "When the namespace was last confirmed current with its source (remote or file)",
            labels=["namespace"],
        )
        reloads = CounterMetricFamily(
            "paas_config_reloads", "Releases that changed at least one key", labels=["namespace"]
        )
        rejected = CounterMetricFamily(
            "paas_config_rejected_updates",
            "Updates refused because they did not fit the typed settings model",
            labels=["namespace"],
        )
        errors = CounterMetricFamily(
            "paas_config_sync_errors",
            "Failed fetches or parses of the namespace",
            labels=["namespace"],
        )
        source = GaugeMetricFamily(
            "paas_config_source",
            "1 for the source the namespace is currently served from",
            labels=["namespace", "source"],
        )
        # Several clients may serve a namespace of the same name (two app ids, a client per
        # worker): one series per namespace, never one per client, or Prometheus rejects the
        # scrape for duplicate samples. Counters add up; the sync time is the oldest, so a
        # client that fell behind still shows; every source in use reads 1. A closed client
        # serves nothing any more and is left out.
        synced: dict[str, float] = {}
        counts: dict[str, list[int]] = {}
        sources: set[tuple[str, str]] = set()
        for store in list(self._stores):
            if store._closed:
                continue
            for namespace, stats in list(store._stats.items()):
                if stats.last_sync is not None:
                    synced[namespace] = min(synced.get(namespace, stats.last_sync), stats.last_sync)
                total = counts.setdefault(namespace, [0, 0, 0])
                total[0] += stats.reloads
                total[1] += stats.rejected
                total[2] += stats.sync_errors
                if stats.source is not None:
                    sources.add((namespace, str(stats.source)))
        for namespace, when in synced.items():
            last_sync.add_metric([namespace], when)
        for namespace, (reloaded, refused, failed) in counts.items():
            reloads.add_metric([namespace], reloaded)
            rejected.add_metric([namespace], refused)
            errors.add_metric([namespace], failed)
        for namespace, name in sorted(sources):
            source.add_metric([namespace, name], 1.0)
        yield from (last_sync, reloads, rejected, errors, source)
