"""Multiprocess mode: one `/metrics` per pod over every worker, bound by the supervisor.

With `PROMETHEUS_MULTIPROC_DIR` set before the workers start, each worker writes its metrics to
files there, and the endpoints of the process that supervises them (gunicorn's arbiter, uvicorn's
supervisor) aggregate the files. The supervisor marks itself in ``PAAS_METRICS_SUPERVISOR`` (its
pid) so that the workers' `paas_sdk.init()` binds no port of its own. Each worker leaves a mark
file while it serves, which is how the pod's `/readyz` knows a worker is up and none is stopping.
A worker that died is found at the next scrape: its live gauges are dropped (prometheus-client's
``mark_process_dead``) while its counters still count.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

__all__ = [
    "SUPERVISOR_VARIABLE",
    "announce_worker",
    "child_exit",
    "mark_worker_exited",
    "serving_workers",
    "supervised_directory",
    "sweep_dead_workers",
    "use_multiprocess_values",
]

SUPERVISOR_VARIABLE = "PAAS_METRICS_SUPERVISOR"
_MARK = "paas_serving_{}.mark"
_PID = re.compile(r"_(\d+)\.(?:db|mark)$")


def supervised_directory() -> str | None:
    """The multiprocess directory when another process serves this one's endpoints, else None."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    supervisor = os.environ.get(SUPERVISOR_VARIABLE, "")
    if directory and supervisor.isdigit() and int(supervisor) != os.getpid():
        return directory
    return None


def use_multiprocess_values() -> None:
    """Make metrics created from now on write to the multiprocess files.

    prometheus-client picks its value class when it is first imported; a server that imported it
    before the supervisor set `PROMETHEUS_MULTIPROC_DIR` (gunicorn's arbiter, loading its config)
    forks workers holding the in-memory class, whose metrics no scrape would see.
    """
    from prometheus_client import values

    if values.ValueClass is values.MutexValue:
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def announce_worker(directory: str, serving: bool, pid: int | None = None) -> None:
    """Mark worker `pid` (this process) as serving, or withdraw the mark when it stops."""
    mark = Path(directory, _MARK.format(pid or os.getpid()))
    if serving:
        mark.touch()
    else:
        mark.unlink(missing_ok=True)


def serving_workers(directory: str) -> int:
    """How many live workers are serving and not stopping."""
    return sum(1 for path in Path(directory).glob(_MARK.format("*")) if _alive(_pid_of(path)))


def mark_worker_exited(pid: int, multiprocess_dir: str | None = None) -> None:
    """Drop the live-gauge files and the serving mark of worker `pid` (no-op without a dir)."""
    path = multiprocess_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    announce_worker(path, serving=False, pid=pid)


def sweep_dead_workers(directory: str) -> list[int]:
    """Mark each worker that left live gauges or a serving mark but no longer runs as exited."""
    root = Path(directory)
    pids = {_pid_of(path) for path in (*root.glob("gauge_live*.db"), *root.glob(_MARK.format("*")))}
    dead = sorted(pid for pid in pids if not _alive(pid))
    for pid in dead:
        mark_worker_exited(pid, directory)
    return dead


def child_exit(server: Any, worker: Any) -> None:
    """A gunicorn ``child_exit`` hook: ``from paas_sdk.metrics import child_exit`` in the config."""
    mark_worker_exited(int(worker.pid))


def _pid_of(path: Path) -> int:
    match = _PID.search(path.name)
    return int(match.group(1)) if match else 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped by its supervisor) answers kill(0) too
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
