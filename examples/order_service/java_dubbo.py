"""A Java Dubbo 3.3 consumer and provider of the order service (`java/DubboOrders.java`), for
the interop tests and the demo: stubs generated from `proto/order.proto` by protoc and Dubbo's
`dubbo-compiler` plugin (both from Maven Central via the test-server cache), compiled once per
machine and cached by content.

Dubbo will not advertise a loopback address while it sees a usable network interface; told to
ignore every interface (``dubbo.network.interface.ignored``) it registers 127.0.0.1, so every
connection in tests and the demo stays on loopback.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from paas_sdk.errors import HarnessError
from paas_sdk.testing.servers import Cache
from paas_sdk.testing.servers._process import java_home
from paas_sdk.testing.servers.cache import DUBBO_VERSION

HERE = Path(__file__).resolve().parent
PROTO = HERE / "proto" / "order.proto"
JAVA_SOURCE = HERE / "java" / "DubboOrders.java"


def java_classpath() -> str:
    """Compile stubs and DubboOrders once per machine (cached by content); the classpath."""
    cache = Cache.default()
    cache.require("dubbo")
    cache.require("dubbo_compiler")
    digest = hashlib.sha256(
        PROTO.read_bytes() + JAVA_SOURCE.read_bytes() + DUBBO_VERSION.encode()
    ).hexdigest()[:16]
    target = cache.root / "dubbo-orders-java" / digest
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


def java_command(
    classpath: str,
    *arguments: str,
    discovery: str | None = None,
    properties: Sequence[str] = (),
) -> list[str]:
    """Run DubboOrders; Dubbo advertises 127.0.0.1 only when it sees no usable interface.

    `discovery` forces Dubbo's migration step (``FORCE_INTERFACE``, ``FORCE_APPLICATION``);
    by default a Dubbo 3 consumer tries application-level first and falls back. `properties`
    are more ``-Dname=value`` settings (``dubbo.application.register-mode=instance``).
    """
    return [
        str(java_home() / "bin" / "java"),
        "-Xmx256m",
        "-XX:TieredStopAtLevel=1",
        *([f"-Ddubbo.application.migration.step={discovery}"] if discovery else []),
        *(f"-D{setting}" for setting in properties),
        "-Ddubbo.network.interface.ignored=.*",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
        "-cp",
        classpath,
        "DubboOrders",
        *arguments,
    ]


def optional(value: str | None) -> str:
    return value if value is not None else "-"


def run_java_consumer(
    classpath: str,
    zookeeper: str,
    *,
    calls: int,
    pause_ms: int = 0,
    group: str | None = None,
    version: str | None = None,
    timeout: float = 120,
    discovery: str | None = None,
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
            discovery=discovery,
        ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise HarnessError(
            f"the Java consumer failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}",
            where="DubboOrders",
        )
    return result.stdout.splitlines()


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
        properties: Sequence[str] = (),
    ) -> None:
        self.port = port
        self.process = subprocess.Popen(
            java_command(
                classpath,
                "provide",
                zookeeper,
                str(port),
                optional(group),
                optional(version),
                name,
                properties=properties,
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
            raise HarnessError(f"the Java provider did not start: {line!r}", where="DubboOrders")
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


def main(argv: list[str] | None = None) -> int:
    """``python -m examples.order_service.java_dubbo <zookeeper> [--calls N]``: a Java consumer."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m examples.order_service.java_dubbo",
        description="Call the order service from a Java Dubbo 3.3 consumer through ZooKeeper.",
    )
    parser.add_argument("zookeeper", help="ZooKeeper host:port")
    parser.add_argument("--calls", type=int, default=10, help="GetOrder calls to make (10)")
    parser.add_argument("--group")
    parser.add_argument("--version")
    args = parser.parse_args(argv)
    try:
        lines = run_java_consumer(
            java_classpath(),
            args.zookeeper,
            calls=args.calls,
            group=args.group,
            version=args.version,
        )
    except (HarnessError, subprocess.SubprocessError) as exc:
        print(f"java_dubbo: {exc}")
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
