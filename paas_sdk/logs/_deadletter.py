"""The dead-letter topic: records Elasticsearch will not take, set aside as Kafka Connect does.

Each dead letter is the original record, key and value byte for byte, with Kafka Connect's
context headers (``errors.deadletterqueue.context.headers.enable=true``; header names and their
UTF-8 text values as connect/runtime's ``DeadLetterQueueReporter`` writes them), so tools built
for Connect's dead-letter queues read ours. `replay` sends them back to their source topic once
the cause (a mapping, a template) is fixed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from paas_sdk.errors import LogIndexingError
from paas_sdk.logs._clients import KafkaSettings

__all__ = [
    "DeadLetter",
    "DeadLetterWriter",
    "read_dead_letters",
    "replay_dead_letters",
]

HEADER_PREFIX = "__connect.errors."
TOPIC = HEADER_PREFIX + "topic"
PARTITION = HEADER_PREFIX + "partition"
OFFSET = HEADER_PREFIX + "offset"
CONNECTOR = HEADER_PREFIX + "connector.name"
TASK = HEADER_PREFIX + "task.id"
STAGE = HEADER_PREFIX + "stage"
CLASS = HEADER_PREFIX + "class.name"
EXCEPTION = HEADER_PREFIX + "exception.class.name"
MESSAGE = HEADER_PREFIX + "exception.message"
# Connect's stages: a value that cannot be read is a converter's failure, a document the sink
# refuses fails in the task's put().
STAGE_CONVERTER = "VALUE_CONVERTER"
STAGE_PUT = "TASK_PUT"
_REASON_LIMIT = 2000


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic, with where it came from and why it is there."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def source(self) -> str:
        """``topic[partition]@offset`` of the original record."""
        h = self.headers
        return f"{h.get(TOPIC, '?')}[{h.get(PARTITION, '?')}]@{h.get(OFFSET, '?')}"

    @property
    def reason(self) -> str:
        h = self.headers
        return f"{h.get(EXCEPTION, '?')}: {h.get(MESSAGE, '')}"

    def as_json(self) -> dict[str, Any]:
        value = self.value or b""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "headers": self.headers,
            "value": value.decode("utf-8", "replace"),
        }


class DeadLetterWriter:
    """Produces dead letters; `flush()` returns only once Kafka has every one of them, so the
    indexer commits a batch's offsets only after its dead letters are safe."""

    def __init__(self, kafka: KafkaSettings, topic: str, *, name: str) -> None:
        from confluent_kafka import KafkaException, Producer

        self.topic = topic
        self.name = name
        self.pending = 0
        self._failures: list[str] = []
        try:
            self._producer = Producer(
                {
                    **kafka.config(),
                    "enable.idempotence": True,
                    "acks": "all",
                    "compression.codec": "lz4",
                    # the record plus Connect's headers; the broker's own limit still applies
                    "message.max.bytes": 4 * 1024 * 1024,
                    "linger.ms": 5,
                    "error_cb": lambda _error: None,  # the consumer beside it reports them
                }
            )
        except (KafkaException, ValueError) as exc:
            raise LogIndexingError(f"cannot create the producer: {exc}", where=topic) from None

    def write(self, message: Any, *, stage: str, exception: str, reason: str) -> None:
        """Set `message` (a consumed Kafka message) aside with why it could not be indexed."""
        headers = [
            (TOPIC, message.topic()),
            (PARTITION, str(message.partition())),
            (OFFSET, str(message.offset())),
            (CONNECTOR, self.name),
            (TASK, "0"),
            (STAGE, stage),
            (CLASS, "paas_sdk.logs.LogIndexer"),
            (EXCEPTION, exception),
            (MESSAGE, reason[:_REASON_LIMIT]),
        ]
        encoded = [(k, v.encode("utf-8")) for k, v in headers]
        while True:
            try:
                self._producer.produce(
                    self.topic,
                    message.value(),
                    message.key(),
                    headers=encoded,
                    on_delivery=self._delivered,
                )
                break
            except BufferError:  # librdkafka's queue is full: let it drain
                self._producer.poll(0.1)
        self.pending += 1

    def _delivered(self, err: Any, _msg: Any) -> None:
        self.pending -= 1
        if err is not None:
            self._failures.append(str(err))

    def flush(self, on_wait: Callable[[str], None] | None = None) -> None:
        """Wait until Kafka has every dead letter written so far; raise if it refused one."""
        while self._producer.flush(1.0) > 0:
            if on_wait is not None:
                on_wait(f"Kafka to take {self.pending} dead letters for {self.topic}")
        if self._failures:
            failure, self._failures = self._failures[0], []
            raise LogIndexingError(f"cannot write a dead letter: {failure}", where=self.topic)


