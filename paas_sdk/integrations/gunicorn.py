"""gunicorn with the SDK: a config module of server hooks, for sync and uvicorn workers.

    gunicorn -c python:paas_sdk.integrations.gunicorn -w 4 app:app
    gunicorn -c python:paas_sdk.integrations.gunicorn -w 4 -k uvicorn.workers.UvicornWorker app:app

With a config file of your own, start it with ``from paas_sdk.integrations.gunicorn import *``
and call these hooks from any hook you define again.

- The arbiter binds the pod's `/metrics`, `/healthz` and `/readyz` once (`PodEndpoints`); every
  worker writes its metrics to the multiprocess directory and binds nothing.
- Each worker starts the platform after gunicorn installed its signal handlers, so on SIGTERM it
  deregisters, drains ``PAAS_DRAIN_SECONDS`` while still serving, then hands the signal to
  gunicorn's handler: the worker finishes its requests and exits, then the SDK stops.
- ``graceful_timeout`` defaults to the drain plus 5 s, so gunicorn never kills a draining worker.
- uvicorn workers get the ASGI lifespan (`paas_sdk.integrations.asgi`) wrapped around the app.

Don't combine it with ``--preload``: the platform's threads and clients belong in the workers.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import sys
from typing import Any

from paas_sdk.errors import PaasError
from paas_sdk.integrations._pod import PodEndpoints
from paas_sdk.metrics._multiprocess import (
    SUPERVISOR_VARIABLE,
    mark_worker_exited,
    use_multiprocess_values,
)
from paas_sdk.platform import PlatformSettings

__all__ = [
    "child_exit",
    "graceful_timeout",
    "on_exit",
    "on_starting",
    "post_fork",
    "post_worker_init",
    "worker_exit",
]

log = logging.getLogger("paas_sdk.integrations")


_WORKER_BOOT_ERROR = 3  # gunicorn's Arbiter.WORKER_BOOT_ERROR: the arbiter stops, not respawns


def _default_graceful_timeout() -> int:
    try:
        return math.ceil(PlatformSettings.from_env().drain_seconds) + 5
    except PaasError:
        return 15  # the malformed variable is reported by on_starting


graceful_timeout = _default_graceful_timeout()

_pod: PodEndpoints | None = None


def on_starting(server: Any) -> None:
    """Arbiter, before the workers: bind the pod's endpoints and set the variables they inherit."""
    global _pod  # noqa: PLW0603 - one arbiter per process
    try:
        settings = PlatformSettings.from_env()
        _log_like_the_workers(settings)
        _pod = PodEndpoints(settings).prepare()
    except PaasError as error:
        server.log.error("paas_sdk: %s", error)
        sys.exit(1)
    drain = settings.drain_seconds
    if server.cfg.graceful_timeout < drain + 1:
        server.log.warning(
            "paas_sdk: --graceful-timeout %s is shorter than PAAS_DRAIN_SECONDS=%s plus 1 s: "
            "gunicorn will kill workers that are still draining",
            server.cfg.graceful_timeout,
            drain,
        )


def _log_like_the_workers(settings: PlatformSettings) -> None:
    # the arbiter's own lines ("Booting worker", "Shutting down") in the workers' format
    from paas_sdk.context import ServiceContext
    from paas_sdk.logs import configure_logging
    from paas_sdk.logs._servers import route_server_logs

    configure_logging(
        ServiceContext.from_env(), level=settings.log_level, console=settings.console_logs
    )
    route_server_logs()


def post_fork(server: Any, worker: Any) -> None:
    """Worker, before the app loads: metrics to the shared files, the port left to the arbiter."""
    if _pod is not None:
        _pod.forget_in_worker()
    use_multiprocess_values()


def post_worker_init(worker: Any) -> None:
    """Worker, app loaded and gunicorn's handlers installed: start the platform on top of them."""
    if hasattr(worker, "config") and hasattr(worker.config, "app"):  # uvicorn's worker class
        from paas_sdk.integrations.asgi import PlatformLifespan

        worker.wsgi = PlatformLifespan(worker.wsgi, exiting=True)  # inside uvicorn's serve()
        return
    import paas_sdk

    try:
        platform = paas_sdk.init(install_signal_handlers=False)
    except PaasError as error:
        worker.log.error("paas_sdk: %s", error)
        sys.exit(_WORKER_BOOT_ERROR)
    platform.lifecycle.install_signal_handlers()


def worker_exit(server: Any, worker: Any) -> None:
    """Worker, its loop over: stop the platform (the drain happened before the loop ended)."""
    from paas_sdk.platform import current

    platform = current()
    if platform is not None:
        platform.shutdown("worker exiting", drain=False)
    # what is left is the interpreter's teardown, whose last garbage collection over a loaded
    # app's objects kept a quick-stopping worker alive for a second and more on a busy machine;
    # frozen objects are not scanned again, and the process frees its memory as it exits anyway
    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    """Arbiter: a worker is gone, its live gauges and serving mark with it."""
    mark_worker_exited(int(worker.pid), _pod.directory if _pod is not None else None)


def on_exit(server: Any) -> None:
    """Arbiter, last: stop serving the pod's endpoints."""
    if _pod is not None:
        _pod.close()
    os.environ.pop(SUPERVISOR_VARIABLE, None)
    gc.freeze()  # as in `worker_exit`
