"""A real Java Dubbo 3 application against the harness ZooKeeper sees what Python registered.

The probe (java/DubboProbe.java, compiled here with javac) resolves a generic reference with
`check=true` to the Python provider and lists its registry directory, exports a provider of its
own for Python to parse, and shows that an interface nobody provides fails with Dubbo's
"No provider available".
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from prometheus_client import CollectorRegistry

from paas_sdk.registry import ApplicationInstance, DubboURL, ZooKeeperRegistry
from paas_sdk.testing.servers import Cache, free_port
from paas_sdk.testing.servers._process import java_home
from tests.registry.conftest import provider, wait_until

PROBE = Path(__file__).parent / "java" / "DubboProbe.java"


@pytest.fixture(scope="module")
def probe_classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _compile(tmp_path_factory.mktemp("dubbo-probe"))


def _run_probe(classpath: str, step: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the probe with Dubbo's migration step forced (interface- or application-level)."""
    return subprocess.run(
        [
            str(java_home() / "bin" / "java"),
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",
            f"-Ddubbo.application.migration.step={step}",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp",
            classpath,
            "DubboProbe",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def _compile(target: Path) -> str:
    cache = Cache.default()
    cache.require("dubbo")
    classpath = os.pathsep.join(str(p) for p in sorted(cache.dubbo_libs.glob("*.jar")))
    javac = str(java_home() / "bin" / "javac")
    subprocess.run(
        [javac, "-nowarn", "-d", str(target), "-cp", classpath, str(PROBE)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return f"{target}{os.pathsep}{classpath}"


def test_java_consumer_resolves_the_python_provider_and_python_parses_the_java_provider(
    zookeeper: Any, interface: str, probe_classpath: str
) -> None:
    java_interface = interface + "Java"
    missing = interface + "Nobody"
    port = free_port()
    python_url = provider(interface, port, version=None)
    java_leaves: list[str] = []
    seen = threading.Event()
    watcher = KazooClient(zookeeper.address)
    watcher.start(timeout=10)
    with ZooKeeperRegistry(zookeeper.address, metrics=CollectorRegistry()) as registry:
        registry.register(python_url)
        java_providers = registry.subscribe(java_interface)
        path = f"/dubbo/{java_interface}/providers"
        watcher.ensure_path(path)

        def record(children: list[str]) -> None:
            java_leaves.extend(children)
            if children:
                seen.set()

        watcher.ChildrenWatch(path, record)
        probe = _run_probe(
            probe_classpath,
            "FORCE_INTERFACE",
            zookeeper.address,
            interface,
            java_interface,
            str(free_port()),
            missing,
        )
        lines = probe.stdout.splitlines()
        assert probe.returncode == 0, probe.stdout + probe.stderr[-4000:]
        assert f"RESOLVED {interface}" in lines
        assert f"PROVIDER 127.0.0.1:{port}" in lines
        assert any(
            line.startswith("NO_PROVIDER") and "No provider available" in line for line in lines
        ), lines
        assert seen.wait(5)
        wait_until(lambda: java_providers.providers == (), timeout=10)  # it stopped
    watcher.stop()
    watcher.close()
    java_leaf = next(leaf for leaf in java_leaves)
    java_url = DubboURL.decode(java_leaf)
    assert java_url.encoded() == java_leaf  # byte-for-byte the same leaf
    assert java_url.interface == java_interface
    assert java_url.get("side") == "provider"
    assert java_url.get("application") == "java-probe"
    # Dubbo refuses to advertise loopback, so the host is the machine's; nothing dials it
    assert java_url.port > 0
    assert java_url.host


def test_java_consumer_in_application_mode_finds_the_python_application_instance(
    zookeeper: Any, interface: str, probe_classpath: str
) -> None:
    port = free_port()
    url = provider(interface, port)
    app = "py-app-" + interface.rsplit(".", 2)[-2]
    with ZooKeeperRegistry(zookeeper.address, metrics=CollectorRegistry()) as registry:
        # application level only: no interface-level URL for this interface at all
        ApplicationInstance(registry, app, "127.0.0.1", port, [url]).register()
        probe = _run_probe(
            probe_classpath,
            "FORCE_APPLICATION",
            zookeeper.address,
            interface,
            interface + "Java",
            str(free_port()),
            interface + "Nobody",
        )
    lines = probe.stdout.splitlines()
    assert probe.returncode == 0, probe.stdout + probe.stderr[-4000:]
    assert f"RESOLVED {interface}" in lines
    assert f"PROVIDER 127.0.0.1:{port}" in lines
