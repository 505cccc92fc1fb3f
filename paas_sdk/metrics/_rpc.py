"""Timing of RPC calls, served and made, labelled the Dubbo way: service interface and method.

``status`` is ``ok`` or the class name of the exception the call raised, so failures are counted
by kind without the message (which could carry identifiers) becoming a label.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, cast

from prometheus_client import REGISTRY, CollectorRegistry, Histogram

__all__ = ["RpcMetrics", "RpcTimer"]

F = TypeVar("F", bound=Callable[..., Any])

_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, RpcMetrics] = weakref.WeakKeyDictionary()


class RpcTimer:
    """Times one kind of call; use it as ``with timer:`` or as a decorator (sync or async).

    One timer may time calls that overlap in several threads or asyncio tasks at once.
    """

    def __init__(self, histogram: Histogram, service: str, method: str) -> None:
        self._histogram = histogram
        self._service = service
        self._method = method
        # per thread and per asyncio task: calls through one timer overlap there, and each
        # must end with its own start; a stack for nested calls in one context
        self._started: contextvars.ContextVar[tuple[float, ...]] = contextvars.ContextVar(
            f"paas_rpc_started_{service}.{method}", default=()
        )

    def _record(self, started: float, error: BaseException | None) -> None:
        status = "ok" if error is None else type(error).__name__
        elapsed = time.perf_counter() - started
        self._histogram.labels(self._service, self._method, status).observe(elapsed)

    def __enter__(self) -> RpcTimer:
        self._started.set((*self._started.get(), time.perf_counter()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        *rest, started = self._started.get()
        self._started.set(tuple(rest))
        self._record(started, exc)

    def __call__(self, function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    result = await function(*args, **kwargs)
                except BaseException as error:
                    self._record(started, error)
                    raise
                self._record(started, None)
                return result

            return cast(F, timed_async)

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            except BaseException as error:
                self._record(started, error)
                raise
            self._record(started, None)
            return result

        return cast(F, timed)


class RpcMetrics:
    """`rpc_server_duration_seconds` and `rpc_client_duration_seconds` in one registry.

    >>> rpc = RpcMetrics.of(registry)
    >>> with rpc.client("com.acme.UserService", "getUser"):
    ...     call()
    >>> @rpc.server("com.acme.UserService", "getUser")
    ... def get_user(user_id: int) -> User: ...
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.server_duration = Histogram(
            "rpc_server_duration_seconds",
            "Time this service took to answer an RPC call, by interface, method and outcome.",
            ["service", "method", "status"],
            registry=registry,
        )
        self.client_duration = Histogram(
            "rpc_client_duration_seconds",
            "Time an RPC call made by this service took, by interface, method and outcome.",
            ["service", "method", "status"],
            registry=registry,
        )

    @classmethod
    def of(cls, registry: CollectorRegistry = REGISTRY) -> RpcMetrics:
        """The families registered in `registry`, created on first use."""
        found = _by_registry.get(registry)
        if found is None:
            found = _by_registry[registry] = cls(registry)
        return found

    def server(self, service: str, method: str) -> RpcTimer:
        """A timer for calls this service answers (`service` is the interface name)."""
        return RpcTimer(self.server_duration, service, method)

    def client(self, service: str, method: str) -> RpcTimer:
        """A timer for calls this service makes to `service`."""
        return RpcTimer(self.client_duration, service, method)
