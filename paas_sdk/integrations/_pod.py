"""The pod's endpoints, bound once by the process that supervises the workers.

gunicorn's arbiter and uvicorn's supervisor serve no requests themselves and outlive every worker,
so they bind ``PAAS_METRICS_PORT``: `/metrics` aggregates the workers' multiprocess files, and
`/readyz` is ready while at least one worker serves and none has been told to stop.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry

from paas_sdk.metrics import HealthEndpoints, MetricsServer
from paas_sdk.metrics._multiprocess import SUPERVISOR_VARIABLE, serving_workers
from paas_sdk.platform import PlatformSettings, serve_endpoints

__all__ = ["PodEndpoints"]

log = logging.getLogger("paas_sdk.integrations")


class PodEndpoints:
    """`prepare()` before the workers start (sets the variables they inherit), `close()` at exit.

    Uses ``PROMETHEUS_MULTIPROC_DIR`` when set (its files from an earlier run are removed, as
    prometheus-client requires), else a temporary directory removed again by `close()`.
    """

    def __init__(self, settings: PlatformSettings | None = None) -> None:
        self.settings = settings or PlatformSettings.from_env()
        self.directory = ""
        self.server: MetricsServer | None = None
        self._temporary = False

    def prepare(self) -> PodEndpoints:
        """Choose the multiprocess directory and bind the endpoints (before any worker starts)."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            Path(directory).mkdir(parents=True, exist_ok=True)
            for stale in (*Path(directory).glob("*.db"), *Path(directory).glob("*.mark")):
                stale.unlink(missing_ok=True)
        else:
            directory = tempfile.mkdtemp(prefix="paas-metrics-")
            self._temporary = True
        self.directory = directory
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        os.environ[SUPERVISOR_VARIABLE] = str(os.getpid())
        endpoints = HealthEndpoints(
            registry=CollectorRegistry(),
            readiness_checks={"workers": lambda: serving_workers(directory) > 0},
            multiprocess_dir=directory,
        )
        if self.settings.metrics_port >= 0:
            self.server = serve_endpoints(endpoints, self.settings)
        return self

    def forget_in_worker(self) -> None:
        """In a forked worker: close the inherited listening socket (only the parent serves it)."""
        if self.server is not None:
            self.server.forget()
        self.server = None

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self._temporary:
            shutil.rmtree(self.directory, ignore_errors=True)
