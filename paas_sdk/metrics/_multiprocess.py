"""gunicorn's side of multiprocess mode: forget a worker's live gauges when it exits.

With `PROMETHEUS_MULTIPROC_DIR` set before the workers start, each worker writes its metrics to
files there and `/metrics` (see `HealthEndpoints`) aggregates them; the in-flight gauge counts
only live workers ("livesum"), which needs the master to report exits.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["child_exit", "mark_worker_exited"]


def mark_worker_exited(pid: int, multiprocess_dir: str | None = None) -> None:
    """Drop the live-gauge files of worker `pid` (no-op outside multiprocess mode)."""
    path = multiprocess_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def child_exit(server: Any, worker: Any) -> None:
    """A gunicorn ``child_exit`` hook: ``from paas_sdk.metrics import child_exit`` in the config."""
    mark_worker_exited(int(worker.pid))
