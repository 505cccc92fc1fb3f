"""Ordered start-to-stop for a service: deregister first, drain, then stop the rest, on SIGTERM.

Kubernetes sends SIGTERM and, a grace period later, SIGKILL; consumers keep dialing our address
until they see the provider node go. So shutdown runs in three phases:

1. **deregister** steps (for example `registry.unregister_all`): consumers stop picking us;
2. **drain**: keep serving for `drain_seconds` while their notifications arrive;
3. **stop** steps in the order added (stop accepting, finish in-flight work, flush logs,
   close the ZooKeeper client).

Readiness is "every readiness check passes and shutdown has not begun". Only the standard
library is used, so this works without the rest of the SDK.

    lifecycle = Lifecycle(drain_seconds=10)
    lifecycle.add_readiness("registered", lambda: registry.registered)
    lifecycle.on_deregister("registry", registry.unregister_all)
    lifecycle.on_stop("http", server.shutdown)
    lifecycle.on_stop("registry", registry.close)
    lifecycle.install_signal_handlers()
    server.serve_forever()          # returns once the "http" step stopped it
    lifecycle.wait()
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

__all__ = ["Lifecycle", "ShutdownStep"]

log = logging.getLogger("paas_sdk.lifecycle")

_Handler = Callable[[int, FrameType | None], Any] | int | None


@dataclass(frozen=True)
class ShutdownStep:
    """One named step; a step that raises or overruns `timeout` is logged and skipped."""

    name: str
    action: Callable[[], object]
    timeout: float


class Lifecycle:
    """Shutdown in order (deregister, drain, stop) and readiness, for one process."""

    def __init__(self, *, drain_seconds: float = 10.0, step_timeout: float = 10.0) -> None:
        if drain_seconds < 0 or step_timeout <= 0:
            raise ValueError("drain_seconds must be >= 0 and step_timeout > 0")
        self.drain_seconds = drain_seconds
        self.step_timeout = step_timeout
        self._deregister: list[ShutdownStep] = []
        self._stop: list[ShutdownStep] = []
        self._readiness: dict[str, Callable[[], bool]] = {}
        self._started = threading.Event()
        self._drained = threading.Event()  # set early by a second signal: skip the rest of drain
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._previous: dict[int, _Handler] = {}
        self.completed: list[tuple[str, str]] = []  # (step, "ok" | "failed" | "timeout")

    # -- configuration ---------------------------------------------------------------------
    def on_deregister(
        self, name: str, action: Callable[[], object], timeout: float | None = None
    ) -> None:
        """Run `action` first when shutting down, before the drain."""
        self._deregister.append(ShutdownStep(name, action, timeout or self.step_timeout))

    def on_stop(
        self,
        name: str,
        action: Callable[[], object],
        timeout: float | None = None,
        *,
        first: bool = False,
    ) -> None:
        """Run `action` after the drain, in the order the steps were added.

        `first=True` puts it before the steps already added: a service's own server, added after
        `paas_sdk.init()`, must stop taking requests before the SDK flushes logs and disconnects.
        """
        step = ShutdownStep(name, action, timeout or self.step_timeout)
        if first:
            self._stop.insert(0, step)
        else:
            self._stop.append(step)

    def add_readiness(self, name: str, check: Callable[[], bool]) -> None:
        self._readiness[name] = check

    # -- state -----------------------------------------------------------------------------
    @property
    def shutting_down(self) -> bool:
        return self._started.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def ready(self) -> bool:
        """True while not shutting down and every readiness check passes."""
        return not self.shutting_down and all(_safe(check) for check in self._readiness.values())

    def readiness_checks(self) -> Mapping[str, Callable[[], bool]]:
        """Checks for a health endpoint: the added ones plus ``serving`` (false once stopping)."""
        return {"serving": lambda: not self.shutting_down, **self._readiness}

    # -- signals ---------------------------------------------------------------------------
    def install_signal_handlers(
        self, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)
    ) -> None:
        """Shut down on these signals (main thread only); a second one skips the drain."""
        for signum in signals:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def restore_signal_handlers(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # runs on the main thread between bytecodes: start the work elsewhere and return, so
        # whatever the main thread serves keeps serving during the drain
        if self.shutting_down:
            log.warning("signal %s again: skipping the rest of the drain", signum)
            self._drained.set()
            return
        log.info("signal %s: shutting down", signum)
        self.shutdown_in_background(reason=f"signal {signum}")

    # -- shutdown --------------------------------------------------------------------------
    def shutdown_in_background(self, reason: str = "requested") -> threading.Thread:
        thread = threading.Thread(
            target=self.shutdown, kwargs={"reason": reason}, name="paas-lifecycle", daemon=False
        )
        thread.start()
        return thread

    def shutdown(self, reason: str = "requested") -> None:
        """Run the three phases once; later calls wait for the first to finish."""
        with self._lock:
            first = not self._started.is_set()
            self._started.set()
        if not first:
            self._finished.wait()
            return
        started = time.monotonic()
        log.info("shutdown (%s): deregistering", reason)
        for step in self._deregister:
            self._run(step)
        if self.drain_seconds:
            log.info("draining for %.1f s", self.drain_seconds)
            self._drained.wait(self.drain_seconds)
        for step in self._stop:
            self._run(step)
        log.info("shutdown finished in %.1f s", time.monotonic() - started)
        self._finished.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until shutdown has finished; True if it has."""
        return self._finished.wait(timeout)

    def _run(self, step: ShutdownStep) -> None:
        outcome: list[str] = []

        def run() -> None:
            try:
                step.action()
                outcome.append("ok")
            except Exception:
                log.exception("shutdown step %r failed", step.name)
                outcome.append("failed")

        worker = threading.Thread(target=run, name=f"paas-lifecycle-{step.name}", daemon=True)
        worker.start()
        worker.join(step.timeout)
        if worker.is_alive():
            log.error("shutdown step %r still running after %.1f s", step.name, step.timeout)
            outcome.append("timeout")
        self.completed.append((step.name, outcome[0]))


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        log.exception("readiness check failed")
        return False
