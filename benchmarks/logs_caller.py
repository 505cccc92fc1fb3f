"""Caller-thread cost of ``logger.info`` through EcsFormatter + KafkaLogHandler (real Kafka),
against stdlib ``Formatter`` + ``StreamHandler`` to /dev/null and ecs-logging's StdlibFormatter.

Run: ``.venv/bin/python benchmarks/logs_caller.py [--quick]``. Targets: at most 1.2x the stdlib
plain path, at least 4x faster than ecs-logging.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import time
from collections.abc import Callable

import ecs_logging
from prometheus_client import CollectorRegistry

from paas_sdk.context import ServiceContext
from paas_sdk.logs import EcsFormatter, KafkaLogHandler
from paas_sdk.testing.servers import KafkaServer


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"bench.{id(handler)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def _per_call_us(logger: logging.Logger, calls: int) -> float:
    start = time.perf_counter()
    for n in range(calls):
        logger.info("order %d placed for %s", n, "alice", extra={"http.request.method": "POST"})
    return (time.perf_counter() - start) / calls * 1e6


def _best_of(rounds: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls, rounds = (5_000, 3) if args.quick else (20_000, 5)
    context = ServiceContext(app_id="orders", version="1.0.0", host_name="bench")
    devnull = open(os.devnull, "w")  # noqa: SIM115 (open for the whole run)

    plain = logging.StreamHandler(devnull)
    plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    anchor_ecs = logging.StreamHandler(devnull)
    anchor_ecs.setFormatter(ecs_logging.StdlibFormatter())
    ours_stdout = logging.StreamHandler(devnull)
    ours_stdout.setFormatter(EcsFormatter(context))

    with KafkaServer() as kafka:
        shipper = KafkaLogHandler(
            kafka.bootstrap_servers,
            "bench-caller",
            formatter=EcsFormatter(context),
            registry=CollectorRegistry(),
            queue_max_messages=1_000_000,
        )
        results: dict[str, float] = {}
        for name, handler in (
            ("stdlib Formatter + StreamHandler (anchor)", plain),
            ("ecs-logging StdlibFormatter (anchor)", anchor_ecs),
            ("EcsFormatter + StreamHandler", ours_stdout),
            ("EcsFormatter + KafkaLogHandler", shipper),
        ):
            logger = _logger(handler)
            _per_call_us(logger, 1000)  # warm-up
            results[name] = _best_of(rounds, functools.partial(_per_call_us, logger, calls))
        shipper.close()
        lost = shipper.stats.emitted - shipper.stats.delivered
    base = results["stdlib Formatter + StreamHandler (anchor)"]
    ecs = results["ecs-logging StdlibFormatter (anchor)"]
    ours = results["EcsFormatter + KafkaLogHandler"]
    print(f"{'path':45} {'us/call':>8} {'x stdlib':>9}")
    for name, micros in results.items():
        print(f"{name:45} {micros:8.1f} {micros / base:9.2f}")
    print(f"Kafka path vs stdlib plain: {ours / base:.2f}x (target <= 1.2x)")
    print(f"ecs-logging vs Kafka path: {ecs / ours:.2f}x slower (target >= 4x)")
    print(f"records not delivered after close: {lost}")


if __name__ == "__main__":
    main()
