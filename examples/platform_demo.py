"""The local demo of the platform: bring up the real servers and show what runs where.

scripts/demo            # start everything, print a summary, run until Ctrl-C
scripts/demo --once     # start everything, print the summary, stop (non-interactive)
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from paas_sdk.errors import PaasError
from paas_sdk.testing.servers import (
    ElasticsearchServer,
    KafkaServer,
    PrometheusServer,
    ZooKeeperServer,
)
from paas_sdk.testing.servers._process import ServerProcess


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--once", action="store_true", help="print the summary and stop")
    args = parser.parse_args(argv)
    console = Console()
    root = Path(tempfile.mkdtemp(prefix="paas-demo-"))
    root.chmod(0o755)
    zookeeper = ZooKeeperServer(root / "zookeeper")
    kafka = KafkaServer(root / "kafka")
    elasticsearch = ElasticsearchServer(root / "elasticsearch")
    prometheus = PrometheusServer(root / "prometheus", scrape_interval="5s")
    servers: list[tuple[ServerProcess, str]] = [
        (zookeeper, zookeeper.hosts),
        (kafka, kafka.bootstrap_servers),
        (elasticsearch, elasticsearch.url),
        (prometheus, prometheus.url),
    ]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started: list[ServerProcess] = []
    try:
        for server, _address in servers:
            began = time.monotonic()
            with console.status(f"starting {server.name} ..."):
                server.start()
            started.append(server)
            console.print(f"[green]✓[/] {server.name} up in {time.monotonic() - began:.1f} s")
        prometheus.scrape("prometheus", [f"127.0.0.1:{prometheus.port}"])
        table = Table(title="paas-sdk local platform")
        for column in ("service", "address", "pid", "log"):
            table.add_column(column)
        for server, address in servers:
            table.add_row(server.name, address, str(server.pid), str(server.log_path))
        console.print(table)
        if not args.once:
            console.print("running; press Ctrl-C to stop")
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    except PaasError as exc:
        console.print(f"[red]demo: {exc}[/]")
        return 1
    finally:
        for server in reversed(started):
            with console.status(f"stopping {server.name} ..."):
                server.stop()
        console.print(f"stopped; logs in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
