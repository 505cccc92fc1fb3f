"""Real Kafka in KRaft mode from the Maven Central jars in the cache: one node by default, a
cluster of combined broker-controllers on demand (`KafkaCluster`), optionally with a SASL listener
(PLAIN and SCRAM-SHA-256 users) beside the plaintext one."""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from paas_sdk.errors import HarnessError
from paas_sdk.testing.servers._process import (
    ServerGroup,
    ServerProcess,
    free_port,
    java_home,
    port_open,
)
from paas_sdk.testing.servers.cache import Cache


def new_cluster_id() -> str:
    """A KRaft cluster id: URL-safe base64 of a UUID, never starting with "-" (the storage tool
    would read it as an option; about one id in 32)."""
    cluster_id = "-"
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return cluster_id


class KafkaServer(ServerProcess):
    """One broker that is also a controller, on free loopback ports.

    Alone it is its own quorum; `KafkaCluster` gives each node its `node_id`, the shared
    `voters` and `cluster_id`. With `sasl_users` (name to password) a SASL_PLAINTEXT listener
    at `sasl_port` takes those users by PLAIN and by SCRAM-SHA-256.
    """

    name = "kafka"
    start_timeout = 120.0

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        cache: Cache | None = None,
        port: int | None = None,
        heap: str = "512m",
        node_id: int = 1,
        controller_port: int | None = None,
        voters: str | None = None,
        cluster_id: str | None = None,
        replication_factor: int = 1,
        sasl_users: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.cache = cache or Cache.default()
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.heap = heap
        self.node_id = node_id
        self.voters = voters or f"{node_id}@127.0.0.1:{self.controller_port}"
        self.cluster_id = cluster_id or new_cluster_id()
        self.replication_factor = replication_factor
        self.sasl_users = dict(sasl_users or {})
        self.sasl_port = free_port() if self.sasl_users else None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap_servers(self) -> str:
        """The SASL_PLAINTEXT listener (only with `sasl_users`)."""
        if self.sasl_port is None:
            raise HarnessError("started without sasl_users", where=self.name)
        return f"127.0.0.1:{self.sasl_port}"

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

    def _listeners(self) -> str:
        listeners = (
            f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        )
        advertised = f"PLAINTEXT://127.0.0.1:{self.port}"
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        sasl = ""
        if self.sasl_users:
            listener = f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}"
            listeners += f",{listener}"
            advertised += f",{listener}"
            protocols += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
            plain_users = " ".join(f'user_{u}="{p}"' for u, p in self.sasl_users.items())
            sasl = (
                "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256\n"
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};\n"
                "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
            )
        return (
            f"listeners={listeners}\nadvertised.listeners={advertised}\n"
            f"listener.security.protocol.map={protocols}\n{sasl}"
        )

    def prepare(self) -> None:
        self.cache.require("kafka")
        config = self.workdir / "server.properties"
        rf, isr = self.replication_factor, min(self.replication_factor, 2)
        config.write_text(
            "process.roles=broker,controller\n"
            f"node.id={self.node_id}\n"
            f"controller.quorum.voters={self.voters}\n"
            + self._listeners()
            + "controller.listener.names=CONTROLLER\n"
            "inter.broker.listener.name=PLAINTEXT\n"
            f"log.dirs={self.workdir / 'data'}\n"
            "num.partitions=1\n"
            "auto.create.topics.enable=true\n"
            f"default.replication.factor={rf}\n"
            f"min.insync.replicas={isr}\n"
            f"offsets.topic.replication.factor={rf}\n"
            "offsets.topic.num.partitions=4\n"
            f"transaction.state.log.replication.factor={rf}\n"
            f"transaction.state.log.min.isr={isr}\n"
            f"share.coordinator.state.topic.replication.factor={rf}\n"
            f"share.coordinator.state.topic.min.isr={isr}\n"
            "group.initial.rebalance.delay.ms=0\n"
            "log.flush.interval.messages=9223372036854775807\n"
        )
        # SCRAM credentials live in the cluster metadata: KRaft takes them at format time
        scram = [
            arg
            for user, password in self.sasl_users.items()
            for arg in ("--add-scram", f"SCRAM-SHA-256=[name={user},password={password}]")
        ]
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id,
                "-c",
                str(config),
                "--ignore-formatted",
                *scram,
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


class KafkaCluster(ServerGroup[KafkaServer]):
    """`size` combined broker-controllers forming one KRaft quorum, topics replicated to three
    of them (or `size`), on free loopback ports; each node can be killed and restarted alone."""

    def __init__(
        self, size: int = 3, workdir: Path | None = None, *, cache: Cache | None = None
    ) -> None:
        super().__init__(Path(workdir or tempfile.mkdtemp(prefix="paas-kafka-cluster-")))
        controller_ports = [free_port() for _ in range(size)]
        voters = ",".join(f"{n}@127.0.0.1:{p}" for n, p in enumerate(controller_ports, start=1))
        cluster_id = new_cluster_id()
        self.nodes = [
            KafkaServer(
                self.workdir / f"node-{n}",
                cache=cache,
                node_id=n,
                controller_port=port,
                voters=voters,
                cluster_id=cluster_id,
                replication_factor=min(size, 3),
                heap="384m",
            )
            for n, port in enumerate(controller_ports, start=1)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)
