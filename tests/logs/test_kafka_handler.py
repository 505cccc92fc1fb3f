"""KafkaLogHandler against a real broker: delivery, accounting, outages, fork, bad input."""

from __future__ import annotations

import gc
import logging
import os
import resource
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from paas_sdk.errors import LogShippingError
from paas_sdk.logs import EcsFormatter, KafkaLogHandler, configure_logging
from paas_sdk.testing.pytest_plugin import Endpoint
from paas_sdk.testing.servers.kafka import KafkaServer

from .conftest import CONTEXT, read_topic


def _handler(bootstrap: str, topic: str, **options: Any) -> KafkaLogHandler:
    options.setdefault("registry", CollectorRegistry())
    return KafkaLogHandler(bootstrap, topic, formatter=EcsFormatter(CONTEXT), **options)


def _sample(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def test_records_reach_the_topic_and_are_counted(
    kafka: Endpoint, topic: str, app_logger: logging.Logger
) -> None:
    registry = CollectorRegistry()
    handler = _handler(kafka.address, topic, registry=registry)
    app_logger.addHandler(handler)
    for n in range(500):
        app_logger.info("order %d placed", n, extra={"order.id": n})
    handler.close()
    docs = read_topic(kafka.address, topic, 500)
    assert sorted(d["order"]["id"] for d in docs) == list(range(500))
    assert len({d["event"]["id"] for d in docs}) == 500
    assert handler.stats.emitted == handler.stats.delivered == 500
    assert handler.stats.in_flight == 0
    assert _sample(registry, "paas_log_records_emitted_total") == 500
    assert _sample(registry, "paas_log_records_delivered_total") == 500
    assert _sample(registry, "paas_log_records_in_flight") == 0
    assert handler._poller is not None
    assert handler._poller.name == "paas-logs"


def test_oversized_message_is_truncated_with_a_marker_and_counted(
    kafka: Endpoint, topic: str, app_logger: logging.Logger
) -> None:
    registry = CollectorRegistry()
    handler = _handler(kafka.address, topic, registry=registry, max_message_bytes=20_000)
    app_logger.addHandler(handler)
    app_logger.info("x" * 50_000)
    app_logger.info("small")
    handler.close()
    docs = read_topic(kafka.address, topic, 2)
    big = next(d for d in docs if d["message"] != "small")
    assert big["message"].startswith("xxxx")
    assert big["message"].endswith("[truncated, " + big["message"].rsplit("[truncated, ", 1)[1])
    assert "truncated" in big["tags"]
    assert len(big["message"]) < 20_000
    assert handler.stats.truncated == 1
    assert handler.stats.delivered == 2
    assert _sample(registry, "paas_log_records_truncated_total") == 1


def test_the_kafka_client_and_the_handler_never_ship_their_own_records(
    kafka: Endpoint, topic: str, app_logger: logging.Logger
) -> None:
    handler = _handler(kafka.address, topic)
    for name in ("confluent_kafka", "paas_sdk.logs"):
        own = logging.getLogger(name)
        own.addHandler(handler)
        own.warning("about myself")
        own.removeHandler(handler)
    app_logger.addHandler(handler)
    app_logger.info("a service record")
    handler.close()
    docs = read_topic(kafka.address, topic, 1)
    assert [d["message"] for d in docs] == ["a service record"]
    assert handler.stats.emitted == 1


def test_unresolvable_broker_neither_raises_nor_hangs(
    topic: str, app_logger: logging.Logger
) -> None:
    handler = _handler(
        "no-such-broker.invalid:9092", topic, close_timeout=1.0, delivery_timeout=60.0
    )
    app_logger.addHandler(handler)
    started = time.monotonic()
    for n in range(100):
        app_logger.info("record %d", n)
    assert time.monotonic() - started < 0.5
    app_logger.removeHandler(handler)
    handler.close()
    assert time.monotonic() - started < 4.0
    assert handler.stats.emitted == 100
    assert handler.stats.failed == 100  # purged at close, each one counted
    assert handler.stats.in_flight == 0


def test_delivered_never_goes_down_while_the_broker_is_unreachable(
    topic: str, app_logger: logging.Logger
) -> None:
    handler = _handler("127.0.0.1:1", topic, close_timeout=1.0, delivery_timeout=60.0)
    app_logger.addHandler(handler)
    for n in range(5):
        app_logger.info("record %d", n)
    # A poller that has not yet served librdkafka's queue, as under load: the connection
    # errors pile up as events beside the five records.
    handler._stop.set()
    assert handler._poller is not None
    handler._poller.join()
    seen = []
    for _ in range(8):
        stats = handler.stats
        seen.append(stats.delivered)
        settled = stats.dropped_total + stats.failed
        assert stats.in_flight == stats.emitted - settled - stats.delivered
        time.sleep(0.25)
    app_logger.removeHandler(handler)
    handler.close()
    assert min(seen) >= 0
    assert seen == sorted(seen)
    assert handler.stats.failed == 5


def test_a_full_queue_blocks_for_the_bound_at_most_when_asked_to(
    topic: str, app_logger: logging.Logger
) -> None:
    handler = _handler(
        "no-such-broker.invalid:9092",
        topic,
        queue_max_messages=10,
        on_full="block",
        block_timeout=0.1,
        close_timeout=0.5,
    )
    app_logger.addHandler(handler)
    durations: list[float] = []
    for n in range(15):
        started = time.perf_counter()
        app_logger.info("record %d", n)
        durations.append(time.perf_counter() - started)
    app_logger.removeHandler(handler)
    handler.close()
    assert max(durations[:10]) < 0.05  # room in the queue: no wait
    assert all(0.1 <= d < 0.5 for d in durations[10:])  # waited for room, then gave up
    assert handler.stats.dropped == {"queue_full": 5}
    assert handler.stats.emitted == 15
    assert handler.stats.failed == 10  # purged at close


def test_a_failing_key_function_is_reported_and_the_record_counted(
    topic: str, app_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    def key(record: logging.LogRecord) -> str:
        raise RuntimeError("no tenant on this record")

    handler = _handler("no-such-broker.invalid:9092", topic, key=key, close_timeout=0.5)
    app_logger.addHandler(handler)
    app_logger.info("record")  # handleError reports it on stderr; the caller sees nothing
    app_logger.removeHandler(handler)
    handler.close()
    assert "no tenant on this record" in capsys.readouterr().err
    assert handler.stats.emitted == 1
    assert handler.stats.dropped == {"error": 1}
    assert handler.stats.delivered == 0


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(LogShippingError, match="no bootstrap servers"):
        KafkaLogHandler(" ", "t")
    with pytest.raises(
        LogShippingError, match=r"kafka: cannot create the Kafka producer: .*compression"
    ):
        KafkaLogHandler("127.0.0.1:1", "t", compression="bogus", registry=CollectorRegistry())


def test_a_forked_child_ships_its_own_records(
    kafka: Endpoint, topic: str, app_logger: logging.Logger
) -> None:
    handler = _handler(kafka.address, topic)
    app_logger.addHandler(handler)
    app_logger.info("parent before fork")
    handler.flush(10)
    pid = os.fork()
    if pid == 0:  # the child: log through the inherited handler, then leave without cleanup
        code = 1
        try:
            for n in range(50):
                app_logger.info("child record %d", n)
            handler.close()
            code = 0 if handler.stats.delivered == 50 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    app_logger.info("parent after fork")
    handler.close()
    docs = read_topic(kafka.address, topic, 52)
    child = [d for d in docs if d["message"].startswith("child")]
    assert len(child) == 50
    assert {d["process"]["pid"] for d in child} == {pid}
    assert sorted(d["message"] for d in docs if d["message"].startswith("parent")) == [
        "parent after fork",
        "parent before fork",
    ]
    assert len({d["event"]["id"] for d in docs}) == 52
    assert handler.stats.delivered == 2


def test_configure_logging_installs_stdout_and_kafka(
    kafka: Endpoint, topic: str, app_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    setup = configure_logging(
        CONTEXT, kafka_bootstrap=kafka.address, topic=topic, logger=app_logger, stream=sys.stdout
    )
    again = configure_logging(
        CONTEXT, kafka_bootstrap=kafka.address, topic=topic, logger=app_logger, stream=sys.stdout
    )
    ours = [h for h in app_logger.handlers if getattr(h, "_paas_logs", False)]
    assert ours == [again.stream_handler, again.kafka_handler]  # replaced, not stacked
    assert setup.kafka_handler is not None
    assert again.kafka_handler is not None
    app_logger.warning("configured")
    again.close()
    assert again.stream_handler not in app_logger.handlers
    assert again.kafka_handler not in app_logger.handlers
    assert '"message":"configured"' in capsys.readouterr().out
    assert [d["message"] for d in read_topic(kafka.address, topic, 1)] == ["configured"]
    assert configure_logging(CONTEXT, logger=app_logger).kafka_handler is None


def test_a_kafka_handler_that_cannot_be_built_leaves_the_earlier_handlers(
    app_logger: logging.Logger,
) -> None:
    import io

    stream = io.StringIO()
    setup = configure_logging(CONTEXT, logger=app_logger, stream=stream)
    with pytest.raises(LogShippingError, match="compression"):
        configure_logging(
            CONTEXT, kafka_bootstrap="127.0.0.1:1", logger=app_logger, compression="bogus"
        )
    app_logger.warning("still logged")
    assert setup.stream_handler in app_logger.handlers
    assert '"message":"still logged"' in stream.getvalue()
    setup.close()


@pytest.mark.slow
def test_kafka_outage_drops_are_counted_exactly_and_logging_never_blocks(
    managed_kafka: KafkaServer, topic: str, app_logger: logging.Logger
) -> None:
    """Kafka down for 30 s while the service logs 1 000 records/s: the bounded queue (3 000
    records here) fills, the rest is dropped and counted, and no call waits."""
    registry = CollectorRegistry()
    bootstrap = managed_kafka.bootstrap_servers
    handler = _handler(
        bootstrap, topic, registry=registry, queue_max_messages=3000, close_timeout=30.0
    )
    app_logger.addHandler(handler)
    durations: list[float] = []
    preempted: list[bool] = []
    phases: list[str] = []

    def log_for(seconds: float, label: str) -> int:
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            n += 1
            switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
            t0 = time.perf_counter()
            app_logger.info("%s %d", label, n)
            durations.append(time.perf_counter() - t0)
            preempted.append(resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw > switches)
            phases.append(label)
            # pace at 1 000 records/s
            time.sleep(max(0.0, start + n / 1000 - time.monotonic()))
        return n

    gc.disable()  # a collector pause is not the handler's doing; measured without it
    try:
        before = log_for(2.0, "before")
        handler.flush(10)
        managed_kafka.stop()
        during = log_for(30.0, "during")
        managed_kafka.restart()
        log_for(2.0, "after")
    finally:
        gc.enable()
    handler.close()
    stats = handler.stats
    docs = read_topic(bootstrap, topic, stats.delivered, timeout=90)
    # No call waits: a call that waited on the network would last at least the broker's
    # reconnect backoff (100 ms and more), and a handler that waited while the queue is full
    # would slow down most of the 27 000 calls of the outage. On this virtual machine a few
    # calls in any phase, Kafka up or down, last 5-16 ms (the host takes the CPU away, which
    # the thread's involuntary context switches do not always show): they are bounded.
    calls = list(zip(durations, preempted, phases, strict=True))
    slow = sorted(calls, reverse=True)[:5]
    over_5ms = sum(d > 0.005 for d in durations)
    assert over_5ms <= len(durations) // 1000, f"{over_5ms} calls over 5 ms; slowest {slow}"
    assert max(durations) < 0.05, f"slowest calls (s, preempted, phase): {slow}"
    assert stats.emitted == len(durations)
    assert stats.dropped.get("queue_full", 0) > 0
    assert stats.failed == 0
    assert (
        stats.emitted == stats.delivered + stats.dropped_total
    )  # nothing in flight, nothing lost unseen
    assert len(docs) == stats.delivered
    assert len({d["event"]["id"] for d in docs}) == len(docs)
    delivered = {d["message"] for d in docs}
    assert {f"before {n}" for n in range(1, before + 1)} <= delivered
    # the queue was empty when Kafka stopped: the first 3 000 records of the outage fit the
    # bound and must all arrive; the rest of the outage was dropped and counted
    assert during > 27_000
    assert {f"during {n}" for n in range(1, 3001)} <= delivered
    assert (
        _sample(registry, "paas_log_records_dropped_total", {"reason": "queue_full"})
        == stats.dropped["queue_full"]
    )
    assert _sample(registry, "paas_log_records_delivered_total") == len(docs)


def test_records_logged_just_before_exit_are_delivered_without_thread_errors(
    kafka: Endpoint, topic: str
) -> None:
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import logging
        from paas_sdk.logs import KafkaLogHandler
        log = logging.getLogger("svc")
        log.setLevel(logging.INFO)
        log.addHandler(KafkaLogHandler({kafka.address!r}, {topic!r}))
        for n in range(300):
            log.info("last words %d", n)
        # no close(): logging.shutdown at exit must flush, bounded, and start no thread
        """
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "thread" not in result.stderr.lower()
    assert time.monotonic() - started < 30
    docs = read_topic(kafka.address, topic, 300)
    assert sorted(int(d["message"].rsplit(" ", 1)[1]) for d in docs) == list(range(300))
