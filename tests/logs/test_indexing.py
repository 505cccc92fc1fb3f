"""`paas-logs setup`, `index` and `tail` against the real Kafka and Elasticsearch."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
import uuid

import pytest
from elasticsearch import Elasticsearch
from prometheus_client import CollectorRegistry

from paas_sdk.context import ServiceContext
from paas_sdk.logs import EcsFormatter, KafkaLogHandler
from paas_sdk.testing.pytest_plugin import Endpoint

from .conftest import CONTEXT, PAAS_LOGS, cli, count, index_args


def _ship(kafka: str, topic: str, count: int, context: ServiceContext = CONTEXT) -> None:
    logger = logging.getLogger(f"ship.{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = KafkaLogHandler(
        kafka,
        topic,
        formatter=EcsFormatter(context),
        registry=CollectorRegistry(),
        close_timeout=60,
    )
    logger.addHandler(handler)
    for n in range(count):
        logger.info("order %d placed", n, extra={"order.id": n})
    logger.removeHandler(handler)
    handler.close()
    assert handler.stats.delivered == count


@pytest.fixture
def es(elasticsearch: Endpoint) -> Elasticsearch:
    return Elasticsearch(elasticsearch.address)


@pytest.fixture
def index_name() -> str:
    return f"paas-logs-{uuid.uuid4().hex[:8]}"


def test_setup_falls_back_to_an_index_template_without_data_streams(
    elasticsearch: Endpoint, es: Elasticsearch
) -> None:
    name = f"t-{uuid.uuid4().hex[:6]}"
    dry = cli("setup", "--es", elasticsearch.address, "--name", name, "--index", name, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert '"index_patterns"' in dry.stdout
    assert not es.indices.exists_index_template(name=name)
    result = cli("setup", "--es", elasticsearch.address, "--name", name, "--index", name)
    assert result.returncode == 0, result.stderr
    assert "index template (no data streams on this node)" in result.stdout
    template = es.indices.get_index_template(name=name)["index_templates"][0]["index_template"]
    assert template["index_patterns"] == [f"{name}*"]
    assert "data_stream" not in template
    es.indices.create(index=f"{name}-x")
    mapping = es.indices.get_mapping(index=f"{name}-x")[f"{name}-x"]["mappings"]["properties"]
    assert mapping["@timestamp"]["type"] == "date_nanos"
    assert mapping["message"]["type"] == "text"


def test_unreachable_elasticsearch_is_one_clear_line() -> None:
    result = cli("setup", "--es", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "http://127.0.0.1:9: cannot reach Elasticsearch" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli("setup", "--es", "ftp://x").returncode == 2
    assert cli("index", "--es", "http://127.0.0.1:9").returncode == 2  # --bootstrap missing


@pytest.mark.slow
def test_100k_records_become_exactly_100k_ecs_documents(
    kafka: Endpoint, elasticsearch: Endpoint, es: Elasticsearch, topic: str, index_name: str
) -> None:
    assert (
        cli(
            "setup", "--es", elasticsearch.address, "--name", index_name, "--index", index_name
        ).returncode
        == 0
    )
    _ship(kafka.address, topic, 100_000)
    result = cli(
        *index_args(elasticsearch.address, kafka.address, topic, index_name, "--idle-exit", "5")
    )
    assert result.returncode == 0, result.stderr
    assert "done: 100000 records consumed" in result.stdout
    assert "records/s" in result.stderr
    assert count(es, index_name) == 100_000
    # ECS-valid: every document has the required fields and this service's identity
    ecs = {
        "bool": {
            "filter": [
                {"exists": {"field": "@timestamp"}},
                {"exists": {"field": "ecs.version"}},
                {"term": {"log.level": "INFO"}},
                {"term": {"service.name": "orders"}},
                {"exists": {"field": "event.id"}},
            ]
        }
    }
    assert count(es, index_name, ecs) == 100_000
    distinct = es.search(
        index=index_name,
        size=0,
        aggs={"n": {"cardinality": {"field": "order.id", "precision_threshold": 40000}}},
    )
    assert distinct["aggregations"]["n"]["value"] > 98_000  # cardinality is approximate past 40 000
    assert count(es, index_name, {"range": {"order.id": {"gte": 99_990}}}) == 10


@pytest.mark.slow
def test_indexer_killed_mid_run_and_restarted_loses_and_duplicates_nothing(
    kafka: Endpoint, elasticsearch: Endpoint, es: Elasticsearch, topic: str, index_name: str
) -> None:
    total = 40_000
    _ship(kafka.address, topic, total)
    args = [
        *index_args(elasticsearch.address, kafka.address, topic, index_name),
        "--batch-size",
        "1000",
        "--install-template",
    ]
    first = subprocess.Popen(
        [PAAS_LOGS, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if es.indices.exists(index=index_name) and count(es, index_name) >= 3000:
                break
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    indexed_before = count(es, index_name)
    assert 0 < indexed_before < total, "the kill has to land mid-run"
    second = cli(*args, "--idle-exit", "5")
    assert second.returncode == 0, second.stderr
    assert count(es, index_name) == total
    assert count(es, index_name, {"range": {"order.id": {"gte": 0, "lt": total}}}) == total


def test_tail_filters_by_service_level_and_text(
    kafka: Endpoint, elasticsearch: Endpoint, es: Elasticsearch, topic: str, index_name: str
) -> None:
    setup = cli("setup", "--es", elasticsearch.address, "--name", index_name, "--index", index_name)
    assert setup.returncode == 0, setup.stderr
    other = ServiceContext(app_id="payments", host_name="ci")
    logger = logging.getLogger(f"tail.{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handlers = [
        KafkaLogHandler(
            kafka.address, topic, formatter=EcsFormatter(ctx), registry=CollectorRegistry()
        )
        for ctx in (CONTEXT, other)
    ]
    for handler, words in zip(handlers, ("orders", "payments"), strict=True):
        logger.addHandler(handler)
        logger.info("%s started", words)
        logger.error("%s card declined", words)
        logger.removeHandler(handler)
        handler.close()
    result = cli(
        *index_args(elasticsearch.address, kafka.address, topic, index_name),
        "--max-records",
        "4",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    es.indices.refresh(index=index_name)
    shown = cli(
        "tail",
        "--es",
        elasticsearch.address,
        "--index",
        index_name,
        "--service",
        "payments",
        "--level",
        "warning",
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 1
    assert "ERROR" in lines[0]
    assert "payments card declined" in lines[0]
    texts = cli("tail", "--es", elasticsearch.address, "--index", index_name, "--text", "started")
    assert [line.rsplit(": ", 1)[1] for line in texts.stdout.splitlines()] == [
        "orders started",
        "payments started",
    ]
    missing = cli("tail", "--es", elasticsearch.address, "--index", "no-such-index")
    assert missing.returncode == 1
    assert "no-such-index: no such index" in missing.stderr
