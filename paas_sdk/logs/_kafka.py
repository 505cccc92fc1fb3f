"""`KafkaLogHandler`: ships ECS records to Kafka without ever blocking the service.

``produce()`` runs on the caller's thread (about 1 µs, never waits on the network); delivery
reports are served by one background thread named ``paas-logs``. Every record handed to the
handler ends up counted exactly once as delivered, dropped or failed, or is still in flight.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import CollectorRegistry

from paas_sdk._collectors import collector_in
from paas_sdk.errors import LogShippingError
from paas_sdk.logs._formatter import EcsFormatter, RecordIds
from paas_sdk.logs._librdkafka import LIBRDKAFKA_LOGGER
from paas_sdk.logs._metrics import LogMetrics

__all__ = ["KafkaLogHandler", "ShippingStats"]

THREAD_NAME = "paas-logs"
TRUNCATION_MARKER = "…[truncated, {size} bytes in all]"
# Loggers whose records would feed back into this handler (the Kafka client, the handler itself).
_OWN_LOGGERS = ("confluent_kafka", "paas_sdk.logs")
# Producers inherited through fork() must never be destroyed in the child: librdkafka would wait
# for threads that do not exist there. They are kept here instead.
_inherited_producers: list[Any] = []


@dataclass(frozen=True)
class ShippingStats:
    """Exact accounting of one handler: emitted = delivered + dropped + failed + in flight."""

    emitted: int = 0
    delivered: int = 0
    failed: int = 0
    truncated: int = 0
    in_flight: int = 0
    dropped: Mapping[str, int] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class KafkaLogHandler(logging.Handler):
    """A logging handler producing each record as one ECS JSON message to a Kafka topic.

    `on_full` decides what happens when librdkafka's local queue is full (Kafka down for long):
    ``"drop"`` (default) counts the record as dropped at once; ``"block"`` retries for at most
    `block_timeout` seconds first. With `fallback_to_stderr`, records that cannot be shipped
    (dropped or failed) are written to stderr as ECS JSON instead of disappearing.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = "paas-logs",
        *,
        formatter: EcsFormatter | None = None,
        key: Callable[[logging.LogRecord], str | bytes | None] | None = None,
        compression: str = "lz4",
        acks: str | int = "all",
        linger_ms: int = 20,
        queue_max_messages: int = 100_000,
        on_full: Literal["drop", "block"] = "drop",
        block_timeout: float = 0.005,
        fallback_to_stderr: bool = False,
        max_message_bytes: int = 1_000_000,
        delivery_timeout: float = 300.0,
        close_timeout: float = 5.0,
        producer_config: Mapping[str, Any] | None = None,
        registry: CollectorRegistry | None = None,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        if not bootstrap_servers.strip():
            raise LogShippingError("no bootstrap servers given", where="bootstrap_servers")
        if not topic.strip():
            raise LogShippingError("the topic name is empty", where="topic")
        if on_full not in ("drop", "block"):
            raise LogShippingError(f"expected 'drop' or 'block', got {on_full!r}", where="on_full")
        self.ecs = formatter if formatter is not None else EcsFormatter()
        self.setFormatter(self.ecs)
        self.topic = topic
        self.key = key
        self.on_full = on_full
        self.block_timeout = block_timeout
        self.fallback_to_stderr = fallback_to_stderr
        self.max_message_bytes = max_message_bytes
        self.close_timeout = close_timeout
        self.metrics = collector_in(registry, LogMetrics)
        self.last_error: str | None = None
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "compression.codec": compression,
            "acks": str(acks),
            "linger.ms": linger_ms,
            "queue.buffering.max.messages": queue_max_messages,
            # room for the record plus Kafka's own framing
            "message.max.bytes": max_message_bytes + 4096,
            "message.timeout.ms": int(delivery_timeout * 1000),
            "client.id": f"paas-logs-{self.ecs.context.app_id}",
            "error_cb": self._on_error,
            "on_delivery": self._on_delivery,
            "delivery.report.only.error": True,
            "log.connection.close": False,
            **(producer_config or {}),
        }
        # librdkafka's own lines: rate-limited, and to every handler but this one (see there)
        self._config["logger"] = LIBRDKAFKA_LOGGER
        self._closed = False
        self._init_process_state()
        self.metrics.handlers.add(self)
        self_ref = weakref.ref(self)

        def after_fork_in_child() -> None:
            handler = self_ref()
            if handler is not None:
                handler._after_fork()

        os.register_at_fork(after_in_child=after_fork_in_child)
        self._start_poller()

    # -- per-process state -------------------------------------------------------------------

    def _init_process_state(self) -> None:
        from confluent_kafka import KafkaException, Producer

        self._stats_lock = threading.Lock()
        self._failed = self._truncated_count = self._delivered = 0
        # One draw per record handed to the handler gives its id and counts it as emitted
        # (a lock around a counter would cost the caller a tenth of the call).
        self._ids = RecordIds()
        self._dropped: dict[str, int] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._pid = os.getpid()
        self._kafka_exception: type[Exception] = KafkaException
        try:
            self._producer: Any = Producer(self._config)
        except (KafkaException, ValueError, TypeError) as exc:
            raise LogShippingError(
                f"cannot create the Kafka producer: {exc}", where="kafka"
            ) from None

    def _after_fork(self) -> None:
        _inherited_producers.append(self._producer)
        self.metrics.handlers.discard(self)  # the parent's counts are not the child's
        self.createLock()
        if self._closed:
            return
        self._init_process_state()
        self.metrics.handlers.add(self)
        # The poller starts on the child's first record, not inside the fork hook.

    def _start_poller(self) -> None:
        if self._poller is not None or self._closed or sys.is_finalizing():
            return
        self._poller = threading.Thread(target=self._poll_loop, name=THREAD_NAME, daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        producer, stop = self._producer, self._stop
        while not stop.is_set():
            producer.poll(0.1)

    # -- emitting ---------------------------------------------------------------------------

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit without the handler's lock: the producer is thread-safe, and the
        lock would make every thread that logs wait for the others."""
        if self.filters:
            result: object = self.filter(record)
            if not result:
                return False
            if isinstance(result, logging.LogRecord):  # Python 3.12+: a filter's replacement
                record = result
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        # The Kafka client's own lines (and this module's) would come back here for ever. A
        # record logged while one is formatted (a value's __str__ that logs) is shipped as a
        # record of its own, as stdlib handlers do.
        if self._closed or record.name.startswith(_OWN_LOGGERS):
            return
        try:
            if self._poller is None:  # the first record (in this process)
                self._start_poller()
            record_id = self._ids.next()  # counted as emitted from here on
            try:
                payload = self.ecs.format_bytes(record, record_id)
                if len(payload) > self.max_message_bytes:
                    payload = self._truncated(record, record_id, len(payload))
                key = self.key(record) if self.key is not None else None
            except Exception:
                self._drop("error", None)  # the record is counted whatever went wrong
                raise
            producer = self._producer
            if producer is None:  # closed by another thread meanwhile
                self._drop("closed", payload)
                return
            try:
                producer.produce(self.topic, payload, key)
            except BufferError:
                self._on_full(producer, payload, key)
            except self._kafka_exception as exc:
                self.last_error = str(exc)
                self._drop("error", payload)
        except Exception:
            self.handleError(record)

    def _on_full(self, producer: Any, payload: bytes, key: str | bytes | None) -> None:
        """librdkafka's queue is full: drop at once, or retry for at most `block_timeout`."""
        if self.on_full == "block":
            deadline = time.monotonic() + self.block_timeout
            while time.monotonic() < deadline:
                time.sleep(min(0.0005, self.block_timeout))
                try:
                    producer.produce(self.topic, payload, key)
                    return
                except BufferError:
                    continue
                except self._kafka_exception as exc:
                    self.last_error = str(exc)
                    self._drop("error", payload)
                    return
        self._drop("queue_full", payload)

    def _truncated(self, record: logging.LogRecord, record_id: str, size: int) -> bytes:
        doc = self.ecs.to_document(record, record_id)
        marker = TRUNCATION_MARKER.format(size=size)
        excess = size - self.max_message_bytes + len(marker.encode()) * 2 + 64
        for holder, name in ((doc, "message"), (doc.get("error") or {}, "stack_trace")):
            text = holder.get(name)
            if isinstance(text, str) and excess > 0:
                raw = text.encode("utf-8", "replace")
                keep = max(0, len(raw) - excess)
                excess -= len(raw) - keep
                holder[name] = raw[:keep].decode("utf-8", "ignore") + marker
        doc["tags"] = ["truncated"]
        payload = self.ecs.encode(doc)
        if len(payload) > self.max_message_bytes:
            # the extra fields alone are too big: keep the core of the record
            core = {k: doc[k] for k in ("@timestamp", "log", "ecs", "service", "event", "host")}
            core["message"] = doc["message"][: self.max_message_bytes // 8] + marker
            core["tags"] = ["truncated"]
            payload = self.ecs.encode(core)
        with self._stats_lock:
            self._truncated_count += 1
        return payload

    def _drop(self, reason: str, payload: bytes | None) -> None:
        with self._stats_lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + 1
        self._fallback(payload)

    def _fallback(self, payload: bytes | None) -> None:
        if self.fallback_to_stderr and payload:
            try:
                sys.stderr.write(payload.decode("utf-8", "replace") + "\n")
            except Exception:  # stderr closed: nothing left to tell
                return

    @property
    def stats(self) -> ShippingStats:
        """A consistent snapshot of the accounting.

        Only failures get a delivery report (a report per success would cost the caller's
        thread GIL time); a message is delivered once it has left librdkafka's queue without
        a failure report, so delivered = emitted - dropped - failed - still queued.

        librdkafka's queue length also counts error and log events not yet served, so that
        difference is only a lower bound, which falls (even below zero) while a broker outage
        queues events. The highest bound seen is kept: delivered never goes down (Prometheus
        would read a counter reset), and in flight is what the other counts leave.
        """
        with self._stats_lock:
            producer = self._producer
            queued = len(producer) if producer is not None else 0
            dropped = dict(self._dropped)
            emitted = self._ids.drawn
            settled = sum(dropped.values()) + self._failed
            delivered = max(self._delivered, emitted - settled - queued)
            self._delivered = delivered
            return ShippingStats(
                emitted=emitted,
                delivered=delivered,
                failed=self._failed,
                truncated=self._truncated_count,
                in_flight=emitted - settled - delivered,
                dropped=dropped,
            )

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:  # only with delivery.report.only.error switched off by the user
            return
        self.last_error = str(err)
        with self._stats_lock:
            self._failed += 1
        self._fallback(msg.value())

    def _on_error(self, err: Any) -> None:
        self.last_error = str(err)

    # -- flushing and closing ---------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Wait at most `timeout` seconds (default `close_timeout`) for deliveries."""
        if self._closed or self._pid != os.getpid():
            return
        self._producer.flush(self.close_timeout if timeout is None else timeout)

    def close(self) -> None:
        """Flush for at most `close_timeout` seconds; whatever is left is counted as failed."""
        if self._closed:
            super().close()
            return
        self._closed = True
        try:
            if self._pid == os.getpid():
                producer = self._producer
                if producer.flush(self.close_timeout) > 0:
                    producer.purge()
                    producer.flush(0)  # serves the purged messages' failure reports
                    producer.poll(0)
                self._stop.set()
                poller = self._poller
                if poller is not None and poller is not threading.current_thread():
                    poller.join(timeout=1.0)
                # let the client go now rather than whenever the handler is collected
                final = self.stats
                with self._stats_lock:
                    self._producer = None
                self.metrics.retire(self, final)
        finally:
            super().close()
