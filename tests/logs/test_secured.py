"""`paas-logs` against secured clusters: SASL logins to a real Kafka broker, credentials from files
or the environment, and no password ever printed."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from paas_sdk.testing.pytest_plugin import SASL_USERS, Endpoint
from paas_sdk.testing.servers import KafkaServer

from .conftest import PAAS_LOGS, cli, count


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PAAS_LOGS, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in range(count):
        doc = {"@timestamp": "2026-01-01T00:00:00Z", "message": f"m{n}", "event": {"id": f"{n}"}}
        producer.produce(topic, orjson.dumps(doc))
    assert producer.flush(30) == 0


def test_index_logs_in_with_scram_and_plain(
    kafka_sasl: KafkaServer, elasticsearch: Endpoint, topic: str, tmp_path: Path
) -> None:
    from elasticsearch import Elasticsearch

    _produce(kafka_sasl.bootstrap_servers, topic, 20)
    index = f"paas-logs-sasl-{uuid.uuid4().hex[:6]}"
    common = [
        "--es",
        elasticsearch.address,
        "--bootstrap",
        kafka_sasl.sasl_bootstrap_servers,
        "--topic",
        topic,
        "--index",
        index,
        "--install-template",
        "--idle-exit",
        "2",
    ]
    scram = _run(
        "index",
        *common,
        "--max-records",
        "10",
        "--group",
        f"scram-{topic}",
        "--kafka-sasl-mechanism",
        "SCRAM-SHA-256",
        env={"PAAS_LOGS_KAFKA_USER": "indexer", "PAAS_LOGS_KAFKA_PASSWORD": SASL_USERS["indexer"]},
    )
    assert scram.returncode == 0, scram.stderr
    assert "done: 10 records consumed, 10 indexed" in scram.stdout

    password = tmp_path / "kafka-password"
    password.write_text(SASL_USERS["indexer"] + "\n")
    plain = _run(
        "index",
        *common,
        "--group",
        f"plain-{topic}",
        "--kafka-sasl-mechanism",
        "PLAIN",
        "--kafka-user",
        "indexer",
        "--kafka-password-file",
        str(password),
        env={},
    )
    assert plain.returncode == 0, plain.stderr
    assert "20 records consumed" in plain.stdout
    assert count(Elasticsearch(elasticsearch.address), index) == 20


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_a_refused_login_is_one_clear_error(
    kafka_sasl: KafkaServer, elasticsearch: Endpoint, topic: str, mechanism: str
) -> None:
    started = time.monotonic()
    result = _run(
        "index",
        "--es",
        elasticsearch.address,
        "--bootstrap",
        kafka_sasl.sasl_bootstrap_servers,
        "--topic",
        topic,
        "--install-template",
        "--index",
        f"paas-logs-refused-{uuid.uuid4().hex[:6]}",
        "--kafka-sasl-mechanism",
        mechanism,
        "--kafka-user",
        "indexer",
        env={"PAAS_LOGS_KAFKA_PASSWORD": "wrong-hunter2"},
    )
    assert result.returncode == 1
    assert time.monotonic() - started < 60
    lines = [line for line in result.stderr.splitlines() if not line.startswith("installed")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paas-logs: Kafka at ")
    assert "Authentication failed" in lines[0] or "authentication" in lines[0].lower()
    assert kafka_sasl.sasl_bootstrap_servers in lines[0]
    assert "wrong-hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_passwords_are_masked_in_every_error(
    elasticsearch: Endpoint, kafka: Endpoint, tmp_path: Path
) -> None:
    host_port = elasticsearch.address.split("://", 1)[1]
    urls = [
        "http://elastic:hunter2@127.0.0.1:9",  # unreachable
        f"https://elastic:hunter2@{host_port}",  # TLS to a plain-HTTP node
    ]
    for url in urls:
        for args in (
            ["setup", "--es", url],
            ["tail", "--es", url],
            ["index", "--es", url, "--bootstrap", kafka.address],
        ):
            result = cli(*args)
            assert result.returncode == 1, (args, result.stderr)
            assert "hunter2" not in result.stderr + result.stdout
            assert "elastic:xxxxxx@" in result.stderr
            assert "Traceback" not in result.stderr
    bad_scheme = cli("setup", "--es", "ftp://elastic:hunter2@host")
    assert bad_scheme.returncode == 2
    assert "hunter2" not in bad_scheme.stderr
    empty = tmp_path / "empty"
    empty.write_text("")
    no_key = cli("setup", "--es", elasticsearch.address, "--es-api-key-file", str(empty))
    assert no_key.returncode == 1
    assert f"{empty}: the API key file is empty" in no_key.stderr
