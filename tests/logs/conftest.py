"""Helpers shared by the Kafka and Elasticsearch log tests."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from paas_sdk.context import ServiceContext

PAAS_LOGS = str(Path(sys.executable).parent / "paas-logs")
CONTEXT = ServiceContext(app_id="orders", environment="test", version="2.0.0", host_name="ci")


@pytest.fixture
def topic() -> str:
    return f"logs-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    """A logger of the test's own, not propagating to the root (pytest's capture stays out)."""
    logger = logging.getLogger(f"app.{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def read_topic(
    bootstrap: str, topic: str, expected: int, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Every message of `topic` as documents, waiting until `expected` arrived (or timeout)."""
    import time

    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    docs: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10_000, timeout=0.5)
            got = [m for m in batch if m.error() is None]
            docs.extend(orjson.loads(m.value() or b"null") for m in got)
            if got:
                quiet_since = time.monotonic()
            # wait a little past `expected` so that surplus messages would be seen too
            elif len(docs) >= expected and time.monotonic() - quiet_since > 1.0:
                break
    finally:
        consumer.close()
    return docs


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``paas-logs`` as a user would; its output as text."""
    return subprocess.run(
        [PAAS_LOGS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def index_args(es: str, bootstrap: str, topic: str, index: str, *more: str) -> list[str]:
    """The arguments of ``paas-logs index`` reading `topic` into `index` as the group
    ``g-<topic>``, then `more`."""
    common = ["--topic", topic, "--index", index, "--group", f"g-{topic}"]
    return ["index", "--es", es, "--bootstrap", bootstrap, *common, *more]


def count(es: Any, index: str, query: dict[str, Any] | None = None) -> int:
    """Documents in `index` (matching `query`), after a refresh."""
    es.indices.refresh(index=index)
    return int(es.count(index=index, query=query or {"match_all": {}})["count"])
