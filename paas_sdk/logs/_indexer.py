"""`LogIndexer`: the Kafka log topic into Elasticsearch, every record indexed or set aside.

Indexing is at least once: a batch's offsets are committed only after each of its records was
indexed, found already present, or written to the dead-letter topic. Documents are created under
the record's id (``event.id``), so a redelivered record is answered 409, never duplicated.

One bad record never holds up the others: each is re-serialised onto one line (a pretty-printed
value would break the bulk format), its id checked against Elasticsearch's 512-byte limit, and
bulks are bounded in bytes as well as in count. A whole request Elasticsearch refuses (413, 400)
is halved until the record at fault stands alone; a record it refuses goes to the dead-letter
topic with the reason, as Kafka Connect's sink and Logstash's output do.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from paas_sdk.errors import LogIndexingError
from paas_sdk.logs._clients import KafkaSettings, mask
from paas_sdk.logs._deadletter import (
    STAGE_CONVERTER,
    STAGE_PUT,
    DeadLetterWriter,
)

__all__ = ["IndexProgress", "LogIndexer"]


# Statuses worth another try: Elasticsearch is busy, or a shard is moving.
_RETRIABLE = frozenset({429, 500, 502, 503, 504})
# Statuses that are about this indexer's rights, not about a record: stop and say so.
_FORBIDDEN = frozenset({401, 403})
# Whole requests refused for what is in them: halve until the record at fault is alone.
_SPLIT = frozenset({400, 413})
# How long a new indexer waits for its first partitions (a fresh cluster's group coordinator
# takes seconds to load) before --idle-exit may end it.
_FIRST_ASSIGNMENT = 60.0
MAX_ID_BYTES = 512  # Elasticsearch refuses a longer _id
BULK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, float("inf"))
_BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"


@dataclass
class IndexProgress:
    """What the indexer has done: consumed = indexed + already present + dead-lettered, once
    a batch is through. `waiting` says what it waits on right now, if anything."""

    consumed: int = 0
    indexed: int = 0
    already_present: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    bulks: int = 0
    bulk_seconds: list[int] = field(default_factory=lambda: [0] * len(BULK_BUCKETS), repr=False)
    bulk_seconds_sum: float = 0.0
    lag: dict[int, int] = field(default_factory=dict)
    waiting: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def dead_lettered_total(self) -> int:
        return sum(self.dead_lettered.values())

    def observe_bulk(self, seconds: float) -> None:
        """One bulk request's latency, into cumulative histogram buckets."""
        self.bulks += 1
        self.bulk_seconds_sum += seconds
        for number, bound in enumerate(BULK_BUCKETS):
            if seconds <= bound:
                self.bulk_seconds[number] += 1


@dataclass(slots=True)
class _Doc:
    message: Any
    line: bytes  # the bulk action and the document, each ending with a newline


