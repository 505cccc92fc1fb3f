"""The logger librdkafka's own log lines go to, rate-limited, instead of raw ``%3|...`` stderr.

confluent-kafka hands each librdkafka line to the ``logger`` of a client's configuration as
``logger.log(level, "%s [%s] %s", facility, client_name, text)`` from inside ``poll()``. The
logger's name is under ``paas_sdk.logs``, which `KafkaLogHandler` never ships: a Kafka that is
down must not be told about itself through Kafka. The records reach every other handler.
"""

from __future__ import annotations

import logging
import re
import threading
import time

__all__ = ["LIBRDKAFKA_LOGGER", "RateLimit"]

_NUMBERS = re.compile(r"\d+")


class RateLimit(logging.Filter):
    """Let through at most one record per distinct level, facility and text every `interval`
    seconds; the next one let through says how many were suppressed meanwhile.

    Numbers are ignored when comparing texts: librdkafka repeats a failure with a new duration
    or count in it ("after 3ms in state CONNECT, 4 identical error(s) suppressed").
    """

    def __init__(self, interval: float = 30.0) -> None:
        super().__init__()
        self.interval = interval
        self._lock = threading.Lock()
        self._windows: dict[tuple[int, str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 3:
            facility, text = str(args[0]), str(args[2])
        else:
            facility, text = "", record.getMessage()
        key = (record.levelno, facility, _NUMBERS.sub("#", text))
        now = time.monotonic()
        with self._lock:
            started, suppressed = self._windows.get(key, (-self.interval, 0))
            if now - started < self.interval:
                self._windows[key] = (started, suppressed + 1)
                return False
            self._windows[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.getMessage()} ({suppressed} more like it suppressed)"
            record.args = None
        return True


LIBRDKAFKA_LOGGER = logging.getLogger("paas_sdk.logs.librdkafka")
LIBRDKAFKA_LOGGER.addFilter(RateLimit())
