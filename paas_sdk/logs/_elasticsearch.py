"""The Elasticsearch side of the log pipeline: the index template and the Kafka-to-ES indexer.

Indexing is at least once: offsets are committed only after Elasticsearch accepted the batch,
and every document is created under its record id (``event.id``), so a redelivered record is
answered 409 and never becomes a duplicate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from paas_sdk.errors import LogIndexingError

__all__ = [
    "IndexProgress",
    "LogIndexer",
    "index_template",
    "install_template",
    "supports_data_streams",
]

# Item statuses worth another try: Elasticsearch is busy or a shard is moving.
_RETRIABLE = frozenset({429, 500, 502, 503, 504})


def index_template(pattern: str, *, data_stream: bool, retention: str | None) -> dict[str, Any]:
    """The composable index template for ECS log documents matching `pattern`."""
    text = {"type": "text"}
    template: dict[str, Any] = {
        "settings": {
            "index": {
                "codec": "best_compression",
                "mapping": {"total_fields": {"limit": 2000}, "ignore_malformed": True},
                "refresh_interval": "5s",
            }
        },
        "mappings": {
            "dynamic_templates": [
                {
                    "strings_as_keyword": {
                        "match_mapping_type": "string",
                        "mapping": {"type": "keyword", "ignore_above": 1024},
                    }
                }
            ],
            "properties": {
                "@timestamp": {"type": "date_nanos"},
                "message": text,
                "log": {
                    "properties": {"level": {"type": "keyword"}, "logger": {"type": "keyword"}}
                },
                "ecs": {"properties": {"version": {"type": "keyword"}}},
                "service": {
                    "properties": {
                        "name": {"type": "keyword"},
                        "version": {"type": "keyword"},
                        "environment": {"type": "keyword"},
                    }
                },
                "event": {
                    "properties": {
                        "id": {"type": "keyword"},
                        "dataset": {"type": "keyword"},
                        "original": {"type": "keyword", "index": False, "doc_values": False},
                    }
                },
                "error": {
                    "properties": {
                        "type": {"type": "keyword"},
                        "message": text,
                        "stack_trace": {"type": "text", "index": True},
                    }
                },
                "trace": {"properties": {"id": {"type": "keyword"}}},
                "span": {"properties": {"id": {"type": "keyword"}}},
                "process": {"properties": {"pid": {"type": "long"}}},
                "tags": {"type": "keyword"},
            },
        },
    }
    if data_stream and retention:
        template["lifecycle"] = {"data_retention": retention}
    body: dict[str, Any] = {
        "index_patterns": [pattern],
        "priority": 200,
        "template": template,
        "_meta": {"managed_by": "paas-logs"},
    }
    if data_stream:
        body["data_stream"] = {}
    return body


def supports_data_streams(es: Any) -> bool:
    """Whether the node has the data-stream module (a minimal distribution has not)."""
    from elasticsearch import ApiError

    try:
        es.indices.get_data_stream(name="*")
    except ApiError:
        return False
    return True


def install_template(
    es: Any, name: str, pattern: str, *, retention: str | None, dry_run: bool
) -> dict[str, Any]:
    """Install (or with `dry_run`, only build) the template; returns what was (to be) sent."""
    data_stream = supports_data_streams(es)
    body = index_template(pattern, data_stream=data_stream, retention=retention)
    if not dry_run:
        es.indices.put_index_template(name=name, **body)
    return body


@dataclass
class IndexProgress:
    """What the indexer has done so far."""

    indexed: int = 0
    already_present: int = 0
    rejected: int = 0
    retries: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def consumed(self) -> int:
        return self.indexed + self.already_present + self.rejected

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.consumed / elapsed if elapsed > 0 else 0.0


class LogIndexer:
    """Consumes the log topic in a consumer group and bulk-indexes it into Elasticsearch.

    Several indexers with the same `group` share the topic's partitions.
    """

    def __init__(
        self,
        es: Any,
        bootstrap_servers: str,
        *,
        topic: str = "paas-logs",
        index: str = "paas-logs",
        group: str = "paas-logs-indexer",
        batch_size: int = 2000,
        session_timeout: float = 10.0,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        from confluent_kafka import Consumer, KafkaException

        self.es = es
        self.topic = topic
        self.index = index
        self.batch_size = batch_size
        self.progress = IndexProgress()
        self.assigned_at: float | None = None
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.min.bytes": 65536,
            "fetch.wait.max.ms": 100,
            # a killed indexer's partitions move to the others after this long
            "session.timeout.ms": int(session_timeout * 1000),
            **(consumer_config or {}),
        }
        try:
            self.consumer = Consumer(config)
            self.consumer.subscribe([topic], on_assign=self._assigned)
        except (KafkaException, ValueError) as exc:
            raise LogIndexingError(f"cannot create the consumer: {exc}", where="kafka") from None

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
        or `should_stop()`; then commit and close the consumer."""
        from confluent_kafka import KafkaError

        progress = self.progress
        last_data = last_report = time.monotonic()
        try:
            while not should_stop():
                want = self.batch_size
                if max_records is not None:
                    want = min(want, max_records - progress.consumed)
                    if want <= 0:
                        break
                messages = self.consumer.consume(num_messages=want, timeout=0.5)
                now = time.monotonic()
                batch = []
                for message in messages:
                    error = message.error()
                    if error is None:
                        batch.append(message)
                    elif error.code() != KafkaError._PARTITION_EOF and error.fatal():
                        raise LogIndexingError(f"consumer failed: {error}", where="kafka")
                if batch:
                    self._index(batch)
                    self._commit(batch)
                    last_data = now
                elif (
                    idle_exit is not None
                    and self.assigned_at is not None
                    # idle time counts from the assignment: a rebalance is not idleness
                    and now - max(last_data, self.assigned_at) >= idle_exit
                ):
                    break
                if on_progress is not None and now - last_report >= progress_every:
                    on_progress(progress)
                    last_report = now
        finally:
            self.consumer.close()
        return progress

    def _assigned(self, _consumer: Any, partitions: list[Any]) -> None:
        self.assigned_at = time.monotonic()

    def _index(self, messages: list[Any]) -> None:
        lines: list[bytes] = []
        for message in messages:
            value: bytes = message.value() or b""
            record_id: str | None = None
            try:
                doc = orjson.loads(value)
                event = doc.get("event") if isinstance(doc, dict) else None
                if isinstance(event, dict) and isinstance(event.get("id"), str):
                    record_id = event["id"]
                if not isinstance(doc, dict):
                    raise TypeError
            except (orjson.JSONDecodeError, TypeError):
                value = self._wrapped(value, "unparsed")
            if record_id is None:
                record_id = f"{message.topic()}-{message.partition()}-{message.offset()}"
            lines.append(orjson.dumps({"create": {"_index": self.index, "_id": record_id}}))
            lines.append(value)
        self._bulk(lines)
        self.progress.batches += 1

    @staticmethod
    def _wrapped(raw: bytes, tag: str) -> bytes:
        """A document Elasticsearch can always take, holding the raw record in event.original."""
        text = raw.decode("utf-8", "replace")
        try:
            original = orjson.loads(raw)
        except orjson.JSONDecodeError:
            original = {}
        keep: dict[str, Any] = {"tags": [tag], "event": {"original": text[:32000]}}
        if isinstance(original, dict):
            for key in ("@timestamp", "message", "service", "log", "ecs"):
                if key in original:
                    keep[key] = original[key]
            if isinstance(original.get("event"), dict) and "id" in original["event"]:
                keep["event"]["id"] = original["event"]["id"]
        keep.setdefault("message", text[:1000])
        keep.setdefault("@timestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        return orjson.dumps(keep)

    def _bulk(self, lines: list[bytes]) -> None:
        """Send until every document is created, already present, or rejected-and-wrapped."""
        delay = 0.1
        while lines:
            try:
                response = self.es.bulk(
                    operations=lines, filter_path="errors,items.*.status,items.*.error.type"
                )
            except Exception as exc:  # node down or timing out: wait and send again
                if not _transient(exc):
                    raise LogIndexingError(
                        f"bulk request refused: {exc}", where="elasticsearch"
                    ) from None
                self.progress.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            items = response.get("items", [])
            if not response.get("errors"):
                self.progress.indexed += len(items)
                return
            again: list[bytes] = []
            for number, item in enumerate(items):
                status = next(iter(item.values()))["status"]
                action, source = lines[2 * number], lines[2 * number + 1]
                if status < 300:
                    self.progress.indexed += 1
                elif status == 409:
                    self.progress.already_present += 1
                elif status in _RETRIABLE:
                    again += (action, source)
                elif b'"index_rejected"' in source:
                    self.progress.rejected += 1  # even the wrapped form was refused
                else:  # mapping conflict: keep the record, as raw text, rather than lose it
                    again += (action, self._wrapped(source, "index_rejected"))
            if again and len(again) == len(lines):
                self.progress.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            lines = again

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


def _transient(exc: Exception) -> bool:
    from elasticsearch import ApiError, ConnectionError, ConnectionTimeout

    if isinstance(exc, ConnectionError | ConnectionTimeout):
        return True
    return isinstance(exc, ApiError) and exc.meta.status in _RETRIABLE
