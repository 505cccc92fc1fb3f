"""`paas-logs index` says what it does: Prometheus metrics on a port and progress lines that name
what it waits on, through an Elasticsearch outage (real Kafka and Elasticsearch; the outage is a
loopback proxy in front of Elasticsearch taken away and brought back)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
import uuid

import httpx
import orjson
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from paas_sdk.dash.references import INDEXER_METRICS
from paas_sdk.testing.pytest_plugin import Endpoint
from paas_sdk.testing.servers import free_port

from .conftest import PAAS_LOGS, cli, index_args


class Proxy:
    """Forwards a loopback port to `target`; `stop()` closes it and every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()


def _produce(bootstrap: str, topic: str, numbers: range) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in numbers:
        doc = {"@timestamp": "2026-01-01T00:00:00Z", "message": f"m{n}", "event": {"id": f"m{n}"}}
        producer.produce(topic, orjson.dumps(doc))
    assert producer.flush(30) == 0


def _scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


def _until(what: str, check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.3)
    raise AssertionError(f"not seen within {timeout} s: {what}")


def test_metrics_and_progress_lines_through_an_elasticsearch_outage(
    kafka: Endpoint, elasticsearch: Endpoint, topic: str
) -> None:
    host, port = elasticsearch.address.removeprefix("http://").split(":")
    proxy = Proxy((host, int(port)))
    proxy.start()
    es_url = f"http://127.0.0.1:{proxy.port}"
    index = f"paas-logs-metrics-{uuid.uuid4().hex[:6]}"
    assert cli("setup", "--es", es_url, "--name", index, "--index", index).returncode == 0
    _produce(kafka.address, topic, range(100))
    metrics_port = free_port()
    indexer = subprocess.Popen(
        [
            PAAS_LOGS,
            *index_args(es_url, kafka.address, topic, index),
            "--metrics-port",
            str(metrics_port),
            "--metrics-host",
            "127.0.0.1",
            "--progress-every",
            "0.5",
            "--idle-exit",
            "10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: dict[str, float] = {}
    try:

        def scraped(predicate: object) -> bool:
            try:
                seen.update(_scrape(metrics_port))
            except httpx.HTTPError:
                return False
            return callable(predicate) and bool(predicate())

        _until(
            "100 indexed",
            lambda: scraped(lambda: seen.get("paas_logs_indexer_records_indexed_total") == 100),
        )
        # librdkafka's statistics (every 2 s) give the lag of each assigned partition
        _until(
            "the lag of the partition",
            lambda: scraped(lambda: "paas_logs_indexer_consumer_lag" in seen),
        )
        proxy.stop()
        _produce(kafka.address, topic, range(100, 150))
        _until(
            "waiting on Elasticsearch, with retries",
            lambda: scraped(
                lambda: (
                    seen.get("paas_logs_indexer_waiting") == 1
                    and seen.get("paas_logs_indexer_retries_total", 0) >= 2
                )
            ),
        )
        proxy.start()
        out, err = indexer.communicate(timeout=90)
    except AssertionError as exc:
        indexer.kill()
        out, err = indexer.communicate(timeout=30)
        raise AssertionError(f"{exc}\nindexer's stderr:\n{err}") from None
    finally:
        indexer.kill()
        proxy.stop()
    assert indexer.returncode == 0, err
    assert "done: 150 records consumed, 150 indexed, 0 already present, 0 dead-lettered" in out
    waiting = [line for line in err.splitlines() if "waiting for" in line]
    assert waiting, err
    assert f"waiting for {es_url}: " in waiting[0]
    assert {name.removesuffix("_total") for name in INDEXER_METRICS} <= {
        name.removesuffix("_total")
        .removesuffix("_bucket")
        .removesuffix("_sum")
        .removesuffix("_count")
        for name in seen
    }
