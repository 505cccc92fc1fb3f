"""Caller cost of ``logger.info`` through EcsFormatter + KafkaLogHandler (real Kafka),
against stdlib ``Formatter`` + ``StreamHandler`` to /dev/null and ecs-logging's StdlibFormatter.

Run: ``.venv/bin/python benchmarks/logs_caller.py [--quick]``. The call is ``logger.info`` with
two ``extra=`` fields, one of them dotted. Targets, judged on wall time (what a request waits;
the handler's background thread and the broker compete with the caller for the interpreter and
the CPU): at most 1.1x the stdlib plain path, and ecs-logging at least 5x slower than ours. The
calling thread's CPU time is printed too. Paths are measured in turns, round after round, so a
slower moment of the machine falls on all of them; each path's best round counts.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

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


def _per_call_us(logger: logging.Logger, calls: int) -> tuple[float, float]:
    """Wall time and the calling thread's CPU time per call, in microseconds."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for n in range(calls):
        logger.info(
            "order %d placed for %s",
            n,
            "alice",
            extra={"http.request.method": "POST", "customer_tier": "gold"},
        )
    return (
        (time.perf_counter() - wall) / calls * 1e6,
        (time.thread_time() - cpu) / calls * 1e6,
    )


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
        paths = {
            "stdlib Formatter + StreamHandler (anchor)": _logger(plain),
            "ecs-logging StdlibFormatter (anchor)": _logger(anchor_ecs),
            "EcsFormatter + StreamHandler": _logger(ours_stdout),
            "EcsFormatter + KafkaLogHandler": _logger(shipper),
        }
        for logger in paths.values():
            _per_call_us(logger, 1000)  # warm-up
        wall = dict.fromkeys(paths, float("inf"))
        cpu = dict.fromkeys(paths, float("inf"))
        for _ in range(rounds):
            for name, logger in paths.items():
                round_wall, round_cpu = _per_call_us(logger, calls)
                wall[name] = min(wall[name], round_wall)
                cpu[name] = min(cpu[name], round_cpu)
        shipper.close()
        lost = shipper.stats.emitted - shipper.stats.delivered
    base = "stdlib Formatter + StreamHandler (anchor)"
    print(f"{'path':45} {'CPU us':>7} {'x stdlib':>9} {'wall us':>8} {'x stdlib':>9}")
    for name in paths:
        print(
            f"{name:45} {cpu[name]:7.1f} {cpu[name] / cpu[base]:9.2f}"
            f" {wall[name]:8.1f} {wall[name] / wall[base]:9.2f}"
        )
    ours, ecs = "EcsFormatter + KafkaLogHandler", "ecs-logging StdlibFormatter (anchor)"
    print(
        f"Kafka path vs stdlib plain: {wall[ours] / wall[base]:.2f}x wall (target <= 1.1x), "
        f"{cpu[ours] / cpu[base]:.2f}x CPU"
    )
    print(
        f"ecs-logging vs Kafka path: {wall[ecs] / wall[ours]:.2f}x slower wall (target >= 5x), "
        f"{cpu[ecs] / cpu[ours]:.2f}x CPU"
    )
    print(f"records not delivered after close: {lost}")


if __name__ == "__main__":
    main()
