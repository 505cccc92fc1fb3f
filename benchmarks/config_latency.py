"""Publish-to-callback latency over loopback, and the cost of reading a typed setting.

Anchors measured in the same run: Apollo's promised 1 s delivery (and the issue's targets p50
<= 50 ms, p99 <= 200 ms) for latency; a plain attribute read on a frozen pydantic model for the
typed read (target <= 1 us).

    .venv/bin/python benchmarks/config_latency.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import timeit

from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from paas_sdk.config import ApolloClient, ConfigChangeEvent, TypedSettings
from paas_sdk.testing.apollo import ApolloDouble

APP = "bench"
SECRET = "bench-secret"  # noqa: S105 (the double's test key)


class Database(BaseModel, frozen=True):
    url: str
    pool_size: int = 5


class Settings(BaseModel, frozen=True):
    db: Database
    timeout_seconds: float = 1.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def publish_latency(rounds: int) -> list[float]:
    # The server's own delay (Apollo scans release messages every second) is not the client's:
    # each release's message is scanned as soon as it is published.
    double = ApolloDouble(secrets={APP: SECRET}, scan_interval_seconds=3600)
    with double, tempfile.TemporaryDirectory() as cache:
        double.publish(APP, "application", {"db.url": "pg://0"})
        double.scan()
        client = ApolloClient(
            APP,
            meta_servers=[double.meta_url],
            secret=SECRET,
            cache_dir=cache,
            metrics=CollectorRegistry(),
        ).start()
        arrived = threading.Event()
        stamp: list[float] = [0.0]

        def listener(_: ConfigChangeEvent) -> None:
            stamp[0] = time.perf_counter()
            arrived.set()

        client.add_change_listener(listener)
        time.sleep(0.3)  # first long poll (ids -1) answered, the next one is held
        latencies = []
        for index in range(1, rounds + 1):
            arrived.clear()
            started = time.perf_counter()
            double.publish(APP, "application", {"db.url": f"pg://{index}"})
            double.scan()
            if not arrived.wait(5):
                raise SystemExit(f"round {index}: no callback within 5 s")
            latencies.append(stamp[0] - started)
            time.sleep(0.02)  # let the client open its next long poll
        client.close()
        return latencies


class PlainDatabase:
    def __init__(self, url: str) -> None:
        self.url = url


class PlainSettings:
    def __init__(self, db: PlainDatabase) -> None:
        self.db = db


def read_cost(number: int) -> tuple[float, float, float]:
    with ApolloDouble() as double, tempfile.TemporaryDirectory() as cache:
        double.publish(APP, "application", {"db.url": "pg://x"})
        client = ApolloClient(
            APP, config_service=double.url, cache_dir=cache, metrics=CollectorRegistry()
        ).start()
        settings = TypedSettings(Settings, client)
        plain = Settings(db=Database(url="pg://x"))
        typed = min(timeit.repeat(lambda: settings.current.db.url, number=number, repeat=5))
        anchor = min(timeit.repeat(lambda: plain.db.url, number=number, repeat=5))
        python = PlainSettings(PlainDatabase("pg://x"))
        bare = min(timeit.repeat(lambda: python.db.url, number=number, repeat=5))
        client.close()
    return typed / number, anchor / number, bare / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds = 30 if args.quick else 200
    latencies = publish_latency(rounds)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(f"publish -> callback over loopback, {rounds} releases, signed requests")
    print(
        f"  p50 {p50 * 1000:7.2f} ms   target 50 ms: {p50 / 0.050:5.2f}x   "
        f"Apollo's 1 s: {p50 / 1.0:6.3f}x"
    )
    print(
        f"  p99 {p99 * 1000:7.2f} ms   target 200 ms: {p99 / 0.200:5.2f}x   "
        f"Apollo's 1 s: {p99 / 1.0:6.3f}x"
    )
    print(f"  mean {statistics.mean(latencies) * 1000:.2f} ms, max {max(latencies) * 1000:.2f} ms")
    typed, anchor, bare = read_cost(200_000 if args.quick else 2_000_000)
    print("typed setting read settings.current.db.url (each timing includes a lambda call)")
    print(f"  typed {typed * 1e9:6.1f} ns   target 1 us: {typed / 1e-6:5.3f}x")
    print(
        f"  vs the same read on a pydantic model held directly ({anchor * 1e9:.1f} ns): "
        f"{typed / anchor:4.2f}x"
    )
    print(
        f"  vs plain Python object attributes python.db.url ({bare * 1e9:.1f} ns): "
        f"{typed / bare:4.2f}x"
    )


if __name__ == "__main__":
    main()
