"""One real server as a child process: start it, wait until it answers, stop it whatever happens.

Subclasses say how to prepare the working directory, which command to run and how to tell that
the server is ready; this module owns ports, logs, bounded waits and the stop sequence.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Generic, Self, TypeVar

from paas_sdk.errors import HarnessError

# Elasticsearch refuses to run as root; on a root CI machine the harness runs it as this user.
UNPRIVILEGED_USER = "paas-harness"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
    """Poll `check` until it is true; raise `HarnessError` naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise HarnessError(f"not ready after {timeout:.0f} s", where=what)


def ensure_unprivileged_user() -> pwd.struct_passwd:
    """The system user that servers refusing root run as, created on first use."""
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                UNPRIVILEGED_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(UNPRIVILEGED_USER)


def java_home() -> Path:
    """The JDK the Java servers run on: `$JAVA_HOME`, else the one `java` on PATH belongs to."""
    env = os.environ.get("JAVA_HOME")
    if env and (Path(env) / "bin" / "java").exists():
        return Path(env)
    java = shutil.which("java")
    if java is None:
        raise HarnessError("no Java found: install a JDK 17+ or set JAVA_HOME", where="java")
    return Path(java).resolve().parent.parent


class Running:
    """Something the harness starts and stops, used as ``with X() as x:``: stopped on leaving,
    whatever happened inside."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServerProcess(Running):
    """Base of the real servers: a working directory, a log file and one child process."""

    name = "server"
    start_timeout = 90.0
    run_unprivileged = False

    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"paas-{self.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._prepared = False
        self._log_offset = 0

    # -- what subclasses say -------------------------------------------------------------------
    def prepare(self) -> None:
        """Write config and format storage once; `restart()` does not repeat it."""

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> Self:
        if self.running:
            return self
        if not self._prepared:
            self.prepare()
            self._prepared = True
        user: int | None = None
        group: int | None = None
        if self.run_unprivileged and os.geteuid() == 0:
            account = ensure_unprivileged_user()
            user, group = account.pw_uid, account.pw_gid
            _chown_tree(self.workdir, user, group)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                list(self.command()),
                cwd=self.workdir,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=user,
                group=group,
                extra_groups=[] if user is not None else None,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise HarnessError(
                    f"exited with code {self._process.returncode} while starting;"
                    f" last log lines:\n{self.log_tail()}",
                    where=self.name,
                )
            if self.ready():
                return self
            time.sleep(0.25)
        tail = self.log_tail()
        self.stop()
        raise HarnessError(
            f"not ready after {self.start_timeout:.0f} s; last log lines:\n{tail}", where=self.name
        )

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the server's process group, SIGKILL it after `timeout` s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop and delete the working directory (logs included)."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_since_start(self) -> str:
        """What the current process has logged so far."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


N = TypeVar("N", bound=ServerProcess)


class ServerGroup(Running, Generic[N]):
    """Several servers that form one cluster (a KRaft quorum, a ZooKeeper ensemble): started
    together, since no node is ready before a majority runs; each node killed or restarted
    alone."""

    nodes: list[N]

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def start(self) -> Self:
        with concurrent.futures.ThreadPoolExecutor(len(self.nodes)) as pool:
            for future in [pool.submit(node.start) for node in self.nodes]:
                future.result()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
