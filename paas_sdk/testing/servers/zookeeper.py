"""Real ZooKeeper from the Maven Central jars in the cache: standalone by default, or a node of
an ensemble (`ZooKeeperEnsemble`, three nodes on demand)."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path

from paas_sdk.testing.servers._process import ServerGroup, ServerProcess, free_port, java_home
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
    As a node of an ensemble it has its `server_id` and the ensemble's `servers` lines.
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
        server_id: int | None = None,
        servers: Sequence[str] = (),
    ) -> None:
        super().__init__(workdir)
        self.cache = cache or Cache.default()
        self.port = port or free_port()
        self.tick_ms = tick_ms
        self.server_id = server_id
        self.servers = tuple(servers)

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
            + "".join(f"{line}\n" for line in self.servers)
            + ("initLimit=20\nsyncLimit=10\n" if self.servers else "")
        )
        if self.server_id is not None:
            (self.workdir / "data" / "myid").write_text(f"{self.server_id}\n")

    def command(self) -> Sequence[str]:
        classpath = os.pathsep.join(str(p) for p in sorted(self.cache.zookeeper_libs.glob("*.jar")))
        return [
            str(java_home() / "bin" / "java"),
            "-Xms64m",
            "-Xmx256m",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            classpath,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain"
            if self.servers
            else "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(self.workdir / "zoo.cfg"),
        ]

    def ready(self) -> bool:
        with contextlib.suppress(OSError):
            # `ruok` answers before the database is loaded; `srvr` reports a mode only once serving
            return self.mode() in ("standalone", "leader", "follower")
        return False

    def mode(self) -> str | None:
        """``standalone``, ``leader`` or ``follower`` once serving, else None."""
        with contextlib.suppress(OSError):
            for line in four_letter_word(self.port, "srvr", timeout=1.0).splitlines():
                if line.startswith("Mode: "):
                    return line.removeprefix("Mode: ").strip()
        return None

    def connections(self) -> str:
        """What `cons` says: one line per client connected to this node."""
        return four_letter_word(self.port, "cons")


class ZooKeeperEnsemble(ServerGroup[ZooKeeperServer]):
    """`size` ZooKeeper nodes forming one ensemble on free loopback ports; each node can be
    killed and restarted alone, and the ensemble serves while a majority runs."""

    def __init__(
        self, size: int = 3, workdir: Path | None = None, *, cache: Cache | None = None
    ) -> None:
        super().__init__(Path(workdir or tempfile.mkdtemp(prefix="paas-zookeeper-ensemble-")))
        peers = [(free_port(), free_port()) for _ in range(size)]
        servers = [
            f"server.{n}=127.0.0.1:{quorum}:{election}"
            for n, (quorum, election) in enumerate(peers, start=1)
        ]
        self.nodes = [
            ZooKeeperServer(self.workdir / f"node-{n}", cache=cache, server_id=n, servers=servers)
            for n in range(1, size + 1)
        ]

    @property
    def hosts(self) -> str:
        """The connect string naming every node."""
        return ",".join(node.hosts for node in self.nodes)
