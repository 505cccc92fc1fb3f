"""A provider process for the shutdown tests: registers, serves TCP, stops through `Lifecycle`.

    python -m tests.registry.provider_process HOSTS INTERFACE DRAIN_SECONDS SESSION_TIMEOUT

Prints ``READY <port>`` once registered and ``STOPPED`` after an orderly shutdown.
"""

from __future__ import annotations

import socketserver
import sys

from prometheus_client import CollectorRegistry

from paas_sdk.lifecycle import Lifecycle
from paas_sdk.registry import DubboURL, ZooKeeperRegistry


class _Answer(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"serving\n")


def main(argv: list[str]) -> int:
    hosts, interface, drain, session_timeout = argv
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Answer)
    server.daemon_threads = True
    port = server.server_address[1]
    registry = ZooKeeperRegistry(
        hosts, session_timeout=float(session_timeout), metrics=CollectorRegistry()
    ).start()
    registry.register(
        DubboURL.provider(interface, "127.0.0.1", port, application="py-proc", methods=["call"])
    )
    lifecycle = Lifecycle(drain_seconds=float(drain))
    lifecycle.add_readiness("registered", lambda: registry.registered)
    lifecycle.on_deregister("registry", registry.unregister_all)
    lifecycle.on_stop("tcp", server.shutdown)
    lifecycle.on_stop("zookeeper", registry.close)
    lifecycle.install_signal_handlers()
    print(f"READY {port} {int(lifecycle.ready())}", flush=True)
    server.serve_forever(poll_interval=0.05)
    lifecycle.wait()
    server.server_close()
    print("STOPPED " + ",".join(f"{name}={outcome}" for name, outcome in lifecycle.completed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
