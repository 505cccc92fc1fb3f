"""HTTP server metrics as ASGI and WSGI middleware, labelled by route template, never raw path.

The route template comes from the framework's router after it has matched the request (Starlette
and FastAPI set ``scope["route"]``; Flask sets ``request.url_rule``), so a path such as
``/users/42`` is counted under ``/users/{user_id}`` and the label set stays bounded. Any other
framework plugs in a `route_resolver`. Requests no route matched are counted as ``<unmatched>``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram

__all__ = [
    "UNMATCHED_ROUTE",
    "AsgiMetricsMiddleware",
    "HttpMetrics",
    "WsgiMetricsMiddleware",
    "flask_route",
    "starlette_route",
]

UNMATCHED_ROUTE = "<unmatched>"
# Methods outside this set are counted as "other": a client must not be able to mint label values.
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
AsgiRouteResolver = Callable[[Scope], str | None]
WsgiEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WsgiEnviron, StartResponse], Iterable[bytes]]
WsgiRouteResolver = Callable[[WsgiEnviron], str | None]

_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, HttpMetrics] = (
    weakref.WeakKeyDictionary()
)


class HttpMetrics:
    """The HTTP server metric families of one registry.

    `HttpMetrics.of(registry)` returns the same families for the same registry, so several
    middlewares (or apps) in one process share them instead of failing on duplicate names.
    """

    def __init__(
        self,
        registry: CollectorRegistry = REGISTRY,
        *,
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    ) -> None:
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Time from receiving an HTTP request to sending the last byte of its response.",
            ["method", "route", "status"],
            buckets=buckets,
            registry=registry,
        )
        self.in_flight = Gauge(
            "http_server_requests_in_flight",
            "HTTP requests being served now.",
            ["method"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        # labels() takes a lock and builds a tuple each call; caching the children keeps the
        # per-request cost at one dict lookup.
        self._observers: dict[tuple[str, str, str], Callable[[float], None]] = {}
        self._gauges: dict[str, Gauge] = {}

    @classmethod
    def of(cls, registry: CollectorRegistry = REGISTRY) -> HttpMetrics:
        """The families registered in `registry`, created on first use."""
        found = _by_registry.get(registry)
        if found is None:
            found = _by_registry[registry] = cls(registry)
        return found

    def in_flight_for(self, method: str) -> Gauge:
        """The in-flight gauge child for an HTTP method (unknown methods count as "other")."""
        # keyed by the label, not the method a client sent: any token is a method
        label = method if method in _KNOWN_METHODS else "other"
        gauge = self._gauges.get(label)
        if gauge is None:
            gauge = self._gauges[label] = self.in_flight.labels(label)
        return gauge

    def observe(self, method: str, route: str, status: str, seconds: float) -> None:
        """Record one finished request."""
        key = (method if method in _KNOWN_METHODS else "other", route, status)
        observe = self._observers.get(key)
        if observe is None:
            observe = self._observers[key] = self.duration.labels(*key).observe
        observe(seconds)


def _template_under(routes: Sequence[Any], scope: Scope, prefix: str) -> str | None:
    """Walk a Starlette route tree as the router did, joining mount prefixes as templates."""
    from starlette.routing import Match, Mount

    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        path = prefix + str(getattr(route, "path", ""))
        if isinstance(route, Mount):
            inner = _template_under(route.routes, {**scope, **child}, path)
            return inner if inner is not None else path
        return path
    return None


def starlette_route(scope: Scope, *, entry_root_path: str = "", top_app: Any = None) -> str | None:
    """The route template Starlette or FastAPI matched for `scope`, or None when none matched.

    Reads ``scope["route"]`` set by the router; when the request went through a `Mount`, the
    template is rebuilt from the top app's route tree so mount prefixes stay templates too.
    """
    route = scope.get("route")
    if route is None:
        return None
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    if scope.get("root_path", "") == entry_root_path:
        return path
    routes = getattr(top_app, "routes", None)
    if routes is None:
        return None
    probe = {**scope, "root_path": entry_root_path, "path_params": {}}
    return _template_under(routes, probe, "")


class AsgiMetricsMiddleware:
    """ASGI middleware recording `http_server_request_duration_seconds` and in-flight requests.

    Add it with ``app.add_middleware(AsgiMetricsMiddleware, registry=...)`` on Starlette or
    FastAPI, or wrap any ASGI app: ``AsgiMetricsMiddleware(app, route_resolver=...)``. A
    `route_resolver` receives the scope after the app handled it and returns the template, or
    None for unmatched requests; without one, Starlette's router is read.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        registry: CollectorRegistry = REGISTRY,
        metrics: HttpMetrics | None = None,
        route_resolver: AsgiRouteResolver | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics if metrics is not None else HttpMetrics.of(registry)
        self.route_resolver = route_resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        entry_root_path: str = scope.get("root_path", "")
        top_app = scope.get("app", self.app)
        status = "500"

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        gauge = self.metrics.in_flight_for(method)
        gauge.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            gauge.dec()
            if self.route_resolver is not None:
                route = self.route_resolver(scope)
            else:
                route = starlette_route(scope, entry_root_path=entry_root_path, top_app=top_app)
            self.metrics.observe(method, route or UNMATCHED_ROUTE, status, elapsed)


def flask_route(environ: WsgiEnviron) -> str | None:
    """The Flask URL rule (``/users/<int:user_id>``) of the request being answered, if any."""
    from flask import has_request_context, request

    if not has_request_context():
        return None
    rule = request.url_rule
    return None if rule is None else rule.rule


def _no_route(environ: WsgiEnviron) -> str | None:
    return None


def _default_wsgi_resolver() -> WsgiRouteResolver:
    """Flask's URL rule when Flask is installed; otherwise every request is unmatched."""
    try:
        import flask  # noqa: F401
    except ImportError:
        return _no_route
    return flask_route


class _TimedBody:
    """The response body, timed until it is drained or closed (streamed bodies count in full)."""

    def __init__(self, body: Iterable[bytes], finish: Callable[[], None]) -> None:
        self._body = body
        self._finish = finish

    def __iter__(self) -> Iterator[bytes]:
        yield from self._body
        self._finish()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


class WsgiMetricsMiddleware:
    """WSGI middleware recording the same families as `AsgiMetricsMiddleware`.

    For Flask, wrap the WSGI callable so the URL rule is still known when the response starts:
    ``app.wsgi_app = WsgiMetricsMiddleware(app.wsgi_app)``. Other frameworks pass a
    `route_resolver` reading the environ (called when the response starts); without one,
    requests are counted as ``<unmatched>``.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        registry: CollectorRegistry = REGISTRY,
        metrics: HttpMetrics | None = None,
        route_resolver: WsgiRouteResolver | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics if metrics is not None else HttpMetrics.of(registry)
        self.route_resolver = route_resolver or _default_wsgi_resolver()

    def __call__(self, environ: WsgiEnviron, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        status = "500"
        route: str | None = None
        gauge = self.metrics.in_flight_for(method)
        done = False

        def start_with_status(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            nonlocal status, route
            status = status_line.split(" ", 1)[0]
            route = self.route_resolver(environ)
            if exc_info is None:
                return start_response(status_line, headers)
            return start_response(status_line, headers, exc_info)

        def finish() -> None:
            nonlocal done
            if done:
                return
            done = True
            gauge.dec()
            elapsed = time.perf_counter() - started
            self.metrics.observe(method, route or UNMATCHED_ROUTE, status, elapsed)

        gauge.inc()
        started = time.perf_counter()
        try:
            body = self.app(environ, start_with_status)
        except BaseException:
            finish()
            raise
        return _TimedBody(body, finish)
