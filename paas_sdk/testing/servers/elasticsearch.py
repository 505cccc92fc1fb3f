"""A real single-node Elasticsearch (security off) from the integ-test-zip in the cache.

Elasticsearch will not run as root, so on a root machine it runs as an unprivileged system user;
its home is hard-linked into the working directory so that user can read it wherever the cache is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import httpx

from paas_sdk.testing.servers._process import ServerProcess, free_port, java_home
from paas_sdk.testing.servers.cache import Cache


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class ElasticsearchServer(ServerProcess):
    """One Elasticsearch node on free loopback ports, data and logs in its working directory."""

    name = "elasticsearch"
    start_timeout = 180.0
    run_unprivileged = True

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        cache: Cache | None = None,
        port: int | None = None,
        heap: str = "768m",
    ) -> None:
        super().__init__(workdir)
        self.cache = cache or Cache.default()
        self.port = port or free_port()
        self.transport_port = free_port()
        self.heap = heap

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        self.cache.require("elasticsearch")
        home = self.workdir / "home"
        if not home.exists():
            shutil.copytree(
                self.cache.elasticsearch_home,
                home,
                copy_function=_link_or_copy,
                ignore=shutil.ignore_patterns(".complete"),
            )
        config = self.workdir / "config"
        if not config.exists():
            shutil.copytree(home / "config", config)
        for name in ("data", "logs", "tmp"):
            (self.workdir / name).mkdir(exist_ok=True)

    def environment(self) -> dict[str, str]:
        return dict(
            os.environ,
            ES_JAVA_HOME=str(java_home()),
            ES_PATH_CONF=str(self.workdir / "config"),
            ES_TMPDIR=str(self.workdir / "tmp"),
            ES_JAVA_OPTS=f"-Xms{self.heap} -Xmx{self.heap}",
        )

    def command(self) -> Sequence[str]:
        settings = {
            "cluster.name": "paas-test",
            "node.name": "paas-test-node",
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": str(self.port),
            "transport.port": str(self.transport_port),
            "path.data": str(self.workdir / "data"),
            "path.logs": str(self.workdir / "logs"),
            "cluster.routing.allocation.disk.threshold_enabled": "false",
            "xpack.security.enabled": "false",
            "action.destructive_requires_name": "false",
        }
        argv = [str(self.workdir / "home" / "bin" / "elasticsearch")]
        for key, value in settings.items():
            argv += ["-E", f"{key}={value}"]
        return argv

    def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            status = httpx.get(f"{self.url}/_cluster/health", timeout=2).json()["status"]
            return status in ("green", "yellow")
        return False
