"""The ``paas_log_records_*`` Prometheus series, read from the handlers' own counts at scrape time.

Nothing is incremented on the logging path: each handler keeps exact integer counts
(`ShippingStats`), and this collector sums them when Prometheus asks, closed handlers included.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from paas_sdk.logs._kafka import KafkaLogHandler, ShippingStats

__all__ = ["LogMetrics"]


class LogMetrics(Collector):
    """Sums the accounting of every Kafka log handler registered with it."""

    def __init__(self) -> None:
        self.handlers: weakref.WeakSet[KafkaLogHandler] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._retired = {"emitted": 0, "delivered": 0, "failed": 0, "truncated": 0}
        self._retired_dropped: dict[str, int] = {}

    def retire(self, handler: KafkaLogHandler, stats: ShippingStats) -> None:
        """Keep the final counts of a handler that is going away (counters never go down)."""
        with self._lock:
            self.handlers.discard(handler)
            for name in self._retired:
                self._retired[name] += getattr(stats, name)
            for reason, count in stats.dropped.items():
                self._retired_dropped[reason] = self._retired_dropped.get(reason, 0) + count

    def collect(self) -> Iterator[Metric]:
        in_flight = 0
        with self._lock:
            totals = dict(self._retired)
            dropped = dict(self._retired_dropped)
            for handler in list(self.handlers):
                stats = handler.stats
                for name in totals:
                    totals[name] += getattr(stats, name)
                for reason, count in list(stats.dropped.items()):
                    dropped[reason] = dropped.get(reason, 0) + count
                in_flight += stats.in_flight
        help_text = {
            "emitted": "Log records handed to the Kafka handler.",
            "delivered": "Log records acknowledged by Kafka.",
            "failed": "Log records Kafka did not acknowledge (error, timeout, purged at close).",
            "truncated": "Log records shipped with their message cut to fit the size limit.",
        }
        for name, text in help_text.items():
            yield CounterMetricFamily(f"paas_log_records_{name}", text, value=totals[name])
        family = CounterMetricFamily(
            "paas_log_records_dropped",
            "Log records dropped before reaching Kafka, by reason.",
            labels=["reason"],
        )
        for reason in sorted(dropped.keys() | {"queue_full", "too_large"}):
            family.add_metric([reason], dropped.get(reason, 0))
        yield family
        yield GaugeMetricFamily(
            "paas_log_records_in_flight",
            "Log records produced and awaiting a delivery report.",
            value=in_flight,
        )