def _consumer(kafka: KafkaSettings, group: str | None) -> Any:
    from confluent_kafka import Consumer, KafkaException

    try:
        return Consumer(
            {
                **kafka.config(),
                "group.id": group or f"paas-logs-dlq-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
            }
        )
    except (KafkaException, ValueError) as exc:
        raise LogIndexingError(f"cannot create the consumer: {exc}", where="kafka") from None


def _read(
    consumer: Any, topic: str, timeout: float, *, from_committed: bool
) -> Iterator[tuple[Any, DeadLetter]]:
    """Every record of `topic` up to the end it had when reading began (from the start, or from
    the group's committed offsets), waiting at most `timeout` s for the brokers."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

    deadline = time.monotonic() + timeout
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise LogIndexingError(f"cannot reach Kafka: {exc}", where=topic) from None
    described = metadata.topics.get(topic)
    if described is None or described.error is not None or not described.partitions:
        raise LogIndexingError("no such topic (nothing was dead-lettered yet?)", where=topic)
    starts, ends = _ranges(consumer, topic, described.partitions, timeout, from_committed)
    todo = {p for p in ends if starts[p] < ends[p]}
    if not todo:
        return
    consumer.assign(
        [TopicPartition(topic, p, starts[p] if starts[p] >= 0 else OFFSET_BEGINNING) for p in todo]
    )
    while todo:
        if time.monotonic() > deadline:
            raise LogIndexingError(f"not read to its end within {timeout:.0f} s", where=topic)
        message = consumer.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                todo.discard(message.partition())
                continue
            raise LogIndexingError(f"cannot read: {error}", where=topic)
        partition, offset = message.partition(), message.offset()
        if offset >= ends[partition]:
            todo.discard(partition)
            continue
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in message.headers() or []}
        yield message, DeadLetter(partition, offset, message.key(), message.value(), headers)
        if offset + 1 >= ends[partition]:
            todo.discard(partition)


def _ranges(
    consumer: Any, topic: str, partitions: Any, timeout: float, from_committed: bool
) -> tuple[dict[int, int], dict[int, int]]:
    """Where reading starts and ends in each partition."""
    from confluent_kafka import TopicPartition

    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout
        )
        starts[partition], ends[partition] = low, high
    if from_committed:
        committed = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=timeout)
        for tp in committed:
            if tp.offset >= 0:
                starts[tp.partition] = tp.offset
    return starts, ends


def read_dead_letters(
    kafka: KafkaSettings, topic: str, *, timeout: float = 30.0
) -> list[DeadLetter]:
    """Every dead letter in `topic` now, in partition and offset order; commits nothing."""
    consumer = _consumer(kafka, None)
    try:
        letters = [letter for _, letter in _read(consumer, topic, timeout, from_committed=False)]
    finally:
        consumer.close()
    return sorted(letters, key=lambda d: (d.partition, d.offset))


def replay_dead_letters(
    kafka: KafkaSettings,
    topic: str,
    *,
    group: str,
    to: str | None = None,
    dry_run: bool = False,
    timeout: float = 30.0,
) -> list[DeadLetter]:
    """Produce the dead letters the `group` has not replayed yet back to their source topic (or
    `to`), then commit, so that a second replay sends nothing twice. Returns what was (or with
    `dry_run` would be) replayed."""
    from confluent_kafka import KafkaException, Producer, TopicPartition

    consumer = _consumer(kafka, group)
    producer = None if dry_run else Producer({**kafka.config(), "enable.idempotence": True})
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    replayed: list[DeadLetter] = []
    ends: dict[int, int] = {}
    try:
        for message, letter in _read(consumer, topic, timeout, from_committed=True):
            target = to or letter.headers.get(TOPIC)
            if not target:
                raise LogIndexingError(
                    f"dead letter at offset {letter.offset} names no source topic; pass --to",
                    where=f"{topic}[{letter.partition}]",
                )
            if producer is not None:
                producer.produce(target, letter.value, letter.key, on_delivery=delivered)
                producer.poll(0)
            replayed.append(letter)
            ends[message.partition()] = message.offset() + 1
        if producer is None or not replayed:
            return replayed
        if producer.flush(timeout) > 0 or failures:
            reason = failures[0] if failures else f"not delivered within {timeout:.0f} s"
            raise LogIndexingError(f"replay failed, nothing committed: {reason}", where=topic)
        try:
            consumer.commit(
                offsets=[TopicPartition(topic, p, o) for p, o in ends.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            raise LogIndexingError(
                f"replayed, but the group's offsets could not be committed: {exc}", where=group
            ) from None
        return replayed
    finally:
        consumer.close()
