"""Running a real server with the test service, and steady load against it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gunicorn.config
import httpx
import pytest

from paas_sdk.metrics._multiprocess import serving_workers
from paas_sdk.testing.servers._process import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(sys.executable).parent


@dataclass
class Served:
    """A server process (in its own process group) with the test service behind it."""

    process: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    interface: str
    output: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoints(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    terminal: bool = False
    kind: str = ""

    def alive(self) -> bool:
        if self.terminal:
            command = ["tmux", "has-session", "-t", self.session]
            return subprocess.run(command, capture_output=True, check=False).returncode == 0
        return self.process.poll() is None

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    @property
    def session(self) -> str:
        """The tmux session of a server started in a terminal."""
        return f"paas-{self.port}"

    def stop(self) -> None:
        subprocess.run(
            ["tmux", "kill-session", "-t", self.session], capture_output=True, check=False
        )
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# gunicorn 24+ serves a control socket whose stop alone can take the arbiter 2 s on a busy
# machine; the tests measure the SDK's share of the stop, so they leave it off
_GUNICORN_OPTIONS = (
    ["--no-control-socket"]
    if any(s.name == "control_socket_disable" for s in gunicorn.config.KNOWN_SETTINGS)
    else []
)

COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "gunicorn-sync": lambda port: [
        str(BIN / "gunicorn"),
        "-c",
        "python:paas_sdk.integrations.gunicorn",
        *_GUNICORN_OPTIONS,
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "tests.integrations.service:wsgi",
    ],
    "gunicorn-uvicorn": lambda port: [
        str(BIN / "gunicorn"),
        "-c",
        "python:paas_sdk.integrations.gunicorn",
        *_GUNICORN_OPTIONS,
        "-w",
        "2",
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-b",
        f"127.0.0.1:{port}",
        "tests.integrations.service:asgi",
    ],
    "uvicorn-workers": lambda port: [
        PYTHON,
        "-m",
        "paas_sdk.integrations.uvicorn",
        "tests.integrations.service:asgi",
        "--workers",
        "2",
        "--port",
        str(port),
    ],
    "uvicorn-run": lambda port: [PYTHON, "-m", "tests.integrations.service", "uvicorn", str(port)],
    "flask-run": lambda port: [PYTHON, "-m", "tests.integrations.service", "flask", str(port)],
    "django-runserver": lambda port: [
        PYTHON,
        "-m",
        "tests.integrations.service",
        "django",
        str(port),
    ],
}


MULTI_WORKER = ("gunicorn-sync", "gunicorn-uvicorn", "uvicorn-workers")


def serve(
    kind: str,
    tmp_path: Path,
    zookeeper: str | None,
    *,
    drain: float,
    terminal: bool = False,
    **env: str,
) -> Served:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "application.properties").write_text("greeting=hello\n")
    port, metrics_port = free_port(), free_port()
    interface = f"com.example.Test{uuid.uuid4().hex[:8]}"
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PAAS_APP_ID": "server-test",
        "PAAS_CONFIG_DIR": str(config),
        "PAAS_METRICS_PORT": str(metrics_port),
        "PAAS_DRAIN_SECONDS": str(drain),
        "POD_IP": "127.0.0.1",
        "TEST_INTERFACE": interface,
        "TEST_PORT": str(port),
    }
    for name in ("PAAS_METRICS_SUPERVISOR", "APOLLO_META"):
        environment.pop(name, None)
    if kind in MULTI_WORKER:  # known to the test, which reads the workers' marks there
        environment["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "multiprocess")
    environment.update(env)
    if zookeeper:
        environment["PAAS_ZOOKEEPER"] = zookeeper
    output = tmp_path / f"{kind}.log"
    command = COMMANDS[kind](port)
    if terminal:
        # the way a person runs it: in a terminal (tmux), where Ctrl-C reaches the process group
        variables = [f"{name}={environment[name]}" for name in sorted(environment)]
        command = ["tmux", "new-session", "-d", "-s", f"paas-{port}", "-x", "200", "-y", "50",
                   "sh", "-c", 'exec env "$@" > ' + str(tmp_path / f"{kind}.log") + " 2>&1", "sh",
        *variables, *command]  # fmt: skip
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if terminal:
        assert process.wait(timeout=10) == 0, output.read_text()  # tmux made the session
    return Served(process, port, metrics_port, interface, output, terminal, kind)


def wait_ready(served: Served, timeout: float = 60.0) -> None:
    """Until the app answers, the pod's /readyz says ready and every worker serves."""
    workers = (
        2 if "-w" in COMMANDS[served.kind](0) or "--workers" in COMMANDS[served.kind](0) else 0
    )
    marks = served.output.parent / "multiprocess"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert served.alive(), served.log()[-3000:]
        try:
            ready = httpx.get(served.endpoints + "/readyz", timeout=2).status_code == 200
            serving = serving_workers(str(marks)) >= workers if marks.is_dir() else not workers
            if ready and serving and httpx.get(served.base + "/work", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready in {timeout} s:\n{served.log()[-3000:]}")


@dataclass
class Load:
    """Requests one after another on fresh connections, each outcome timed."""

    base: str
    results: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, outcome
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, clients: int = 2) -> Load:
        for _ in range(clients):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                response = httpx.get(self.base + "/work", timeout=5)
                outcome = str(response.status_code)
            except httpx.HTTPError as error:
                outcome = type(error).__name__
            self.results.append((began, time.monotonic(), outcome))
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def failed_between(self, start: float, end: float) -> list[tuple[float, float, str]]:
        return [r for r in self.results if start <= r[0] and r[1] <= end and r[2] != "200"]


def request_count(metrics_text: str) -> float:
    pattern = r'^http_server_request_duration_seconds_count\{[^}]*route="/work"[^}]*\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, metrics_text, re.MULTILINE))


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        served.stop()
