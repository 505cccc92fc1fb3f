"""A real single-node Kafka broker in KRaft mode from the Maven Central jars in the cache."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

from paas_sdk.errors import HarnessError
from paas_sdk.testing.servers._process import ServerProcess, free_port, java_home, port_open
from paas_sdk.testing.servers.cache import Cache


class KafkaServer(ServerProcess):
    """One broker that is also its own controller, on free loopback ports."""

    name = "kafka"
    start_timeout = 120.0

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        cache: Cache | None = None,
        port: int | None = None,
        heap: str = "512m",
    ) -> None:
        super().__init__(workdir)
        self.cache = cache or Cache.default()
        self.port = port or free_port()
        self.controller_port = free_port()
        self.heap = heap

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, main_class: str, *args: str) -> list[str]:
        classpath = os.pathsep.join(str(p) for p in sorted(self.cache.kafka_libs.glob("*.jar")))
        return [
            str(java_home() / "bin" / "java"),
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-cp",
            classpath,
            main_class,
            *args,
        ]

    def prepare(self) -> None:
        self.cache.require("kafka")
        config = self.workdir / "server.properties"
        config.write_text(
            "process.roles=broker,controller\n"
            "node.id=1\n"
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}\n"
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}\n"
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}\n"
            "controller.listener.names=CONTROLLER\n"
            "inter.broker.listener.name=PLAINTEXT\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
            f"log.dirs={self.workdir / 'data'}\n"
            "num.partitions=1\n"
            "auto.create.topics.enable=true\n"
            "offsets.topic.replication.factor=1\n"
            "offsets.topic.num.partitions=4\n"
            "transaction.state.log.replication.factor=1\n"
            "transaction.state.log.min.isr=1\n"
            "share.coordinator.state.topic.replication.factor=1\n"
            "share.coordinator.state.topic.min.isr=1\n"
            "group.initial.rebalance.delay.ms=0\n"
            "log.flush.interval.messages=9223372036854775807\n"
        )
        # Kafka's cluster ids are URL-safe base64 of a UUID; one starting with "-" would be read
        # by the storage tool as an option, so draw again (about one id in 32).
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config),
                "--ignore-formatted",
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise HarnessError(
                f"formatting storage failed:\n{result.stdout}{result.stderr}", where=str(config)
            )

    def command(self) -> Sequence[str]:
        return self._java("kafka.Kafka", str(self.workdir / "server.properties"))

    def ready(self) -> bool:
        if not port_open(self.port):
            return False
        return "Kafka Server started" in self.log_since_start()
