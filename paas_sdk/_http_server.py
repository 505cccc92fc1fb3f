"""The threaded HTTP/1.1 server behind the SDK's small HTTP surfaces (the exporter's endpoints,
the protocol doubles): keep-alive without Nagle delays, no access log, no traceback when a client
hangs up."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Dispatch = Callable[[BaseHTTPRequestHandler, str], None]


class QuietHTTPServer(ThreadingHTTPServer):
    """A client hanging up mid-request is normal (timeouts, shutdown): no traceback for it."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def http_server(
    host: str,
    port: int,
    dispatch: Dispatch,
    *,
    methods: Iterable[str] = ("GET",),
    server_version: str | None = None,
) -> QuietHTTPServer:
    """A bound server whose requests go to ``dispatch(handler, method)``; call `serve_forever`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; without this, Nagle's algorithm and
            # the client's delayed ACK add about 40 ms to every keep-alive request.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            return

    if server_version:
        Handler.server_version = server_version
    for method in methods:
        setattr(Handler, f"do_{method}", _method(dispatch, method))
    return QuietHTTPServer((host, port), Handler)


def _method(dispatch: Dispatch, method: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        dispatch(handler, method)

    return handle


class BackgroundHTTPServer:
    """`http_server` on loopback, served by a daemon thread; restartable on the same port."""

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        name: str,
        port: int = 0,
        methods: Iterable[str] = ("GET",),
        poll_interval: float = 0.5,
    ) -> None:
        self.name = name
        self._dispatch = dispatch
        self._methods = tuple(methods)
        self._port = port
        self._poll_interval = poll_interval
        self._server: QuietHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._server = http_server("127.0.0.1", self._port, self._dispatch, methods=self._methods)
        self._port = int(self._server.server_address[1])  # a restart keeps the port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": self._poll_interval},
            name=self.name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
