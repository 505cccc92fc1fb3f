"""Ordered start-to-stop for a service: deregister first, drain, then stop the rest, on SIGTERM.

Kubernetes sends SIGTERM and, a grace period later, SIGKILL; consumers keep dialing our address
until they see the provider node go. So shutdown runs in three phases:

1. **deregister** steps (for example `registry.unregister_all`): consumers stop picking us;
2. **drain**: keep serving for `drain_seconds` while their notifications arrive;
3. **stop** steps in the order added (stop accepting, finish in-flight work, flush logs,
   close the ZooKeeper client).

On a signal the SDK is a guest in the server's house: the handler it replaced (gunicorn's,
uvicorn's, Python's KeyboardInterrupt) gets the signal once the drain is over, so the server stops
itself gracefully, and the stop steps run once it has (its main thread returned, or an
integration called `server_stopped`). Ctrl-C (SIGINT) comes from a person at a terminal, never
from Kubernetes, so it deregisters and hands on without draining. Another signal during the
shutdown is handed on at once, so a second Ctrl-C stops now; a repeated SIGTERM, which supervisors
also send to a whole process group, does not cut the drain short. With no handler before ours
(SIGTERM's default), the stop steps run and the process then ends as that default would end it.

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

import gc
import logging
import os
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
_POLL = 0.05  # how often a wait looks whether the main thread has finished
_MAIN_GRACE = 1.0  # after the stop steps, how long a main thread gets to return by itself


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
        self._final: list[ShutdownStep] = []
        self._previous: dict[int, _Handler] = {}
        self._handed_on: set[int] = set()  # signals the replaced handlers have seen
        self._signal: int | None = None  # the signal that started the shutdown
        self._server_stopped = threading.Event()
        self._thread: threading.Thread | None = None  # the one running the phases
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
        last: bool = False,
    ) -> None:
        """Run `action` after the drain, in the order the steps were added.

        `first=True` puts it before the steps already added: a service's own server, added after
        `paas_sdk.init()`, must stop taking requests before the SDK flushes logs and disconnects.
        `last=True` runs it after ``shutdown finished`` is logged (closing the logs themselves).
        """
        step = ShutdownStep(name, action, timeout or self.step_timeout)
        if last:
            self._final.append(step)
        elif first:
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
        """Drain on these signals, then hand each on to the handler it replaced (main thread only).

        Calling it again after a server installed its own handlers puts ours back on top, so the
        server's handler is the one the signal is handed on to.
        """
        for signum in signals:
            current = signal.getsignal(signum)
            if current == self._on_signal:
                continue
            self._previous[signum] = current
            signal.signal(signum, self._on_signal)

    def restore_signal_handlers(self) -> None:
        """Put back the handlers ours replaced (main thread only), where ours is still on top.

        Where another handler went on top of ours (a second lifecycle's), ours stays in the
        chain and hands each signal on as if it were absent.
        """
        for signum, previous in list(self._previous.items()):
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
                del self._previous[signum]

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # runs on the main thread between bytecodes: start the work elsewhere and return, so
        # whatever the main thread serves keeps serving during the drain
        if signum in self._handed_on or self._finished.is_set():
            self._pass_on(signum, frame)
        elif not self.shutting_down:
            interactive = signum == signal.SIGINT  # a person at a terminal, not an orchestrator
            log.info(
                "signal %s: shutting down%s",
                signum,
                " without draining (Ctrl-C again to stop at once)" if interactive else "",
            )
            self._signal = signum
            if interactive:
                self._drained.set()
            self.shutdown_in_background(reason=f"signal {signum}")
            if interactive and callable(self._previous.get(signum)):
                # the server stops now, alongside deregistration; the stop steps wait for it
                self._handed_on.add(signum)
                self._pass_on(signum, frame)
        elif signum == self._signal == signal.SIGTERM:
            # the same SIGTERM twice is a supervisor forwarding it to its process group as well
            # (systemd, timeout, a shell): the drain goes on
            log.debug("signal %s again: already draining", signum)
        else:
            log.warning("signal %s again: stopping at once", signum)
            self._handed_on.add(signum)
            self._drained.set()
            self._pass_on(signum, frame)

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        """Let the handler we replaced act on `signum`, on the main thread, as if we were absent."""
        previous = self._previous.get(signum, signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # SIG_DFL (or None: installed outside Python)
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    def _hand_on(self, signum: int) -> None:
        """After the drain: the server's own handler stops it; wait (bounded) until it has."""
        previous = self._previous.get(signum, signal.SIG_DFL)
        if previous == signal.SIG_IGN:
            return
        if not self._handed_on:  # else a second signal (or Ctrl-C) went straight to the server
            self._handed_on.add(signum)
            if not callable(previous):
                return  # the default action ends the process, so it comes after the stop steps
            log.info("drain over: handing signal %s on to the server", signum)
            _signal_main_thread(signum)  # runs `_pass_on` there
        self._until_server_stopped(self.step_timeout)

    def _until_server_stopped(self, timeout: float) -> bool:
        """Wait until the main thread has finished or `server_stopped()` was called."""
        deadline = time.monotonic() + timeout
        main = threading.main_thread()
        while main.is_alive() and not self._server_stopped.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._server_stopped.wait(min(left, _POLL))
        return True

    def server_stopped(self) -> None:
        """Tell a signal-started shutdown that the server has stopped serving (integrations)."""
        self._server_stopped.set()
        self._drained.set()

    # -- shutdown --------------------------------------------------------------------------
    def shutdown_in_background(self, reason: str = "requested") -> threading.Thread:
        thread = threading.Thread(
            target=self.shutdown, kwargs={"reason": reason}, name="paas-lifecycle", daemon=False
        )
        thread.start()
        return thread

    def shutdown(self, reason: str = "requested", *, drain: bool = True) -> None:
        """Run the phases once; a later call (the server has stopped) waits for the first.

        `drain=False` skips the drain: a server that has stopped accepting gains nothing from it,
        and a failed start must report at once. After a signal, the signal is handed on to the
        handler it replaced once the drain is over, and the stop steps wait for the server.
        """
        with self._lock:
            first = not self._started.is_set()
            self._started.set()
        if not first:
            if threading.current_thread() is not self._thread:
                self.server_stopped()
                self._finished.wait()
            return
        self._thread = threading.current_thread()
        started = time.monotonic()
        signum = self._signal
        try:
            log.info("shutdown (%s): deregistering", reason)
            for step in self._deregister:
                self._run(step)
            if drain and self.drain_seconds and not self._drained.is_set():
                log.info("draining for %.1f s", self.drain_seconds)
                self._drain(time.monotonic() + self.drain_seconds)
            signum = self._signal
            if signum is not None:
                self._hand_on(signum)
            for step in self._stop:
                self._run(step)
            log.info("shutdown finished in %.1f s", time.monotonic() - started)
            for step in self._final:
                self._run(step)
        finally:
            # whatever went wrong, a later shutdown() waits for this one, not forever
            self._finished.set()
        if not threading.main_thread().is_alive():
            # the program has ended and the interpreter waits for this thread to tear down: its
            # last garbage collection over a loaded app's objects can take a second on a busy
            # machine, and a process on its way out gains nothing from it
            gc.freeze()
        if signum is not None and self._previous.get(signum) in (signal.SIG_DFL, None):
            self._default_action(signum)
        if threading.current_thread() is threading.main_thread():
            # else a later init() in this process would chain to this finished lifecycle's
            # handler (off the main thread that handler stays, handing signals on)
            self.restore_signal_handlers()

    def _drain(self, deadline: float) -> None:
        # ends early on a second signal, or when the server stopped by itself (the main thread
        # returned, as after gunicorn's SIGQUIT): nobody is left to serve
        main = threading.main_thread()
        while not self._drained.is_set() and main.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._drained.wait(min(left, _POLL))

    def _default_action(self, signum: int) -> None:
        """SIGTERM with no server handler: end the process, unless its main thread ends itself."""
        if self._until_server_stopped(_MAIN_GRACE):
            return
        log.debug("main thread still running: ending the process on signal %s", signum)
        _signal_main_thread(signum)  # `_pass_on` restores the default action and re-raises

    def wait(self, timeout: float | None = None) -> bool:
        """Block until shutdown has finished; True if it has."""
        return self._finished.wait(timeout)

    def _run(self, step: ShutdownStep) -> None:
        outcome: list[str] = []

        def run() -> None:
            try:
                step.action()
                outcome.append("ok")
            except BaseException:  # a step's sys.exit() must not end the shutdown's thread
                log.exception("shutdown step %r failed", step.name)
                outcome.append("failed")

        worker = threading.Thread(target=run, name=f"paas-lifecycle-{step.name}", daemon=True)
        worker.start()
        worker.join(step.timeout)
        if worker.is_alive():
            log.error("shutdown step %r still running after %.1f s", step.name, step.timeout)
            outcome.append("timeout")
        self.completed.append((step.name, outcome[0] if outcome else "failed"))


def _signal_main_thread(signum: int) -> None:
    # to the main thread itself, so that a select() or sleep() it is blocked in returns at once
    # (a signal raised on this thread would wait for the main thread's next timeout)
    ident = threading.main_thread().ident
    if ident is not None and threading.main_thread().is_alive():
        signal.pthread_kill(ident, signum)
    else:
        os.kill(os.getpid(), signum)


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        log.exception("readiness check failed")
        return False
