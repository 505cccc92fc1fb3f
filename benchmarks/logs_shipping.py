"""Sustained shipping rate of one process into a real Kafka, and `paas-logs index` against the
raw bulk rate of the same Elasticsearch node.

Run: ``.venv/bin/python benchmarks/logs_shipping.py [--quick]``. Targets: >= 50 000 records/s
shipped with zero loss; the indexer at >= 70 % of the raw bulk rate.
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid

import orjson
from elasticsearch import Elasticsearch
from prometheus_client import CollectorRegistry

from paas_sdk.context import ServiceContext
from paas_sdk.logs import EcsFormatter, KafkaLogHandler
from paas_sdk.logs._elasticsearch import install_template
from paas_sdk.logs._indexer import LogIndexer
from paas_sdk.testing.servers import ElasticsearchServer, KafkaServer


def ship(bootstrap: str, topic: str, count: int) -> tuple[float, int]:
    """Records/s from the first call to the last delivery, and records not delivered."""
    context = ServiceContext(app_id="orders", version="1.0.0", host_name="bench")
    handler = KafkaLogHandler(
        bootstrap,
        topic,
        formatter=EcsFormatter(context),
        registry=CollectorRegistry(),
        queue_max_messages=max(count, 100_000),
        close_timeout=120,
    )
    logger = logging.getLogger(f"bench.ship.{topic}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    start = time.perf_counter()
    for n in range(count):
        logger.info("order %d placed", n, extra={"order.id": n})
    handler.flush(120)
    elapsed = time.perf_counter() - start
    handler.close()
    stats = handler.stats
    return count / elapsed, stats.emitted - stats.delivered


def raw_bulk_rate(es: Elasticsearch, index: str, docs: list[bytes], batch: int) -> float:
    """The same documents sent straight from memory with the same batch size."""
    start = time.perf_counter()
    for first in range(0, len(docs), batch):
        lines: list[bytes] = []
        for doc in docs[first : first + batch]:
            record_id = orjson.loads(doc)["event"]["id"]
            lines += (orjson.dumps({"create": {"_index": index, "_id": record_id}}), doc)
        # pre-encoded NDJSON lines go through the client untouched
        response = es.bulk(operations=lines, filter_path="errors")  # type: ignore[arg-type]
        assert not response["errors"]
    return len(docs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 50_000 if args.quick else 200_000
    index_count = 20_000 if args.quick else 100_000
    batch = 2000
    with KafkaServer() as kafka:
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        rate, lost = ship(kafka.bootstrap_servers, topic, count)
        print(
            f"shipping: {rate:,.0f} records/s, {lost} not delivered "
            f"({rate / 50_000:.2f}x the 50 000/s target)"
        )
        with ElasticsearchServer() as server:
            es = Elasticsearch(server.url, request_timeout=120)
            install_template(es, "bench", "bench-*", retention=None, dry_run=False)
            topic2 = f"bench-idx-{uuid.uuid4().hex[:8]}"
            ship(kafka.bootstrap_servers, topic2, index_count)
            # the same documents, for the raw anchor
            from confluent_kafka import Consumer

            consumer = Consumer(
                {
                    "bootstrap.servers": kafka.bootstrap_servers,
                    "group.id": "raw",
                    "auto.offset.reset": "earliest",
                }
            )
            consumer.subscribe([topic2])
            docs: list[bytes] = []
            while len(docs) < index_count:
                docs += [
                    m.value() or b""
                    for m in consumer.consume(10_000, timeout=1)
                    if m.error() is None
                ]
            consumer.close()
            # a warm-up on another index first, so neither side pays for a cold node
            raw_bulk_rate(es, "bench-warm", docs[: index_count // 4], batch)
            raw = raw_bulk_rate(es, "bench-raw", docs, batch)
            indexer = LogIndexer(
                es,
                kafka.bootstrap_servers,
                topic=topic2,
                index="bench-indexed",
                group="bench-indexer",
                batch_size=batch,
            )
            start = time.perf_counter()
            progress = indexer.run(max_records=index_count)
            indexed_rate = progress.consumed / (time.perf_counter() - start)
            es.indices.refresh(index="bench-indexed")
            count_in_es = es.count(index="bench-indexed")["count"]
            print(
                f"raw bulk: {raw:,.0f} docs/s; paas-logs index: {indexed_rate:,.0f} docs/s "
                f"= {indexed_rate / raw:.0%} of raw (target >= 70%); {count_in_es} docs indexed"
            )


if __name__ == "__main__":
    main()
