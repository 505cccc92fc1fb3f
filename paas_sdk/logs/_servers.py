"""The process's other voices in the same logs: servers' own loggers, uncaught exceptions, and a
readable console format for a person at a terminal.

gunicorn, uvicorn and Django's development server give their loggers handlers of their own that
do not propagate, so their access and error lines would bypass ECS (and Kafka);
`route_server_logs` hands them to the root logger's handlers instead. `capture_uncaught` makes an
exception nobody caught one ECS record (``error.*``) rather than a bare traceback on stderr.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

__all__ = ["SERVER_LOGGERS", "ConsoleFormatter", "capture_uncaught", "route_server_logs"]

SERVER_LOGGERS = (
    "gunicorn.error",
    "gunicorn.access",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "django.server",
)

_uncaught = logging.getLogger("paas_sdk.uncaught")


def route_server_logs(names: Iterable[str] = SERVER_LOGGERS) -> None:
    """Let these loggers' records reach the root logger's handlers, and only those."""
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def capture_uncaught() -> Callable[[], None]:
    """Log uncaught exceptions (main thread and others) as CRITICAL; returns the undo."""
    previous_hook, previous_thread_hook = sys.excepthook, threading.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):  # Ctrl-C is no error
            previous_hook(kind, error, tb)
            return
        _uncaught.critical("uncaught %s: %s", kind.__name__, error, exc_info=(kind, error, tb))

    def thread_hook(args: Any) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        _uncaught.critical(
            "uncaught %s in thread %s: %s",
            args.exc_type.__name__,
            args.thread.name if args.thread else "?",
            args.exc_value,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook, threading.excepthook = hook, thread_hook

    def undo() -> None:
        if sys.excepthook is hook:
            sys.excepthook = previous_hook
        if threading.excepthook is thread_hook:
            threading.excepthook = previous_thread_hook

    return undo


class ConsoleFormatter(logging.Formatter):
    """``12:04:05.123 INFO  order_service: order placed order.id=7``: one line for a person."""

    def __init__(self) -> None:
        super().__init__()
        from paas_sdk.logs._formatter import _RECORD_ATTRS

        self._attrs = _RECORD_ATTRS

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in self._attrs and not key.startswith("_")
        )
        line = (
            f"{clock}.{int(record.msecs):03d} {record.levelname:<7} {record.name}: "
            f"{record.getMessage()}{' ' + extras if extras else ''}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line
