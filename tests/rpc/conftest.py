"""The Triple interop harness: Java stubs for the example's .proto built once per machine (protoc
and Dubbo's dubbo-compiler plugin from Maven Central, javac), Java Dubbo consumers and providers
run against the session's ZooKeeper, and a Python servicer that says who answered."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from examples.order_service.proto import order_pb2, order_pb2_grpc
from paas_sdk.registry import ZooKeeperRegistry
from paas_sdk.testing.servers import Cache
from paas_sdk.testing.servers._process import java_home
from paas_sdk.testing.servers.cache import DUBBO_VERSION

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "examples" / "order_service" / "proto" / "order.proto"
JAVA_SOURCE = Path(__file__).parent / "java" / "TripleInterop.java"
ORDER_SERVICE = order_pb2.DESCRIPTOR.services_by_name["OrderService"]
INTERFACE = "com.example.order.v1.OrderService"


class Orders(order_pb2_grpc.OrderServiceServicer):
    """Answers GetOrder with the id asked for and its own name; NOT_FOUND for id 0."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def GetOrder(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self.calls += 1
        if request.id == 0:
            context.abort(grpc.StatusCode.NOT_FOUND, "no order 0")
        return order_pb2.Order(id=request.id, served_by=self.name)

    def PlaceOrder(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self.calls += 1
        return order_pb2.Order(id=1, items=list(request.items), served_by=self.name)


def java_classpath() -> str:
    """Compile the Java side once per machine: stubs, then TripleInterop, cached by content."""
    cache = Cache.default()
    cache.require("dubbo")
    cache.require("dubbo_compiler")
    digest = hashlib.sha256(
        PROTO.read_bytes() + JAVA_SOURCE.read_bytes() + DUBBO_VERSION.encode()
    ).hexdigest()[:16]
    target = cache.root / "triple-interop" / digest
    libs = os.pathsep.join(str(p) for p in sorted(cache.dubbo_libs.glob("*.jar")))
    if not (target / ".complete").exists():
        staging = target.with_name(digest + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "src").mkdir(parents=True)
        (staging / "classes").mkdir()
        java = java_home() / "bin"
        plugin = staging / "protoc-gen-dubbo"
        compiler_libs = cache.dubbo_compiler / "libs" / "*"
        plugin.write_text(
            f'#!/bin/sh\nexec "{java / "java"}" -cp "{compiler_libs}"'
            ' org.apache.dubbo.gen.tri.Dubbo3TripleGenerator "$@"\n'
        )
        plugin.chmod(0o755)
        subprocess.run(
            [
                str(cache.dubbo_compiler / "protoc"),
                f"--plugin=protoc-gen-dubbo={plugin}",
                f"-I{PROTO.parent}",
                f"--java_out={staging / 'src'}",
                f"--dubbo_out={staging / 'src'}",
                PROTO.name,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        sources = [str(p) for p in (staging / "src").rglob("*.java")] + [str(JAVA_SOURCE)]
        subprocess.run(
            [str(java / "javac"), "-nowarn", "-d", str(staging / "classes"), "-cp", libs, *sources],
            check=True,
            capture_output=True,
            timeout=300,
        )
        (staging / ".complete").write_text("ok\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return f"{target / 'classes'}{os.pathsep}{libs}"


def java_command(classpath: str, *arguments: str) -> list[str]:
    """Run TripleInterop; Dubbo advertises 127.0.0.1 only when it sees no usable interface."""
    return [
        str(java_home() / "bin" / "java"),
        "-Xmx256m",
        "-XX:TieredStopAtLevel=1",
        "-Ddubbo.network.interface.ignored=.*",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
        "-cp",
        classpath,
        "TripleInterop",
        *arguments,
    ]


def optional(value: str | None) -> str:
    return value if value is not None else "-"


@pytest.fixture(scope="session")
def interop_classpath() -> str:
    return java_classpath()


@pytest.fixture
def metrics() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def registry(zookeeper: Any, metrics: CollectorRegistry) -> Iterator[ZooKeeperRegistry]:
    with ZooKeeperRegistry(zookeeper.address, metrics=metrics) as registry:
        yield registry


def run_java_consumer(
    classpath: str,
    zookeeper: str,
    *,
    calls: int,
    pause_ms: int = 0,
    group: str | None = None,
    version: str | None = None,
    timeout: float = 120,
) -> list[str]:
    result = subprocess.run(
        java_command(
            classpath,
            "consume",
            zookeeper,
            optional(group),
            optional(version),
            str(calls),
            str(pause_ms),
        ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return lines


class JavaProvider:
    """A Java Dubbo Triple provider of OrderService, running until `stop()`."""

    def __init__(
        self,
        classpath: str,
        zookeeper: str,
        port: int,
        name: str,
        *,
        group: str | None = None,
        version: str | None = None,
    ) -> None:
        self.port = port
        self.process = subprocess.Popen(
            java_command(
                classpath, "provide", zookeeper, str(port), optional(group), optional(version), name
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            pytest.fail(f"the Java provider did not start: {line!r}")
        self.exported = line.split(" ", 1)[1].strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
