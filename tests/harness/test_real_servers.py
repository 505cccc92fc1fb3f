"""Each real server of the harness is the real thing: it does what only the real server does."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from elasticsearch import Elasticsearch
from kazoo.client import KazooClient

from paas_sdk.testing.pytest_plugin import Endpoint
from paas_sdk.testing.servers import PrometheusServer, promtool
from paas_sdk.testing.servers.cache import Cache


def test_zookeeper_creates_and_reads_a_znode(zookeeper: Endpoint) -> None:
    client = KazooClient(hosts=zookeeper.address, timeout=10)
    client.start(timeout=15)
    try:
        path = f"/paas-smoke/{uuid.uuid4().hex}"
        client.create(path, b"hello", makepath=True, ephemeral=True)
        data, stat = client.get(path)
        assert data == b"hello"
        assert stat.ephemeralOwner == client.client_id[0]
    finally:
        client.stop()
        client.close()


def test_kafka_produces_and_consumes_a_message(kafka: Endpoint) -> None:
    topic = f"paas-smoke-{uuid.uuid4().hex[:8]}"
    payload = uuid.uuid4().bytes
    producer = Producer({"bootstrap.servers": kafka.address})
    reports: list[str | None] = []
    producer.produce(
        topic,
        payload,
        key=b"k",
        on_delivery=lambda err, _msg: reports.append(None if err is None else str(err)),
    )
    assert producer.flush(30) == 0
    assert reports == [None]

    consumer = Consumer(
        {
            "bootstrap.servers": kafka.address,
            "group.id": f"smoke-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                assert message.value() == payload
                assert message.key() == b"k"
                return
        pytest.fail("the produced message was not consumed within 30 s")
    finally:
        consumer.close()


def test_elasticsearch_indexes_and_searches_a_document(elasticsearch: Endpoint) -> None:
    client = Elasticsearch(elasticsearch.address, request_timeout=30)
    index = f"paas-smoke-{uuid.uuid4().hex[:8]}"
    client.index(
        index=index, id="1", document={"message": "kafka delivered the record"}, refresh="wait_for"
    )
    result = client.search(index=index, query={"match": {"message": "delivered"}})
    hits = result["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == ["1"]
    nodes = client.nodes.info()["nodes"]
    assert [node["version"][:2] for node in nodes.values()] == ["8."]


def test_promtool_accepts_a_valid_rule_file_and_rejects_a_broken_one(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(
        "groups:\n- name: smoke\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 1m\n"
    )
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: smoke\n  rules:\n  - alert: Down\n    expr: up ==\n")
    ok = subprocess.run(
        [promtool(), "check", "rules", str(good)], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = subprocess.run(
        [promtool(), "check", "rules", str(bad)], capture_output=True, text=True, check=False
    )
    assert broken.returncode != 0
    assert "bad.yml" in broken.stdout + broken.stderr


class _Target(BaseHTTPRequestHandler):
    body = (
        b"# HELP paas_smoke_value A value only this test serves.\n"
        b"# TYPE paas_smoke_value gauge\npaas_smoke_value 42\n"
    )

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def metrics_target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_prometheus_scrapes_a_target(prometheus: PrometheusServer, metrics_target: str) -> None:
    prometheus.scrape("smoke", [metrics_target])
    prometheus.wait_for_targets_up("smoke", 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result = prometheus.query('paas_smoke_value{job="smoke"}')
        if result:
            assert result[0]["value"][1] == "42"
            return
        time.sleep(0.5)
    pytest.fail("the scraped value never appeared in Prometheus")


def test_a_second_bootstrap_downloads_nothing() -> None:
    assert Cache.default().missing() == []
    run = subprocess.run(
        [sys.executable, "-m", "paas_sdk.testing.servers"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "nothing downloaded" in run.stdout
    assert "fetching" not in run.stdout
