"""The SDK's signal handler composes with the one it replaced: drain first, then hand on; a
second Ctrl-C hands on at once; a repeated SIGTERM does not cut the drain short."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A "server" whose own SIGTERM/SIGINT handler records the moment and stops its loop, with the
# SDK's lifecycle installed on top of it.
SERVER = """
import os, signal, sys, time
from paas_sdk.lifecycle import Lifecycle

def mark(what):  # one write per line: threads print at the same moment
    os.write(1, f"{what} {time.monotonic():.3f}\\n".encode())

stop = []
def server_handler(signum, frame):
    mark(f"SERVER {signal.Signals(signum).name}")
    stop.append(signum)

signal.signal(signal.SIGTERM, server_handler)
signal.signal(signal.SIGINT, server_handler)
lifecycle = Lifecycle(drain_seconds=float(sys.argv[1]))
lifecycle.on_deregister("registry", lambda: mark("DEREGISTERED"))
lifecycle.on_stop("rest", lambda: mark("STOPPED"))
lifecycle.install_signal_handlers()
print("READY", flush=True)
while not stop:
    time.sleep(0.01)
mark("EXIT")
"""


def _start(drain: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(drain)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "READY"
    return process


def _events(process: subprocess.Popen[str]) -> dict[str, float]:
    output, _ = process.communicate(timeout=20)
    events: dict[str, float] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        events.setdefault(" ".join(parts[:-1]), float(parts[-1]))
    return events


def test_sigterm_drains_then_hands_on_to_the_servers_handler() -> None:
    process = _start(drain=1.0)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)  # a supervisor's copy: the drain goes on
    events = _events(process)
    assert process.returncode == 0
    assert events["DEREGISTERED"] - sent < 0.5
    assert 0.95 <= events["SERVER SIGTERM"] - events["DEREGISTERED"] < 1.5
    assert events["STOPPED"] >= events["EXIT"]  # the rest stops once the server has


def test_ctrl_c_skips_the_drain_and_a_second_one_reaches_the_server_at_once() -> None:
    process = _start(drain=30.0)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    events = _events(process)
    assert events["SERVER SIGINT"] - sent < 0.5  # no 30 s drain for a person at a terminal
    assert "DEREGISTERED" in events

    process = _start(drain=30.0)
    process.send_signal(signal.SIGTERM)  # draining for 30 s...
    time.sleep(0.3)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)  # ...until Ctrl-C
    events = _events(process)
    assert events["SERVER SIGINT"] - sent < 0.5
    assert "SERVER SIGTERM" not in events
