"""Lifecycle: deregister, drain, stop in order; a real provider process under SIGTERM/SIGKILL."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from paas_sdk.lifecycle import Lifecycle
from tests.registry.conftest import leaves, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_shutdown_deregisters_then_drains_then_stops_in_order() -> None:
    events: list[tuple[str, float]] = []
    lifecycle = Lifecycle(drain_seconds=0.3)

    def record(name: str) -> None:
        events.append((name, time.monotonic()))

    lifecycle.add_readiness("registered", lambda: True)
    lifecycle.on_deregister("registry", lambda: record("deregister"))
    lifecycle.on_stop("http", lambda: record("http"))
    lifecycle.on_stop("logs", lambda: record("logs"))
    assert lifecycle.ready()
    started = time.monotonic()
    lifecycle.shutdown()
    assert [name for name, _ in events] == ["deregister", "http", "logs"]
    assert events[0][1] - started < 0.1
    assert events[1][1] - events[0][1] >= 0.3
    assert not lifecycle.ready()
    assert lifecycle.finished


def test_a_step_added_first_runs_before_the_earlier_ones() -> None:
    done: list[str] = []
    lifecycle = Lifecycle(drain_seconds=0)
    lifecycle.on_stop("logs", lambda: done.append("logs"))
    lifecycle.on_stop("config", lambda: done.append("config"))
    lifecycle.on_stop("http server", lambda: done.append("http server"), first=True)
    lifecycle.shutdown()
    assert done == ["http server", "logs", "config"]


def test_a_failing_or_hanging_step_does_not_stop_the_others() -> None:
    lifecycle = Lifecycle(drain_seconds=0, step_timeout=0.2)
    release = threading.Event()
    done: list[str] = []

    def boom() -> None:
        raise RuntimeError("broken")

    lifecycle.on_stop("broken", boom)
    lifecycle.on_stop("stuck", lambda: release.wait(5))
    lifecycle.on_stop("last", lambda: done.append("last"))
    lifecycle.shutdown()
    release.set()
    assert lifecycle.completed == [("broken", "failed"), ("stuck", "timeout"), ("last", "ok")]
    assert done == ["last"]


def test_a_step_that_exits_is_a_failed_step_and_the_later_ones_still_run() -> None:
    lifecycle = Lifecycle(drain_seconds=0, step_timeout=1.0)
    done: list[str] = []

    def exits() -> None:
        sys.exit(3)

    lifecycle.on_stop("exits", exits)
    lifecycle.on_stop("logs", lambda: done.append("logs"))
    lifecycle.shutdown()
    assert lifecycle.completed == [("exits", "failed"), ("logs", "ok")]
    assert done == ["logs"]
    assert lifecycle.finished


def test_a_finished_lifecycle_hands_every_later_signal_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        first = Lifecycle(drain_seconds=0, step_timeout=0.3)
        first.install_signal_handlers((signal.SIGTERM,))
        first.shutdown_in_background().join(5)  # off the main thread: its handler stays
        assert first.finished
        # a second start in the same process, on top of the first one's handler
        second = Lifecycle(drain_seconds=0, step_timeout=0.3)
        second.install_signal_handlers((signal.SIGTERM,))
        with caplog.at_level(logging.INFO, logger="paas_sdk.lifecycle"):
            signal.raise_signal(signal.SIGTERM)
            assert second.wait(5)
        assert seen == [signal.SIGTERM]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        signal.signal(signal.SIGTERM, original)


def test_shutdown_on_the_main_thread_puts_the_replaced_handlers_back() -> None:
    def handler(signum: int, frame: object) -> None:
        pass

    original = signal.signal(signal.SIGUSR1, handler)
    try:
        lifecycle = Lifecycle(drain_seconds=0)
        lifecycle.install_signal_handlers((signal.SIGUSR1,))
        lifecycle.shutdown()
        assert signal.getsignal(signal.SIGUSR1) is handler
    finally:
        signal.signal(signal.SIGUSR1, original)


def test_readiness_is_false_when_a_check_fails_or_raises() -> None:
    lifecycle = Lifecycle()
    lifecycle.add_readiness("registered", lambda: False)
    assert not lifecycle.ready()
    other = Lifecycle()
    other.add_readiness("broken", lambda: 1 / 0 == 0)
    assert not other.ready()
    assert set(other.readiness_checks()) == {"serving", "broken"}


@pytest.fixture
def observer_of(zookeeper: Any) -> Iterator[KazooClient]:
    client = KazooClient(zookeeper.address)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


def _spawn(address: str, interface: str, drain: float, session: float) -> tuple[Any, int]:
    arguments = [address, interface, str(drain), str(session)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.registry.provider_process", *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    assert line[:1] == ["READY"], line
    assert line[2] == "1"  # ready means registered and serving
    return process, int(line[1])


def _serving(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(64) == b"serving\n"
    except OSError:
        return False


def test_sigterm_deregisters_first_keeps_serving_while_draining_and_leaves_zero_nodes(
    zookeeper: Any, observer_of: KazooClient, interface: str
) -> None:
    process, port = _spawn(zookeeper.address, interface, drain=1.5, session=10)
    try:
        assert len(leaves(observer_of, interface)) == 1
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        gone = wait_until(lambda: leaves(observer_of, interface) == [], timeout=5)
        assert gone < 1.0
        assert _serving(port), "stopped serving before the drain ended"
        output, _ = process.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0
    assert "STOPPED registry=ok,tcp=ok,zookeeper=ok" in output
    assert took >= 1.5
    assert not _serving(port)
    assert leaves(observer_of, interface) == []
    assert leaves(observer_of, interface, "consumers") == []


def test_sigkilled_process_leaves_its_node_only_until_the_session_times_out(
    zookeeper: Any, observer_of: KazooClient, interface: str
) -> None:
    process, _ = _spawn(zookeeper.address, interface, drain=0, session=2)
    process.kill()
    process.wait()
    killed = time.monotonic()
    assert len(leaves(observer_of, interface)) == 1  # nobody said goodbye
    waited = wait_until(lambda: leaves(observer_of, interface) == [], timeout=10)
    # gone once the 2 s session expires (ZooKeeper checks expiry on its 500 ms ticks)
    assert 0.5 <= time.monotonic() - killed <= 2.0 + 2.0, waited
