"""`/metrics`, `/healthz` and `/readyz`: answered as ASGI, as WSGI, or on their own port.

`/metrics` speaks the Prometheus text format, or OpenMetrics when the scraper's Accept header asks
for it. `/healthz` answers 200 while the process can serve at all. `/readyz` runs the readiness
checks (name -> callable returning bool) and answers 200 when all pass, 503 otherwise, naming each
failed check; a check that raises or takes too long counts as failed, never as a server error.
Whoever can reach the port learns a check's state and an exception's type, never its message
(which may hold a connection string with a password): that goes to the service's log.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import orjson
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

from paas_sdk._http_server import HTTPServer, Limits, http_server
from paas_sdk.errors import PaasError
from paas_sdk.metrics._http import ASGIApp, Receive, Scope, Send, StartResponse, WSGIApp

if TYPE_CHECKING:
    from paas_sdk._web_config import WebConfig

__all__ = ["HealthEndpoints", "MetricsServer", "Response"]

_log = logging.getLogger("paas_sdk.metrics")

Response = tuple[int, list[tuple[str, str]], bytes]
_PATHS = ("/metrics", "/healthz", "/readyz")
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"
_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HealthEndpoints:
    """The three endpoints over one registry and one set of readiness checks.

    `multiprocess_dir` (default: the `PROMETHEUS_MULTIPROC_DIR` variable) makes `/metrics`
    aggregate every worker's files, as gunicorn workers need; `check_timeout` bounds how long
    `/readyz` waits for its checks.
    """

    def __init__(
        self,
        *,
        registry: CollectorRegistry = REGISTRY,
        readiness_checks: Mapping[str, Callable[[], bool]] | None = None,
        multiprocess_dir: str | None = None,
        check_timeout: float = 2.0,
    ) -> None:
        self.registry = registry
        self.readiness_checks = dict(readiness_checks or {})
        self.multiprocess_dir = multiprocess_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.check_timeout = check_timeout
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._running: dict[str, Future[Any]] = {}  # each check's latest run
        self._last_outcomes: dict[str, str] = {}

    def add_readiness_check(self, name: str, check: Callable[[], bool]) -> None:
        """Add (or replace) a readiness check, for parts started after the endpoints."""
        self.readiness_checks = {**self.readiness_checks, name: check}

    # -- the three answers, independent of the server that carries them --

    def metrics(self, accept: str = "") -> Response:
        """The exposition, in the format `accept` asks for."""
        encoder, content_type = choose_encoder(accept)
        registry = self.registry
        if self.multiprocess_dir:
            from prometheus_client.multiprocess import MultiProcessCollector

            from paas_sdk.metrics._multiprocess import sweep_dead_workers

            sweep_dead_workers(self.multiprocess_dir)  # a worker that died stops counting as live
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return 200, [("Content-Type", content_type)], encoder(registry)

    def liveness(self) -> Response:
        """200 while the process answers."""
        return 200, [("Content-Type", _TEXT)], b"ok\n"

    def readiness(self) -> Response:
        """200 with every check "ok", or 503 with each failing check's reason."""
        results = self.run_checks()
        ready = all(result == "ok" for result in results.values())
        body = orjson.dumps({"status": "ready" if ready else "not ready", "checks": results})
        return (200 if ready else 503), [("Content-Type", _JSON)], body + b"\n"

    def run_checks(self) -> dict[str, str]:
        """Each check's outcome: "ok", "failed", "timeout" or "error: <exception type>"."""
        if not self.readiness_checks:
            return {}
        executor = self._checks_executor()
        with self._executor_lock:
            # a check still running from an earlier probe is waited for, not run again: a hung
            # one would otherwise take another thread per probe, until the healthy checks queue
            # behind the hung copies and time out too
            futures = {
                name: running
                if (running := self._running.get(name)) is not None and not running.done()
                else executor.submit(check)
                for name, check in self.readiness_checks.items()
            }
            self._running = futures
        wait(futures.values(), timeout=self.check_timeout)
        results: dict[str, str] = {}
        for name, future in futures.items():
            if not future.done():
                results[name] = "timeout"
            elif (error := future.exception()) is not None:
                results[name] = f"error: {type(error).__name__}"
                self._log_change(name, f"{type(error).__name__}: {error}")
                continue
            else:
                results[name] = "ok" if future.result() else "failed"
            self._log_change(name, results[name])
        return results

    def _log_change(self, name: str, outcome: str) -> None:
        """Log a check's outcome when it differs from the last one (probes come every few s)."""
        if self._last_outcomes.get(name, "ok") != outcome:
            level = logging.INFO if outcome == "ok" else logging.WARNING
            _log.log(level, "readiness check %s: %s", name, outcome)
        self._last_outcomes[name] = outcome

    def _checks_executor(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=max(2, len(self.readiness_checks)),
                    thread_name_prefix="paas-metrics-readyz",
                )
            return self._executor

    def close(self) -> None:
        """Stop the readiness-check threads (a check still running is left to finish)."""
        with self._executor_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
                self._running = {}

    def answer(self, method: str, path: str, accept: str = "") -> Response | None:
        """The response for `path`, or None when it is not one of ours."""
        if path not in _PATHS:
            return None
        if method not in ("GET", "HEAD"):
            return 405, [("Content-Type", _TEXT), ("Allow", "GET, HEAD")], b"use GET\n"
        if path == "/metrics":
            try:
                return self.metrics(accept)
            except Exception as error:
                # a broken collector must not cost the scrape a traceback on the service's stderr;
                # the scraper records the failure as the target being down, the log says why
                _log.error("cannot collect metrics: %s: %s", type(error).__name__, error)
                message = f"cannot collect metrics: {type(error).__name__}\n"
                return 500, [("Content-Type", _TEXT)], message.encode()
        if path == "/healthz":
            return self.liveness()
        return self.readiness()

    # -- carriers --

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An ASGI app serving only the three paths (404 elsewhere)."""
        await self._asgi_or(None, scope, receive, send)

    def mount_asgi(self, app: ASGIApp) -> ASGIApp:
        """`app` with the three paths answered in front of it."""

        async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
            await self._asgi_or(app, scope, receive, send)

        return mounted

    async def _asgi_or(
        self, app: ASGIApp | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = None
        if scope["type"] == "http" and scope["path"] in _PATHS:
            accept = ""
            for key, value in scope.get("headers", ()):
                if key == b"accept":
                    accept = value.decode("latin-1")
            # off the event loop: a readiness check may take up to its timeout, and collecting
            # a multiprocess registry reads every worker's files; the app's requests go on.
            # anyio (httpx's own dependency) runs under asyncio and trio servers alike.
            response = await anyio.to_thread.run_sync(
                self.answer, scope["method"], scope["path"], accept
            )
        if response is None:
            if app is not None:
                await app(scope, receive, send)
                return
            if scope["type"] != "http":
                return
            response = 404, [("Content-Type", _TEXT)], b"not found\n"
        status, headers, body = response
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A WSGI app serving only the three paths (404 elsewhere)."""
        return self._wsgi_or(None, environ, start_response)

    def mount_wsgi(self, app: WSGIApp) -> WSGIApp:
        """`app` with the three paths answered in front of it."""

        def mounted(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            return self._wsgi_or(app, environ, start_response)

        return mounted

    def _wsgi_or(
        self, app: WSGIApp | None, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", "")) or "/"
        response = self.answer(method, path, str(environ.get("HTTP_ACCEPT", "")))
        if response is None:
            if app is not None:
                return app(environ, start_response)
            response = 404, [("Content-Type", _TEXT)], b"not found\n"
        status, headers, body = response
        start_response(f"{status} {_REASONS.get(status, '')}", headers)
        return [b"" if method == "HEAD" else body]


class MetricsServer:
    """The endpoints on their own port, in a thread named ``paas-metrics``.

    `port=0` picks a free port (read it back from `.port`). `web_config` adds TLS and basic auth
    (`paas_sdk.metrics.load_web_config`); `limits` bounds what clients may cost. Use it as a
    context manager or call `start()` and `close()`.
    """

    def __init__(
        self,
        endpoints: HealthEndpoints,
        *,
        host: str = "0.0.0.0",
        port: int = 9464,
        web_config: WebConfig | None = None,
        limits: Limits | None = None,
    ):
        self.endpoints = endpoints
        self.host = host
        self.requested_port = port
        self.web_config = web_config
        self.limits = limits or Limits()
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one chosen when 0 was asked for)."""
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        """Listen and serve in the background; raises `PaasError` if the port cannot be bound."""
        if self._server is not None:
            return self
        try:
            self._server = http_server(
                self.host,
                self.requested_port,
                self._serve,
                methods=("GET", "HEAD", "POST", "PUT", "DELETE"),
                limits=self.limits,
                web_config=self.web_config,
                thread_name="paas-metrics",
            )
        except OSError as error:
            raise PaasError(
                f"cannot serve the metrics endpoints: {error.strerror or error}",
                where=f"{self.host}:{self.requested_port}",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="paas-metrics",
            daemon=True,
        )
        self._thread.start()
        return self

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        path = request.path.split("?", 1)[0]
        response = self.endpoints.answer(method, path, request.headers.get("Accept", ""))
        if response is None:
            response = 404, [("Content-Type", _TEXT)], b"not found\n"
        status, headers, body = response
        request.send_response(status)
        for key, value in headers:
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(body)

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and wait (at most `timeout` seconds) for the thread to end."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout)
        self.endpoints.close()

    def forget(self) -> None:
        """In a forked child: close the inherited listening socket; the parent keeps serving."""
        if self._server is not None:
            self._server.socket.close()
        self._server = self._thread = None

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