class LogIndexer:
    """Consumes the log topic in a consumer group and bulk-indexes it into Elasticsearch.

    Several indexers with the same `group` share the topic's partitions. Records Elasticsearch
    will not take go to `dead_letter_topic` (default ``<topic>-dlq``).
    """

    def __init__(
        self,
        es: Any,
        kafka: KafkaSettings | str,
        *,
        topic: str = "paas-logs",
        index: str = "paas-logs",
        group: str = "paas-logs-indexer",
        batch_size: int = 2000,
        bulk_bytes: int = 10 * 1024 * 1024,
        dead_letter_topic: str | None = None,
        session_timeout: float = 10.0,
        consumer_config: dict[str, Any] | None = None,
        es_shown: str = "Elasticsearch",
    ) -> None:
        from confluent_kafka import Consumer, KafkaException

        if isinstance(kafka, str):
            kafka = KafkaSettings(kafka)
        self.es = es
        self.kafka = kafka
        self.topic = topic
        self.index = index
        self.batch_size = batch_size
        self.bulk_bytes = bulk_bytes
        self.es_shown = es_shown
        self.progress = IndexProgress()
        self.assigned_at: float | None = None
        self._kafka_problem: str | None = None
        self._fatal: str | None = None
        self._on_wait: Callable[[IndexProgress], None] | None = None
        config: dict[str, Any] = {
            **kafka.config(),
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.min.bytes": 65536,
            "fetch.wait.max.ms": 100,
            # a killed indexer's partitions move to the others after this long
            "session.timeout.ms": int(session_timeout * 1000),
            "statistics.interval.ms": 2000,  # consumer lag per partition, for the metrics
            "stats_cb": self._stats,
            "error_cb": self._kafka_error,
            **(consumer_config or {}),
        }
        self.dead_letters = DeadLetterWriter(
            kafka, dead_letter_topic or f"{topic}-dlq", name=f"paas-logs-indexer/{group}"
        )
        try:
            self.consumer = Consumer(config)
            self.consumer.subscribe([topic], on_assign=self._assigned)
        except (KafkaException, ValueError) as exc:
            message = mask(str(exc), kafka.secrets)
            raise LogIndexingError(
                f"cannot create the consumer: {message}", where="kafka"
            ) from None

    # -- the loop ---------------------------------------------------------------------------

    def run(
        self,
        *,
        max_records: int | None = None,
        idle_exit: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_progress: Callable[[IndexProgress], None] | None = None,
        progress_every: float = 2.0,
    ) -> IndexProgress:
        """Index until `max_records` were consumed, `idle_exit` seconds passed with nothing new,
        or `should_stop()`; then close the consumer. `on_progress` is called every
        `progress_every` seconds, and at once whenever the indexer starts waiting on something."""
        progress = self.progress
        self._on_wait = on_progress
        started = last_data = last_report = time.monotonic()
        try:
            while not should_stop():
                self._raise_if_fatal()
                want = self.batch_size
                if max_records is not None:
                    want = min(want, max_records - progress.consumed)
                    if want <= 0:
                        break
                messages = self.consumer.consume(num_messages=want, timeout=0.5)
                now = time.monotonic()
                batch = [m for m in messages if self._usable(m)]
                if batch:
                    progress.waiting = self._kafka_problem = None
                    self._handle(batch)
                    self._commit(batch)
                    last_data = now
                elif idle_exit is not None:
                    if self.assigned_at is not None:
                        # idle time counts from the assignment: a rebalance is not idleness
                        if now - max(last_data, self.assigned_at) >= idle_exit:
                            break
                    elif now - started >= max(idle_exit, _FIRST_ASSIGNMENT):
                        if self._kafka_problem is not None:
                            raise LogIndexingError(
                                f"no partition assigned in {now - started:.0f} s: "
                                f"{self._kafka_problem}",
                                where=self.kafka.bootstrap,
                            )
                        break  # more indexers in the group than partitions: nothing to do
                if self._kafka_problem is not None:
                    progress.waiting = f"Kafka at {self.kafka.bootstrap}: {self._kafka_problem}"
                if on_progress is not None and now - last_report >= progress_every:
                    on_progress(progress)
                    last_report = now
        finally:
            self.consumer.close()
        return progress

    def _usable(self, message: Any) -> bool:
        from confluent_kafka import KafkaError

        error = message.error()
        if error is None:
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return False
        if error.fatal() or error.code() in _fatal_codes():
            raise LogIndexingError(f"consumer failed: {self._masked(error)}", where="kafka")
        self._kafka_problem = self._masked(error)
        return False

    def _kafka_error(self, error: Any) -> None:
        """librdkafka's client-level errors: a refused login or TLS failure ends the run with
        one clear error; brokers out of reach are waited for, and said so."""
        if error.fatal() or error.code() in _fatal_codes():
            self._fatal = self._fatal or self._masked(error)
        else:
            self._kafka_problem = self._masked(error)

    def _raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise LogIndexingError(self._fatal, where=f"Kafka at {self.kafka.bootstrap}")

    def _masked(self, error: Any) -> str:
        return mask(error.str() if hasattr(error, "str") else str(error), self.kafka.secrets)

    def _assigned(self, _consumer: Any, partitions: list[Any]) -> None:
        self.assigned_at = time.monotonic()

    def _stats(self, text: str) -> None:
        """Consumer lag per assigned partition, from librdkafka's statistics."""
        try:
            partitions = orjson.loads(text)["topics"][self.topic]["partitions"]
        except (KeyError, orjson.JSONDecodeError):
            return
        self.progress.lag = {
            int(number): max(0, int(p["consumer_lag"]))
            for number, p in partitions.items()
            if number != "-1" and p.get("fetch_state") == "active" and p["consumer_lag"] >= 0
        }

    def _wait(self, what: str, seconds: float) -> None:
        self.progress.waiting = what
        if self._on_wait is not None:
            self._on_wait(self.progress)
        time.sleep(seconds)

    # -- one batch --------------------------------------------------------------------------

    def _handle(self, messages: list[Any]) -> None:
        self.progress.consumed += len(messages)
        docs = [doc for doc in map(self._prepare, messages) if doc is not None]
        for bulk in self._bulks(docs):
            self._send(bulk)
        if self.dead_letters.pending:
            self.dead_letters.flush(on_wait=lambda what: self._wait(what, 0))
        self.progress.waiting = None

    def _prepare(self, message: Any) -> _Doc | None:
        """The bulk lines of one record, or None when it was dead-lettered (not JSON)."""
        value: bytes | None = message.value()
        try:
            doc = orjson.loads(value or b"")
        except orjson.JSONDecodeError as exc:
            self._dead(message, STAGE_CONVERTER, "not_json", f"not JSON: {exc}")
            return None
        if not isinstance(doc, dict):
            self._dead(message, STAGE_CONVERTER, "not_json", "not a JSON object")
            return None
        assert value is not None
        if b"\n" in value or b"\r" in value:  # one document per line, whatever the producer did
            value = orjson.dumps(doc)
        action = {"create": {"_index": self.index, "_id": self._record_id(doc, message)}}
        return _Doc(message, orjson.dumps(action) + b"\n" + value + b"\n")

    @staticmethod
    def _record_id(doc: dict[str, Any], message: Any) -> str:
        """The record's ``event.id``; a digest of it when longer than Elasticsearch allows;
        ``topic-partition-offset`` (as Kafka Connect's sink) when there is none."""
        event = doc.get("event")
        record_id = event.get("id") if isinstance(event, dict) else None
        if isinstance(record_id, str) and record_id:
            if len(record_id) * 4 <= MAX_ID_BYTES or len(record_id.encode()) <= MAX_ID_BYTES:
                return record_id
            return "sha256-" + hashlib.sha256(record_id.encode()).hexdigest()
        return f"{message.topic()}-{message.partition()}-{message.offset()}"

    def _bulks(self, docs: list[_Doc]) -> Iterator[list[_Doc]]:
        """`docs` cut into bulks of at most `bulk_bytes` (a larger record goes alone)."""
        bulk: list[_Doc] = []
        size = 0
        for doc in docs:
            if bulk and size + len(doc.line) > self.bulk_bytes:
                yield bulk
                bulk, size = [], 0
            bulk.append(doc)
            size += len(doc.line)
        if bulk:
            yield bulk

    def _send(self, docs: list[_Doc]) -> None:
        """Send until every document is created, already present, or dead-lettered."""
        from elasticsearch import ApiError

        delay = 0.1
        progress = self.progress
        while docs:
            began = time.monotonic()
            try:
                response = self.es.bulk(operations=[d.line for d in docs], filter_path=_BULK_FILTER)
            except ApiError as exc:
                status = exc.meta.status
                if status in _SPLIT:
                    self._split(docs, status, exc)
                    return
                if status not in _RETRIABLE:
                    raise LogIndexingError(
                        f"bulk request refused ({status}): {mask(str(exc))}",
                        where=self.es_shown,
                    ) from None
                progress.retries += 1
                self._wait(f"{self.es_shown} answering {status}", delay)
                delay = min(delay * 2, 10.0)
                continue
            except Exception as exc:
                if not _unreachable(exc):
                    raise
                progress.retries += 1
                self._wait(f"{self.es_shown}: {mask(str(exc))}", delay)
                delay = min(delay * 2, 10.0)
                continue
            progress.observe_bulk(time.monotonic() - began)
            again = self._settle(docs, response)
            if again:
                progress.retries += 1
                self._wait(
                    f"{self.es_shown} to take {len(again)} records it was too busy for", delay
                )
                delay = min(delay * 2, 10.0)
            docs = again

    def _settle(self, docs: list[_Doc], response: Any) -> list[_Doc]:
        """Count each document of an answered bulk; return those to send again."""
        progress = self.progress
        items = response.get("items", [])
        if not response.get("errors"):
            progress.indexed += len(items)
            return []
        again: list[_Doc] = []
        for doc, item in zip(docs, items, strict=True):
            result = next(iter(item.values()))
            status = result["status"]
            if status < 300:
                progress.indexed += 1
            elif status == 409:
                progress.already_present += 1
            elif status in _RETRIABLE:
                again.append(doc)
            elif status in _FORBIDDEN:
                raise LogIndexingError(
                    f"refused ({status}): {result.get('error', {}).get('reason')}",
                    where=f"{self.es_shown}/{self.index}",
                )
            else:
                error = result.get("error") or {}
                kind = str(error.get("type") or f"status_{status}")
                self._dead(doc.message, STAGE_PUT, kind, str(error.get("reason") or kind))
        return again

    def _split(self, docs: list[_Doc], status: int, exc: Exception) -> None:
        if len(docs) == 1:
            kind = "request_too_large" if status == 413 else f"status_{status}"
            self._dead(docs[0].message, STAGE_PUT, kind, mask(str(exc))[:500])
            return
        half = len(docs) // 2
        self._send(docs[:half])
        self._send(docs[half:])

    def _dead(self, message: Any, stage: str, kind: str, reason: str) -> None:
        self.dead_letters.write(message, stage=stage, exception=kind, reason=reason)
        counts = self.progress.dead_lettered
        counts[kind] = counts.get(kind, 0) + 1

    def _commit(self, messages: list[Any]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        ends: dict[tuple[str, int], int] = {}
        for message in messages:
            key = (message.topic(), message.partition())
            ends[key] = max(ends.get(key, -1), message.offset() + 1)
        offsets = [TopicPartition(t, p, o) for (t, p), o in ends.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException:
            # partitions moved to another indexer meanwhile: it re-reads them, and the ids
            # make that harmless
            return


def _fatal_codes() -> frozenset[int]:
    """Kafka errors no wait will cure: wrong credentials, TLS that cannot verify, no rights."""
    from confluent_kafka import KafkaError

    return frozenset(
        {
            KafkaError._AUTHENTICATION,
            KafkaError._SSL,
            KafkaError.SASL_AUTHENTICATION_FAILED,
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            KafkaError.GROUP_AUTHORIZATION_FAILED,
            KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        }
    )


def _unreachable(exc: Exception) -> bool:
    from elasticsearch import ConnectionError, ConnectionTimeout

    return isinstance(exc, ConnectionError | ConnectionTimeout)
