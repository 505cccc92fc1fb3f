"""The pipeline at scale, against real servers: indexers sharing a topic's partitions with one
killed, and a broker of a three-broker KRaft cluster killed while services ship."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch
from prometheus_client import CollectorRegistry

from paas_sdk.logs import EcsFormatter, KafkaLogHandler
from paas_sdk.testing.pytest_plugin import Endpoint
from paas_sdk.testing.servers import KafkaCluster

from .conftest import CONTEXT, PAAS_LOGS, cli, count, index_args, read_topic


def _create_topic(bootstrap: str, topic: str, partitions: int, replicas: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"min.insync.replicas": "2"} if replicas > 1 else {}
    futures = admin.create_topics([NewTopic(topic, partitions, replicas, config=config)])
    futures[topic].result(timeout=60)


def _handler(bootstrap: str, topic: str) -> tuple[logging.Logger, KafkaLogHandler]:
    logger = logging.getLogger(f"scale.{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = KafkaLogHandler(
        bootstrap,
        topic,
        formatter=EcsFormatter(CONTEXT),
        registry=CollectorRegistry(),
        close_timeout=120,
        queue_max_messages=1_000_000,
    )
    logger.addHandler(handler)
    return logger, handler


@pytest.mark.slow
def test_three_indexers_on_three_partitions_one_killed_index_exactly_n(
    kafka: Endpoint, elasticsearch: Endpoint, topic: str
) -> None:
    total = 15_000
    _create_topic(kafka.address, topic, 3)
    logger, handler = _handler(kafka.address, topic)
    for n in range(total):
        logger.info("order %d placed", n, extra={"order.id": n})
    handler.close()
    assert handler.stats.delivered == total
    index = f"paas-logs-scale-{uuid.uuid4().hex[:6]}"
    assert (
        cli("setup", "--es", elasticsearch.address, "--name", index, "--index", index).returncode
        == 0
    )
    args = [
        PAAS_LOGS,
        *index_args(elasticsearch.address, kafka.address, topic, index),
        *("--batch-size", "500", "--idle-exit", "20", "--quiet"),
    ]
    indexers = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    es = Elasticsearch(elasticsearch.address)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if es.indices.exists(index=index) and count(es, index) >= total // 4:
                break
            time.sleep(0.2)
        at_kill = count(es, index)
        indexers[0].send_signal(signal.SIGKILL)
        results = [p.communicate(timeout=240) for p in indexers[1:]]
    finally:
        for process in indexers:
            process.kill()
            process.wait(30)
    assert 0 < at_kill < total, "the kill has to land mid-run"
    for process, (_out, err) in zip(indexers[1:], results, strict=True):
        assert process.returncode == 0, err
    assert count(es, index) == total
    ids = es.search(index=index, size=0, aggs={"n": {"value_count": {"field": "event.id"}}})[
        "aggregations"
    ]["n"]["value"]
    assert ids == total
    assert count(es, index, {"range": {"order.id": {"gte": 0, "lt": total}}}) == total


@pytest.mark.slow
def test_a_broker_killed_while_shipping_with_acks_all_loses_nothing(
    kafka_cluster: KafkaCluster, topic: str
) -> None:
    total = 20_000
    bootstrap = kafka_cluster.bootstrap_servers
    _create_topic(bootstrap, topic, 3, replicas=3)
    logger, handler = _handler(bootstrap, topic)
    shipped = threading.Event()

    def ship() -> None:
        for n in range(total):
            logger.info("order %d placed", n, extra={"order.id": n})
            if n % 1000 == 0:
                time.sleep(0.05)  # spread over a few seconds, so the kill lands mid-stream
        shipped.set()

    shipper = threading.Thread(target=ship)
    shipper.start()
    time.sleep(1.0)
    kafka_cluster.nodes[0].kill()  # a crash: no controlled shutdown, leaders move
    shipper.join(timeout=120)
    assert shipped.is_set()
    handler.close()
    stats = handler.stats
    assert stats.failed == 0
    assert stats.dropped_total == 0
    assert stats.delivered == total
    docs = read_topic(kafka_cluster.nodes[1].bootstrap_servers, topic, total, timeout=120)
    assert {doc["order"]["id"] for doc in docs} == set(range(total))
