"""Records Elasticsearch will not take are set aside, never the batch around them (real Kafka and
Elasticsearch): dead letters as Kafka Connect writes them, exact counters, `paas-logs dlq`."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer
from elasticsearch import Elasticsearch

from paas_sdk.testing.pytest_plugin import Endpoint

from .conftest import cli, count, index_args


def _good(n: int, **more: Any) -> dict[str, Any]:
    return {
        "@timestamp": "2026-01-01T00:00:00.000000Z",
        "log": {"level": "INFO", "logger": "app"},
        "message": f"order {n} placed",
        "event": {"id": f"rec-{n}"},
        "service": {"name": "orders"},
        "order": {"id": n},
        **more,
    }


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 2_000_000})
    for value in values:
        producer.produce(topic, value, key=b"k")
    assert producer.flush(60) == 0


def _dead_letters(bootstrap: str, topic: str, expected: int) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    got: list[Any] = []
    for _ in range(60):
        got += [m for m in consumer.consume(100, timeout=0.5) if m.error() is None]
        if len(got) >= expected:
            break
    consumer.close()
    return got


@pytest.fixture
def es(elasticsearch: Endpoint) -> Elasticsearch:
    return Elasticsearch(elasticsearch.address)


@pytest.fixture
def index_name(elasticsearch: Endpoint) -> str:
    name = f"paas-logs-{uuid.uuid4().hex[:8]}"
    setup = cli("setup", "--es", elasticsearch.address, "--name", name, "--index", name)
    assert setup.returncode == 0, setup.stderr
    return name


def _index(
    elasticsearch: Endpoint, kafka: Endpoint, topic: str, index: str, *more: str
) -> subprocess.CompletedProcess[str]:
    return cli(
        *index_args(elasticsearch.address, kafka.address, topic, index, "--idle-exit", "3", *more)
    )


BAD = {
    b"not json at all": "not_json",
    b"[1, 2, 3]": "not_json",
    orjson.dumps(_good(1000, log="oops")): "document_parsing_exception",
    orjson.dumps(_good(1001, message={"text": "an object"})): "document_parsing_exception",
    orjson.dumps(_good(1002, log={"level": {"name": "INFO"}})): "document_parsing_exception",
    orjson.dumps(_good(1003, event={"id": {"n": 1}})): "document_parsing_exception",
}


def test_bad_records_go_to_the_dead_letter_topic_and_the_rest_is_indexed(
    kafka: Endpoint, elasticsearch: Endpoint, es: Elasticsearch, topic: str, index_name: str
) -> None:
    good = [orjson.dumps(_good(n)) for n in range(50)]
    awkward = [
        # legal records that used to fail the whole bulk
        orjson.dumps(_good(50), option=orjson.OPT_INDENT_2),
        orjson.dumps(_good(51, event={"id": "x" * 600})),
        orjson.dumps(_good(52, event={"id": ""})),
    ]
    later = [orjson.dumps(_good(n)) for n in range(53, 100)]
    values = good[:25] + list(BAD) + good[25:] + awkward + later
    _produce(kafka.address, topic, values)

    result = _index(elasticsearch, kafka, topic, index_name)
    assert result.returncode == 0, result.stderr
    assert (
        f"done: {len(values)} records consumed, 100 indexed, 0 already present, "
        f"6 dead-lettered to {topic}-dlq" in result.stdout
    )
    assert count(es, index_name) == 100
    long_id = es.search(index=index_name, query={"term": {"order.id": 51}})["hits"]["hits"][0]
    assert long_id["_id"].startswith("sha256-")
    assert long_id["_source"]["event"]["id"] == "x" * 600

    letters = _dead_letters(kafka.address, f"{topic}-dlq", 6)
    assert len(letters) == 6
    offsets = {value: offset for offset, value in enumerate(values)}
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers()}
        assert letter.value() in BAD, "the record's bytes, unchanged"
        assert letter.key() == b"k"
        assert headers["__connect.errors.topic"] == topic
        assert headers["__connect.errors.partition"] == "0"
        assert headers["__connect.errors.offset"] == str(offsets[letter.value()])
        assert headers["__connect.errors.exception.class.name"] == BAD[letter.value()]
        assert headers["__connect.errors.exception.message"]

    again = _index(elasticsearch, kafka, topic, index_name)
    assert again.returncode == 0, again.stderr
    assert "done: 0 records consumed" in again.stdout, "offsets were committed"

    listed = cli("dlq", "list", "--bootstrap", kafka.address, "--topic", f"{topic}-dlq")
    assert listed.returncode == 0, listed.stderr
    assert "6 dead letters" in listed.stderr
    assert f"from {topic}[0]@25: not_json: not JSON" in listed.stdout
    assert "document_parsing_exception" in listed.stdout


def test_dlq_replay_sends_each_dead_letter_once(kafka: Endpoint, topic: str) -> None:
    dead = f"{topic}-dlq"
    producer = Producer({"bootstrap.servers": kafka.address})
    for n in range(3):
        producer.produce(
            dead,
            f'{{"n": {n}}}'.encode(),
            headers=[("__connect.errors.topic", topic.encode())],
        )
    assert producer.flush(30) == 0
    args = ("dlq", "replay", "--bootstrap", kafka.address, "--topic", dead)
    dry = cli(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would replay 3 dead letters" in dry.stderr
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    assert "replayed 3 dead letters" in first.stderr
    replayed = _dead_letters(kafka.address, topic, 3)
    assert sorted(m.value() for m in replayed) == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    second = cli(*args)
    assert second.returncode == 0, second.stderr
    assert "replayed 0 dead letters" in second.stderr
    missing = cli("dlq", "list", "--bootstrap", kafka.address, "--topic", f"{topic}-none")
    assert missing.returncode == 1
    assert "no such topic" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.slow
def test_records_near_the_size_limit_are_indexed_in_bounded_bulks(
    kafka: Endpoint, elasticsearch: Endpoint, es: Elasticsearch, topic: str, index_name: str
) -> None:
    # 150 records of ~950 kB: 2 000-record batches would pass Elasticsearch's 100 MB limit
    blob = "x" * 950_000
    values = [
        orjson.dumps(_good(n, event={"id": f"big-{n}", "original": blob})) for n in range(150)
    ]
    _produce(kafka.address, topic, values)
    result = _index(elasticsearch, kafka, topic, index_name)
    assert result.returncode == 0, result.stderr
    assert "done: 150 records consumed, 150 indexed" in result.stdout
    assert count(es, index_name) == 150


def test_index_refuses_to_start_without_its_template(
    kafka: Endpoint, elasticsearch: Endpoint, es: Elasticsearch, topic: str
) -> None:
    index = f"untemplated-{uuid.uuid4().hex[:8]}"
    # one bad first record would have made Elasticsearch map `log` as text for every record
    _produce(
        kafka.address,
        topic,
        [orjson.dumps(_good(0, log="oops"))] + [orjson.dumps(_good(n)) for n in range(1, 51)],
    )
    refused = _index(elasticsearch, kafka, topic, index)
    assert refused.returncode == 1
    assert "no index template matches it" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not es.indices.exists(index=index)

    installed = _index(elasticsearch, kafka, topic, index, "--install-template")
    assert installed.returncode == 0, installed.stderr
    assert "50 indexed, 0 already present, 1 dead-lettered" in installed.stdout
    assert count(es, index) == 50

    # an index mapped without the template is refused even once a template exists
    plain = f"paas-logs-plain-{uuid.uuid4().hex[:6]}"
    es.indices.create(index=plain)
    setup = cli("setup", "--es", elasticsearch.address, "--name", plain, "--index", plain)
    assert setup.returncode == 0, setup.stderr
    stale = _index(elasticsearch, kafka, topic, plain)
    assert stale.returncode == 1
    assert "mapping the template did not make" in stale.stderr


def test_a_more_specific_index_gets_its_own_template(
    elasticsearch: Endpoint, es: Elasticsearch
) -> None:
    base = f"paas-logs-{uuid.uuid4().hex[:6]}"
    for index in (base, f"{base}-audit"):
        result = cli("setup", "--es", elasticsearch.address, "--name", index, "--index", index)
        assert result.returncode == 0, result.stderr
    simulated = es.indices.simulate_index_template(name=f"{base}-audit-000001")
    assert [t["name"] for t in simulated["overlapping"]] == [base]
    assert simulated["template"]["mappings"]["_meta"] == {"managed_by": "paas-logs"}
