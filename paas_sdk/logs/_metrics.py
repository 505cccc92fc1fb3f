"""The log pipeline's Prometheus series, read from exact counts at scrape time: the handlers'
``paas_log_records_*`` and the indexer's ``paas_logs_indexer_*``.

Nothing is incremented on the logging path: each handler keeps exact integer counts
(`ShippingStats`), and the collector sums them when Prometheus asks, closed handlers included.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from paas_sdk._http_server import HTTPServer, http_server
from paas_sdk.errors import LogIndexingError

if TYPE_CHECKING:
    from paas_sdk.logs._indexer import LogIndexer
    from paas_sdk.logs._kafka import KafkaLogHandler, ShippingStats

__all__ = ["IndexerMetrics", "LogMetrics", "serve_indexer_metrics"]


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


_USUAL_DEAD_LETTER_REASONS = frozenset(
    {"not_json", "document_parsing_exception", "mapper_parsing_exception", "request_too_large"}
)


class IndexerMetrics(Collector):
    """The ``paas_logs_indexer_*`` series of one `LogIndexer`, read from its progress counts."""

    def __init__(self, indexer: LogIndexer) -> None:
        self.indexer = indexer

    def collect(self) -> Iterator[Metric]:
        from paas_sdk.logs._indexer import BULK_BUCKETS

        progress = self.indexer.progress
        prefix = "paas_logs_indexer"
        for name, text, value in (
            ("records_consumed", "Records read from the log topic.", progress.consumed),
            ("records_indexed", "Records Elasticsearch created.", progress.indexed),
            (
                "records_already_present",
                "Records Elasticsearch already had (redelivered; answered 409).",
                progress.already_present,
            ),
            (
                "retries",
                "Bulk requests sent again because Elasticsearch was busy or out of reach.",
                progress.retries,
            ),
        ):
            yield CounterMetricFamily(f"{prefix}_{name}", text, value=value)
        dead = CounterMetricFamily(
            f"{prefix}_records_dead_lettered",
            "Records written to the dead-letter topic, by Elasticsearch's error type.",
            labels=["reason"],
        )
        # the usual reasons are there from the start, so the first dead letter is an increase
        for reason in sorted(progress.dead_lettered.keys() | _USUAL_DEAD_LETTER_REASONS):
            dead.add_metric([reason], progress.dead_lettered.get(reason, 0))
        yield dead
        lag = GaugeMetricFamily(
            f"{prefix}_consumer_lag",
            "Records in an assigned partition not yet consumed.",
            labels=["topic", "partition"],
        )
        for partition, records in sorted(progress.lag.items()):
            lag.add_metric([self.indexer.topic, str(partition)], records)
        yield lag
        buckets = [
            (str(bound) if bound != float("inf") else "+Inf", count)
            for bound, count in zip(BULK_BUCKETS, progress.bulk_seconds, strict=True)
        ]
        yield HistogramMetricFamily(
            f"{prefix}_bulk_duration_seconds",
            "Time Elasticsearch took to answer one bulk request.",
            buckets=buckets,
            sum_value=progress.bulk_seconds_sum,
        )
        yield GaugeMetricFamily(
            f"{prefix}_waiting",
            "1 while the indexer waits on Elasticsearch or Kafka, else 0.",
            value=1 if progress.waiting else 0,
        )


def serve_indexer_metrics(indexer: LogIndexer, host: str, port: int) -> HTTPServer:
    """Serve the indexer's metrics at ``/metrics`` from a daemon thread; `shutdown()` stops."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry()
    registry.register(IndexerMetrics(indexer))

    def dispatch(handler: BaseHTTPRequestHandler, _method: str) -> None:
        if handler.path.split("?")[0] != "/metrics":
            handler.send_error(404)
            return
        body = generate_latest(registry)
        handler.send_response(200)
        handler.send_header("Content-Type", CONTENT_TYPE_LATEST)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    try:
        server = http_server(host, port, dispatch, thread_name="paas-logs-metrics")
    except OSError as exc:
        raise LogIndexingError(
            f"cannot serve metrics: {exc.strerror}", where=f"{host}:{port}"
        ) from None
    threading.Thread(target=server.serve_forever, name="paas-logs-metrics", daemon=True).start()
    return server
