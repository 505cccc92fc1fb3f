"""Choosing a provider the way Dubbo's consumer does: weighted random with warm-up
(`RandomLoadBalance`, `AbstractLoadBalance.getWeight`), providers that refuse connections set
aside with a growing back-off and taken back after it, and a gRPC channel per provider.
"""

from __future__ import annotations

import bisect
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from paas_sdk.registry import DubboURL

__all__ = ["Endpoint", "Picker"]

DEFAULT_WEIGHT = 100
DEFAULT_WARMUP_MS = 10 * 60 * 1000  # Dubbo's `warmup` default
_SET_ASIDE_FIRST = 1.0
_SET_ASIDE_MAX = 30.0
_NEVER = 2**63


class Endpoint:
    """One provider: its URL, its effective weight (after overrides) and its channel."""

    def __init__(self, url: DubboURL, channel_options: list[tuple[str, object]]) -> None:
        self.url = url
        self.address = url.address
        self.channel = grpc.insecure_channel(self.address, options=channel_options)
        self._calls: dict[str, Any] = {}
        self.set_aside_until = 0.0
        self._backoff = 0.0
        self.reconfigure(url)

    def reconfigure(self, url: DubboURL) -> None:
        """Take the parameters of `url` (the provider's, with overrides applied)."""
        self.url = url
        self.weight = _int(url.get("weight"), DEFAULT_WEIGHT)
        self.timestamp_ms = _int(url.get("timestamp"), 0)
        self.warmup_ms = _int(url.get("warmup"), DEFAULT_WARMUP_MS)
        self.warm_at_ms = self.timestamp_ms + self.warmup_ms if self.timestamp_ms > 0 else 0

    def unary_unary(
        self,
        path: str,
        serializer: Callable[[Any], bytes] | None,
        deserializer: Callable[[bytes], Any] | None,
    ) -> Any:
        """The channel's callable for `path`, made once (stubs pass the same codecs each time)."""
        found = self._calls.get(path)
        if found is None:
            found = self._calls[path] = self.channel.unary_unary(
                path, request_serializer=serializer, response_deserializer=deserializer
            )
        return found

    def effective_weight(self, now_ms: int) -> int:
        """Dubbo's `getWeight`: the configured weight, ramped up over `warmup` after start."""
        weight = self.weight
        if now_ms >= self.warm_at_ms:
            return max(weight, 0)
        if weight > 0 and self.timestamp_ms > 0:
            uptime = now_ms - self.timestamp_ms
            if uptime < 0:
                return 1
            if uptime < self.warmup_ms:
                ramped = int(uptime / (self.warmup_ms / weight))
                weight = max(1, min(ramped, weight))
        return max(weight, 0)

    def refused(self) -> None:
        """It refused a connection: leave it out for a while (doubling, up to 30 s)."""
        self._backoff = min(_SET_ASIDE_MAX, self._backoff * 2 or _SET_ASIDE_FIRST)
        self.set_aside_until = time.monotonic() + self._backoff

    def answered(self) -> None:
        if self._backoff:
            self._backoff = 0.0
            self.set_aside_until = 0.0

    def close(self) -> None:
        self.channel.close()


class Picker:
    """The current endpoints and Dubbo's weighted random choice among them.

    Weights are summed once per update (once a second while some provider still warms up), so
    the usual pick is one random number and a bisection.
    """

    def __init__(self) -> None:
        self._endpoints: tuple[Endpoint, ...] = ()
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        # (endpoints, cumulative weights, total, valid until epoch ms)
        self._steady: tuple[tuple[Endpoint, ...], list[int], int, int] | None = None

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    def update(self, endpoints: Iterable[Endpoint]) -> None:
        with self._lock:
            self._endpoints = tuple(endpoints)
            self._steady = None
            self.changed.notify_all()

    def pick(
        self, exclude: set[str], endpoints: tuple[Endpoint, ...] | None = None
    ) -> Endpoint | None:
        """A provider not in `exclude` among `endpoints` (default: all), preferring those not set
        aside; None when there is none."""
        if endpoints is None:
            endpoints = self._endpoints
        if not endpoints:
            return None
        now = time.monotonic()
        available: tuple[Endpoint, ...] | list[Endpoint] = endpoints
        if exclude or any(e.set_aside_until > now for e in endpoints):
            candidates = [e for e in endpoints if e.address not in exclude]
            available = [e for e in candidates if e.set_aside_until <= now] or candidates
            if not available:
                return None
        if len(available) == 1:
            return available[0]
        now_ms = int(time.time() * 1000)
        steady = self._steady
        if steady is not None and steady[0] is available and now_ms < steady[3]:
            _, cumulative, total, _ = steady
            return available[bisect.bisect_right(cumulative, random.randrange(total))]  # noqa: S311
        weights = [e.effective_weight(now_ms) for e in available]
        total = sum(weights)
        if total <= 0:
            return random.choice(available)  # noqa: S311 - load spreading, not secrecy
        cumulative = list(itertools.accumulate(weights))
        if available is endpoints:
            # warm weights hold until the list changes; ramping ones move one step in
            # warmup/weight (6 s at Dubbo's defaults), so a second's reuse changes nothing
            warming = now_ms < max(e.warm_at_ms for e in endpoints)
            self._steady = (endpoints, cumulative, total, now_ms + 1000 if warming else _NEVER)
        # Dubbo's RandomLoadBalance: an offset in [0, total) falls into one provider's share
        return available[bisect.bisect_right(cumulative, random.randrange(total))]  # noqa: S311


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
