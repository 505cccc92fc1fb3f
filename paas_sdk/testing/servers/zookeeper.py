"""A real standalone ZooKeeper server from the Maven Central jars in the cache."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from paas_sdk.testing.servers._process import ServerProcess, free_port, java_home
from paas_sdk.testing.servers.cache import Cache


def four_letter_word(port: int, word: str, host: str = "127.0.0.1", timeout: float = 2.0) -> str:
    """Send one of ZooKeeper's four-letter admin commands (`ruok`, `srvr`, `cons`...)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(word.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


class ZooKeeperServer(ServerProcess):
    """Standalone ZooKeeper on a free loopback port, data in its own working directory.

    `tick_ms` sets the session-timeout floor (2 ticks) so tests can expire sessions quickly.
    """

    name = "zookeeper"
    start_timeout = 60.0

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        cache: Cache | None = None,
        port: int | None = None,
        tick_ms: int = 500,
    ) -> None:
        super().__init__(workdir)
        self.cache = cache or Cache.default()
        self.port = port or free_port()
        self.tick_ms = tick_ms

    @property
    def hosts(self) -> str:
        """The connect string clients use, e.g. ``127.0.0.1:2181``."""
        return f"127.0.0.1:{self.port}"

    def prepare(self) -> None:
        self.cache.require("zookeeper")
        (self.workdir / "data").mkdir(exist_ok=True)
        (self.workdir / "zoo.cfg").write_text(
            f"tickTime={self.tick_ms}\n"
            f"dataDir={self.workdir / 'data'}\n"
            f"clientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\n"
            "maxClientCnxns=0\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=*\n"
            "autopurge.purgeInterval=0\n"
        )

    def command(self) -> Sequence[str]:
        classpath = os.pathsep.join(str(p) for p in sorted(self.cache.zookeeper_libs.glob("*.jar")))
        return [
            str(java_home() / "bin" / "java"),
            "-Xms64m",
            "-Xmx256m",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            classpath,
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(self.workdir / "zoo.cfg"),
        ]

    def ready(self) -> bool:
        with contextlib.suppress(OSError):
            # `ruok` answers before the database is loaded; `srvr` reports a mode only once serving
            return "Mode: standalone" in four_letter_word(self.port, "srvr", timeout=1.0)
        return False
