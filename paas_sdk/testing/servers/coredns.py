"""A real CoreDNS (built from its Go module) answering, caching and forwarding on loopback.

One process serves three server blocks: an upstream zone answered from a hosts table, the
resolver clients query (forwarding everything to that upstream, with a cache), and a zone
forwarded to a port nothing listens on, so SERVFAIL answers and failing upstream health checks
are real too. Metrics are on one `prometheus` listener for all blocks.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import struct
from collections.abc import Sequence
from pathlib import Path

import httpx

from paas_sdk.testing.servers._process import ServerProcess, free_port
from paas_sdk.testing.servers.cache import Cache

__all__ = ["CoreDNSServer"]

# RFC 1035 response codes by number, as CoreDNS's rcode label spells them
RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}


class CoreDNSServer(ServerProcess):
    """CoreDNS on free loopback ports: `port` for clients, `metrics_port` for Prometheus."""

    name = "coredns"
    start_timeout = 30.0

    def __init__(self, workdir: Path | None = None, *, binary: Path | None = None) -> None:
        super().__init__(workdir)
        self.binary = binary or Cache.default().coredns
        self.port = free_port()
        self.upstream_port = free_port()
        self.dead_port = free_port()  # nothing listens here: the broken upstream
        self.metrics_port = free_port()

    @property
    def metrics_address(self) -> str:
        return f"127.0.0.1:{self.metrics_port}"

    def prepare(self) -> None:
        if not self.binary.exists():
            Cache.default().require("coredns")
        metrics = f"prometheus {self.metrics_address}"
        (self.workdir / "Corefile").write_text(
            f"example.test:{self.upstream_port} {{\n"
            f"    bind 127.0.0.1\n    {metrics}\n"
            "    hosts {\n        10.0.0.1 a.example.test\n        10.0.0.2 b.example.test\n    }\n"
            "}\n"
            f"broken.test:{self.port} {{\n"
            f"    bind 127.0.0.1\n    {metrics}\n"
            f"    forward . 127.0.0.1:{self.dead_port} {{\n        health_check 1s\n    }}\n"
            "}\n"
            f".:{self.port} {{\n"
            f"    bind 127.0.0.1\n    {metrics}\n    errors\n    cache 30\n"
            f"    forward . 127.0.0.1:{self.upstream_port}\n"
            "}\n"
        )

    def command(self) -> Sequence[str]:
        return [str(self.binary), "-conf", str(self.workdir / "Corefile")]

    def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://{self.metrics_address}/metrics", timeout=2).is_success
        return False

    def query(self, name: str, timeout: float = 3.0) -> str:
        """Ask for `name`'s A record over UDP; the answer's response code (`NOERROR`, ...)."""
        ident = secrets.randbelow(0x10000)
        question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
        # header: id, flags (recursion desired), one question; then QNAME, QTYPE=A, QCLASS=IN
        packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + b"\0\0\1\0\1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(packet, ("127.0.0.1", self.port))
            answer, _ = sock.recvfrom(4096)
        flags = struct.unpack(">HH", answer[:4])[1]
        return RCODES.get(flags & 0xF, str(flags & 0xF))
