"""The ``paas_log_records_*`` Prometheus series, shared by every Kafka handler of the process."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

if TYPE_CHECKING:
    from paas_sdk.logs._kafka import KafkaLogHandler

__all__ = ["LogMetrics", "log_metrics"]


class LogMetrics:
    """Counters and the in-flight gauge; one instance per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.emitted = Counter(
            "paas_log_records_emitted",
            "Log records handed to the Kafka handler.",
            registry=registry,
        )
        self.delivered = Counter(
            "paas_log_records_delivered", "Log records acknowledged by Kafka.", registry=registry
        )
        self.dropped = Counter(
            "paas_log_records_dropped",
            "Log records dropped before reaching Kafka, by reason.",
            ["reason"],
            registry=registry,
        )
        self.failed = Counter(
            "paas_log_records_failed",
            "Log records Kafka did not acknowledge (delivery error, timeout, purged at close).",
            registry=registry,
        )
        self.truncated = Counter(
            "paas_log_records_truncated",
            "Log records shipped with their message cut to fit the size limit.",
            registry=registry,
        )
        self.handlers: weakref.WeakSet[KafkaLogHandler] = weakref.WeakSet()
        in_flight = Gauge(
            "paas_log_records_in_flight",
            "Log records produced and awaiting a delivery report.",
            registry=registry,
        )
        in_flight.set_function(lambda: float(sum(h.stats.in_flight for h in list(self.handlers))))


_lock = threading.Lock()
_by_registry: dict[int, LogMetrics] = {}


def log_metrics(registry: CollectorRegistry | None = None) -> LogMetrics:
    """The metrics in `registry` (default: the global one), created on first use."""
    target = REGISTRY if registry is None else registry
    with _lock:
        metrics = _by_registry.get(id(target))
        if metrics is None:
            metrics = LogMetrics(target)
            _by_registry[id(target)] = metrics
        return metrics
