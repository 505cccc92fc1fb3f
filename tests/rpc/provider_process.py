"""A Python Triple provider process for the failover and shutdown tests, run the way a service
runs: `paas_sdk.init()`, `platform.triple_server()`, SIGTERM handled by the platform.

    python -m tests.rpc.provider_process ZOOKEEPER PORT NAME DRAIN_SECONDS

Prints ``READY`` once serving and registered.
"""

from __future__ import annotations

import sys

from prometheus_client import CollectorRegistry

import paas_sdk
from examples.order_service.proto import order_pb2_grpc
from paas_sdk.context import ServiceContext
from paas_sdk.platform import PlatformSettings
from tests.rpc.conftest import Orders


def main(argv: list[str]) -> int:
    zookeeper, port, name, drain = argv
    platform = paas_sdk.init(
        context=ServiceContext(app_id="py-orders", pod_ip="127.0.0.1"),
        settings=PlatformSettings(zookeeper=zookeeper, metrics_port=-1, drain_seconds=float(drain)),
        metrics_registry=CollectorRegistry(),
        configure_logging=False,
        load_config=False,
    )
    server = platform.triple_server(port=int(port), grace_seconds=5)
    server.add_service(order_pb2_grpc.add_OrderServiceServicer_to_server, Orders(name))
    server.start()
    assert platform.registry is not None
    while not platform.registry.registered:
        platform.wait(0.02)
    print("READY", flush=True)
    platform.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
