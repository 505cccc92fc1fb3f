"""Unary Triple calls through the SDK against bare grpcio, provider side and consumer side.

Provider side: a bare grpcio client calls a bare `grpc.server` and the SDK's `TripleServer`
(registered in a real ZooKeeper, metrics and trace interceptors on). Consumer side: a bare
`grpc.insecure_channel` stub and a `DubboReference` stub (discovery, weighted random, failover
bookkeeping, metrics, traceparent) call the same bare server. Latency is measured call by call
(median and p99, rounds interleaved so drift hits both alike), throughput with 8 caller threads
together with this process's CPU time per call (on a shared machine the steadier of the two).
With ``--java``, a Java Dubbo 3.3 consumer's calls/s against the Python provider are printed
beside the same consumer against a Java Dubbo provider.

    .venv/bin/python benchmarks/rpc_triple.py [--calls 4000] [--rounds 9] [--java] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import CollectorRegistry

from paas_sdk.registry import ZooKeeperRegistry
from paas_sdk.rpc import DubboReference, TripleServer, TripleService, triple_provider_url
from paas_sdk.testing.servers import ZooKeeperServer, free_port

# the example's generated stubs and Java client live in the checkout, beside this directory
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from examples.order_service.java_dubbo import (
    JavaProvider,
    java_classpath,
    run_java_consumer,
)
from examples.order_service.proto import order_pb2, order_pb2_grpc

SERVICE = order_pb2.DESCRIPTOR.services_by_name["OrderService"]
THREADS = 8


class Orders(order_pb2_grpc.OrderServiceServicer):  # type: ignore[misc]
    def GetOrder(self, request: Any, context: Any) -> Any:  # noqa: N802
        return order_pb2.Order(id=request.id, items=("tea",), served_by="bench")

    def PlaceOrder(self, request: Any, context: Any) -> Any:  # noqa: N802
        return order_pb2.Order(id=1, items=request.items, served_by="bench")


def _latencies(call: Callable[[], object], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def _throughput(call: Callable[[], object], count: int) -> tuple[float, float]:
    """Calls per second with 8 callers, and this process's CPU seconds per call meanwhile
    (client and server share the process: the CPU figure is what the SDK adds to both)."""
    per_thread = count // THREADS
    barrier = threading.Barrier(THREADS + 1)

    def run() -> None:
        barrier.wait()
        for _ in range(per_thread):
            call()

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(run) for _ in range(THREADS)]
        barrier.wait()
        started, cpu = time.perf_counter(), time.process_time()
        for future in futures:
            future.result()
        calls = per_thread * THREADS
        return calls / (time.perf_counter() - started), (time.process_time() - cpu) / calls


def _compare(
    title: str, bare: Callable[[], object], sdk: Callable[[], object], calls: int, rounds: int
) -> None:
    for call in (bare, sdk):  # warm both paths: connections, JIT-free but caches and pools
        _latencies(call, 200)
    lat: dict[str, list[float]] = {"bare": [], "sdk": []}
    rate: dict[str, list[float]] = {"bare": [], "sdk": []}
    cpu: dict[str, list[float]] = {"bare": [], "sdk": []}
    for _ in range(rounds):
        for name, call in (("bare", bare), ("sdk", sdk)):
            lat[name].extend(_latencies(call, calls // 2))
            calls_per_second, cpu_per_call = _throughput(call, calls)
            rate[name].append(calls_per_second)
            cpu[name].append(cpu_per_call * 1e6)
    p50 = {k: statistics.median(v) * 1e6 for k, v in lat.items()}
    p99 = {k: statistics.quantiles(v, n=100)[98] * 1e6 for k, v in lat.items()}
    cps = {k: statistics.median(v) for k, v in rate.items()}
    cpu_us = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"\n{title}")
    print(f"  {'':14}{'bare grpcio':>14}{'SDK':>14}{'SDK / bare':>12}")
    print(
        f"  {'median µs':14}{p50['bare']:14.1f}{p50['sdk']:14.1f}{p50['sdk'] / p50['bare']:12.3f}"
    )
    print(f"  {'p99 µs':14}{p99['bare']:14.1f}{p99['sdk']:14.1f}{p99['sdk'] / p99['bare']:12.3f}")
    print(
        f"  {'calls/s x' + str(THREADS):14}{cps['bare']:14.0f}{cps['sdk']:14.0f}"
        f"{cps['sdk'] / cps['bare']:12.3f}"
    )
    print(
        f"  {'CPU µs/call':14}{cpu_us['bare']:14.1f}{cpu_us['sdk']:14.1f}"
        f"{cpu_us['sdk'] / cpu_us['bare']:12.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--java", action="store_true", help="also Java consumer calls/s")
    parser.add_argument("--quick", action="store_true", help="800 calls, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds = 800, 2
    logging.basicConfig(level=logging.ERROR)
    request = order_pb2.GetOrderRequest(id=7)
    with ZooKeeperServer() as zookeeper:
        registry = ZooKeeperRegistry(zookeeper.hosts, metrics=CollectorRegistry()).start()
        bare_port = free_port()
        bare_server = grpc.server(ThreadPoolExecutor(16), options=[("grpc.so_reuseport", 0)])
        order_pb2_grpc.add_OrderServiceServicer_to_server(Orders(), bare_server)
        bare_server.add_insecure_port(f"127.0.0.1:{bare_port}")
        bare_server.start()
        sdk_server = TripleServer(
            application="bench", port=free_port(), host="127.0.0.1", registry=registry,
            metrics=CollectorRegistry(),
        )  # fmt: skip
        sdk_server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders())
        sdk_server.start()
        # the bare server, findable by the reference under its own group
        registry.register(
            triple_provider_url(
                TripleService.of(SERVICE), "127.0.0.1", bare_port, application="bare", group="bare"
            )
        )
        bare_channel = grpc.insecure_channel(f"127.0.0.1:{bare_port}")
        sdk_channel = grpc.insecure_channel(sdk_server.address)
        to_bare = order_pb2_grpc.OrderServiceStub(bare_channel)
        to_sdk = order_pb2_grpc.OrderServiceStub(sdk_channel)
        reference = DubboReference(
            registry, SERVICE, application="bench", group="bare", metrics=CollectorRegistry(),
            register_consumer=False,
        ).start()  # fmt: skip
        through_sdk = reference.stub(order_pb2_grpc.OrderServiceStub)
        print(f"unary GetOrder, {args.calls} calls x {args.rounds} rounds, loopback, one process")
        _compare(
            "provider side: bare client -> bare grpc.server vs TripleServer",
            lambda: to_bare.GetOrder(request, timeout=5),
            lambda: to_sdk.GetOrder(request, timeout=5),
            args.calls,
            args.rounds,
        )
        _compare(
            "consumer side: bare channel stub vs DubboReference stub -> bare grpc.server",
            lambda: to_bare.GetOrder(request, timeout=5),
            lambda: through_sdk.GetOrder(request, timeout=5),
            args.calls,
            args.rounds,
        )
        if args.java:
            classpath = java_classpath()
            calls = str(args.calls * 2)
            java = JavaProvider(classpath, zookeeper.hosts, free_port(), "java", group="java")
            try:
                java_rates = {}
                for target, group in (
                    ("Python TripleServer", None),
                    ("Java Dubbo provider", "java"),
                ):
                    lines = run_java_consumer(
                        classpath, zookeeper.hosts, calls=int(calls), group=group
                    )
                    done = dict(part.split("=") for part in lines[-1].split()[1:])
                    java_rates[target] = int(done["ok"]) / float(done["seconds"])
            finally:
                java.stop()
            python_rate, java_rate = java_rates.values()
            print("\nJava Dubbo 3.3 consumer, one thread, sequential calls")
            for target, value in java_rates.items():
                print(f"  -> {target:22}{value:10.0f} calls/s")
            print(f"  Python provider / Java provider: {python_rate / java_rate:.3f}")
        reference.close()
        sdk_server.stop(grace=None)
        bare_server.stop(None)
        registry.close()


if __name__ == "__main__":
    main()
