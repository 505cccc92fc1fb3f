"""`configure_logging`: ECS to stdout always, plus Kafka shipping when a broker is configured."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from paas_sdk.context import ServiceContext
from paas_sdk.logs._formatter import DEFAULT_REDACTED_KEYS, EcsFormatter
from paas_sdk.logs._kafka import KafkaLogHandler
from paas_sdk.logs._servers import ConsoleFormatter

__all__ = ["LoggingSetup", "configure_logging"]


@dataclass
class LoggingSetup:
    """What `configure_logging` installed on `logger`; `close()` removes it again."""

    logger: logging.Logger
    formatter: EcsFormatter
    stream_handler: logging.StreamHandler[Any]
    kafka_handler: KafkaLogHandler | None

    def close(self) -> None:
        """Detach both handlers; the Kafka one flushes with its bounded timeout."""
        self.logger.removeHandler(self.stream_handler)
        if self.kafka_handler is not None:
            self.logger.removeHandler(self.kafka_handler)
            self.kafka_handler.close()


def configure_logging(
    context: ServiceContext | None = None,
    *,
    kafka_bootstrap: str | None = None,
    topic: str = "paas-logs",
    level: int | str = logging.INFO,
    stream: IO[str] | None = None,
    redact: Iterable[str] = DEFAULT_REDACTED_KEYS,
    logger: logging.Logger | None = None,
    console: bool = False,
    **kafka_options: Any,
) -> LoggingSetup:
    """Install ECS JSON on `stream` (stdout) and, with `kafka_bootstrap`, a `KafkaLogHandler`.

    `console=True` writes `stream` in a one-line format for people instead (Kafka still gets
    ECS). Handlers installed by an earlier call on the same logger are replaced, not stacked.
    `kafka_options` go to `KafkaLogHandler` (``on_full``, ``fallback_to_stderr``, ...).
    """
    target = logger if logger is not None else logging.getLogger()
    formatter = EcsFormatter(context, redact=redact)
    kafka_handler = None
    if kafka_bootstrap:
        # built before the earlier handlers go: a bad setting must not leave the logger with none
        kafka_handler = KafkaLogHandler(
            kafka_bootstrap, topic, formatter=formatter, **kafka_options
        )
    stream_handler: logging.StreamHandler[Any] = logging.StreamHandler(stream or sys.stdout)
    stream_handler.setFormatter(ConsoleFormatter() if console else formatter)
    for old in list(target.handlers):
        if getattr(old, "_paas_logs", False):
            target.removeHandler(old)
            old.close()
    for handler in (stream_handler, kafka_handler):
        if handler is not None:
            setattr(handler, "_paas_logs", True)  # noqa: B010 (a mark on a foreign class)
            target.addHandler(handler)
    target.setLevel(level)
    return LoggingSetup(target, formatter, stream_handler, kafka_handler)
