"""librdkafka's own log lines against a real broker and a closed port: through Python logging as
ECS JSON, rate-limited, never raw on stderr, never shipped back to Kafka."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter

import orjson
import pytest

from paas_sdk.logs._librdkafka import RateLimit
from paas_sdk.testing.pytest_plugin import Endpoint

from .conftest import read_topic

# A service logging to stdout and to the real broker, with a second handler whose broker is a
# closed port: its librdkafka fails to connect every 10 ms for 3.5 s.
SERVICE = """
import logging, sys, time
from paas_sdk.logs import EcsFormatter, KafkaLogHandler
from paas_sdk.logs._librdkafka import LIBRDKAFKA_LOGGER

LIBRDKAFKA_LOGGER.filters[0].interval = 1.0
stdout = logging.StreamHandler(sys.stdout)
stdout.setFormatter(EcsFormatter())
root = logging.getLogger()
root.setLevel(logging.INFO)
root.addHandler(stdout)
shipped = KafkaLogHandler(sys.argv[1], sys.argv[2])
root.addHandler(shipped)
down = KafkaLogHandler(
    "127.0.0.1:1", "nowhere",
    producer_config={"reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 10},
)
logging.getLogger("app").info("order placed")
time.sleep(3.5)
down.close_timeout = 0.1
down.close()
shipped.close()
"""


def test_librdkafka_lines_are_ecs_records_rate_limited_and_never_shipped(
    kafka: Endpoint, topic: str
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", SERVICE, kafka.address, topic],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert "%3|" not in child.stderr, child.stderr
    assert "FAIL" not in child.stderr, child.stderr
    records = [orjson.loads(line) for line in child.stdout.splitlines()]
    kafka_lines = [r for r in records if r["log"]["logger"] == "paas_sdk.logs.librdkafka"]
    failures = [r for r in kafka_lines if "127.0.0.1:1" in r["message"]]
    assert failures
    assert all(r["log"]["level"] == "ERROR" for r in failures)
    assert all(r["message"].startswith("FAIL [paas-logs-python#producer-") for r in failures)
    # at most one line per distinct facility and text a second (plus the window's edges); how
    # often librdkafka repeats a failure is its own affair (it folds identical ones), so the
    # count of those suppressed is tested below on records of known timing
    distinct = Counter(r["message"].split(" (")[0] for r in failures)
    assert max(distinct.values()) <= 5, distinct
    shipped = read_topic(kafka.address, topic, 1, timeout=10)
    assert [d["message"] for d in shipped] == ["order placed"]


def _librdkafka_record(text: str) -> logging.LogRecord:
    """A record as confluent-kafka logs one of librdkafka's lines."""
    return logging.LogRecord(
        "paas_sdk.logs.librdkafka", logging.ERROR, "", 0, "%s [%s] %s",
        ("FAIL", "rdkafka#producer-1", text), None,
    )  # fmt: skip


def test_the_rate_limit_counts_what_it_suppressed_per_facility_and_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One line per distinct text (numbers aside) per interval; the next one let through says
    how many were held back meanwhile."""
    clock = [100.0]
    monkeypatch.setattr("paas_sdk.logs._librdkafka.time.monotonic", lambda: clock[0])
    limit = RateLimit(interval=1.0)
    refused = "127.0.0.1:1/bootstrap: Connect failed: Connection refused (after {}ms)"
    passed = []
    for step in range(25):  # every 0.1 s for 2.5 s, the duration in the text changing
        clock[0] = 100.0 + step / 10
        record = _librdkafka_record(refused.format(step))
        if limit.filter(record):
            passed.append(record.getMessage())
    other = _librdkafka_record("another broker is down")
    assert limit.filter(other)  # a text of its own has its own window
    assert passed == [
        f"FAIL [rdkafka#producer-1] {refused.format(0)}",
        f"FAIL [rdkafka#producer-1] {refused.format(10)} (9 more like it suppressed)",
        f"FAIL [rdkafka#producer-1] {refused.format(20)} (9 more like it suppressed)",
    ]
