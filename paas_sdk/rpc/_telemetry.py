"""RPC metrics and W3C trace context for Triple calls, as grpcio server interceptors (sync and
asyncio) and the helpers the consumer side uses around each call.

Metrics are the `rpc_server_duration_seconds` / `rpc_client_duration_seconds` histograms of
`paas_sdk.metrics.RpcMetrics` (OpenTelemetry's RPC duration, in base units): ``service`` is the
Dubbo interface, ``method`` the proto method, ``status`` ``ok`` or the gRPC status name
(``UNAVAILABLE``, ``NOT_FOUND``, ...). A histogram's ``_count`` is the request count, so requests,
errors by status and latency come from one family on both sides. The trace context travels as
the ``traceparent`` gRPC metadata entry (Dubbo passes it on as an attachment) and is set as
`paas_sdk.logs.current_trace` while the call runs, so ECS lines of both sides carry ``trace.id``.
"""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc
import grpc.aio
from prometheus_client import Histogram

from paas_sdk.logs._formatter import current_trace
from paas_sdk.metrics import RpcMetrics

__all__ = [
    "AsyncServerTelemetry",
    "ServerTelemetry",
    "call_deadline",
    "outgoing_trace",
    "status_label",
]

TRACEPARENT = "traceparent"
# the `time.monotonic()` by which the call being served must be answered; calls made while
# serving it inherit it, so a caller's deadline bounds the whole chain
call_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "paas_rpc_deadline", default=None
)
_HEX = frozenset("0123456789abcdef")


def status_label(code: grpc.StatusCode | None) -> str:
    return "ok" if code is None or code is grpc.StatusCode.OK else code.name


def _parse_traceparent(value: str) -> str | None:
    """The trace id of a valid W3C ``traceparent`` (version 00), else None."""
    parts = value.split("-")
    if len(parts) != 4 or parts[0] != "00" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace_id = parts[1]
    if not set(trace_id) <= _HEX or trace_id == "0" * 32:
        return None
    return trace_id


def _span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def incoming_trace(metadata: Iterable[tuple[str, str | bytes]] | None) -> tuple[str, str]:
    """(trace id, span id) for a served call: the caller's trace continued, or a new one."""
    for key, value in metadata or ():
        if key == TRACEPARENT and isinstance(value, str):
            trace_id = _parse_traceparent(value)
            if trace_id is not None:
                return trace_id, _span_id()
    return f"{random.getrandbits(128) or 1:032x}", _span_id()


def outgoing_trace() -> tuple[str, str]:
    """The ``traceparent`` value for an outgoing call, child of the current trace if any."""
    current = current_trace.get()
    trace_id = current[0] if current else f"{random.getrandbits(128) or 1:032x}"
    return TRACEPARENT, f"00-{trace_id}-{_span_id()}-01"


class _ServedCall:
    """What both interceptors do around one served call: trace and deadline set for the
    servicer, then the duration recorded with its status."""

    __slots__ = ("_deadline", "_started", "_trace", "context")

    def __init__(self, context: Any) -> None:
        self.context = context
        self._trace = current_trace.set(incoming_trace(context.invocation_metadata()))
        remaining = context.time_remaining()
        self._deadline = call_deadline.set(
            None if remaining is None else time.monotonic() + remaining
        )
        self._started = time.perf_counter()

    def finish(self, histogram: Histogram | None, labels: tuple[str, str], failed: bool) -> None:
        code = self.context.code()
        if failed and code is None:  # an exception the servicer did not turn into a status
            code = grpc.StatusCode.UNKNOWN
        status = status_label(code)
        if histogram is not None:
            histogram.labels(*labels, status).observe(time.perf_counter() - self._started)
        current_trace.reset(self._trace)
        call_deadline.reset(self._deadline)


class _Interceptor:
    """Dubbo interface names by gRPC service; one wrapped handler per method, made once."""

    def __init__(self, metrics: RpcMetrics | None, interfaces: Mapping[str, str]) -> None:
        self.histogram: Histogram | None = metrics.server_duration if metrics else None
        self.interfaces = interfaces
        self.wrapped: dict[str, Any] = {}

    def wrap(self, full_method: str, handler: Any, timed: Callable[..., Any]) -> Any:
        service, _, method = full_method[1:].rpartition("/")
        wrapped = self.wrapped[full_method] = grpc.unary_unary_rpc_method_handler(
            timed(handler.unary_unary, (self.interfaces.get(service, service), method)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        return wrapped


class ServerTelemetry(_Interceptor, grpc.ServerInterceptor):
    """Times every unary call by interface, method and status; continues the caller's trace."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        method: str = details.method
        wrapped = self.wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        return self.wrap(method, handler, self._timed)

    def _timed(
        self, behavior: Callable[[Any, Any], Any], labels: tuple[str, str]
    ) -> Callable[[Any, Any], Any]:
        histogram = self.histogram

        def timed(request: Any, context: Any) -> Any:
            call = _ServedCall(context)
            failed = True
            try:
                response = behavior(request, context)
                failed = False
                return response
            finally:
                call.finish(histogram, labels, failed)

        return timed


class AsyncServerTelemetry(_Interceptor, grpc.aio.ServerInterceptor):
    """`ServerTelemetry` for `grpc.aio` servers."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        method: str = details.method
        wrapped = self.wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        return self.wrap(method, handler, self._timed)

    def _timed(
        self, behavior: Callable[[Any, Any], Awaitable[Any]], labels: tuple[str, str]
    ) -> Callable[[Any, Any], Awaitable[Any]]:
        histogram = self.histogram

        async def timed(request: Any, context: Any) -> Any:
            call = _ServedCall(context)
            failed = True
            try:
                response = await behavior(request, context)
                failed = False
                return response
            finally:
                call.finish(histogram, labels, failed)

        return timed
