"""The HTTP/1.1 server behind every small HTTP surface of the project (the exporter, the SDK's
metrics and health endpoints, the protocol doubles): bounded in connections, threads, time and
header size, strict about request framing, and optionally TLS with basic auth.

One selector thread owns every connection that is not being answered: it accepts, completes TLS
handshakes and reads request heads without blocking, and closes what stays idle or drips its
head too slowly. Only a complete head reaches one of a few worker threads, so idle keep-alive
connections and slowloris clients cost a socket each, never a thread, and a scrape still finds
a free worker behind thousands of them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paas_sdk._web_config import WebConfig

Dispatch = Callable[[BaseHTTPRequestHandler, str], None]

log = logging.getLogger("paas_sdk.http")

# RFC 9110 §5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server.

    `max_connections` open connections at most (the next is answered 503 and closed at once);
    `workers` threads answer requests; a request head must arrive whole within `header_timeout`
    seconds of its first byte (or of the connection's start), a keep-alive connection may wait
    `idle_timeout` seconds for its next request, and each read of a body or write of a response
    may take `io_timeout` seconds. Heads over `max_head_bytes` get 431, bodies over
    `max_body_bytes` 413; `backlog` is the listen queue.
    """

    max_connections: int = 4096
    workers: int = 16
    header_timeout: float = 10.0
    # longer than any usual scrape interval, so Prometheus keeps reusing its connection
    idle_timeout: float = 120.0
    io_timeout: float = 10.0
    max_head_bytes: int = 64 * 1024
    max_body_bytes: int = 16 * 1024 * 1024
    backlog: int = 1024


class _Reader:
    """The request stream of one connection: bytes already read by the selector, then the socket.

    Buffers itself, so whatever a pipelining client sent after the current request stays here
    for the next one instead of vanishing into a `BufferedReader`.
    """

    def __init__(self, sock: socket.socket, buffered: bytes) -> None:
        self._sock = sock
        self.buffer = bytearray(buffered)

    def _fill(self) -> bool:
        chunk = self._sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0 or (0 <= limit <= len(self.buffer)) or not self._fill():
                break
        size = len(self.buffer) if end < 0 else end + 1
        if limit >= 0:
            size = min(size, limit)
        line = bytes(self.buffer[:size])
        del self.buffer[:size]
        return line

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self.buffer) < size) and self._fill():
            pass
        size = len(self.buffer) if size < 0 else min(size, len(self.buffer))
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


class _Body:
    """A `Content-Length` body: reads stop at its end, never in the next request."""

    def __init__(self, reader: _Reader, length: int) -> None:
        self._reader = reader
        self.left = length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self._reader.read(size)
        self.left -= len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        limit = self.left if limit < 0 else min(limit, self.left)
        line = self._reader.readline(limit)
        self.left -= len(line)
        return line


class _Writer:
    """Collects a response's head and body into one send (a large body goes out as it comes)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> int:
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= 65536:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._size = 0
            self._sock.sendall(data)


class RequestHandler(BaseHTTPRequestHandler):
    """One connection's requests, driven one at a time by `HTTPServer` (not by `handle()`)."""

    protocol_version = "HTTP/1.1"
    server_version = "paas-sdk"
    sys_version = ""  # the Python version is nobody's business
    limits = Limits()
    web_config: WebConfig | None = None

    def __init__(self, sock: socket.socket, client_address: Any, server: Any) -> None:
        self.request = self.connection = sock
        self.client_address = client_address
        self.server = server
        self.wfile = _Writer(sock)  # type: ignore[assignment]
        self.body: _Body | None = None

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        return  # scrapes and probes every few seconds would drown the service's own logs

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        problem = self._framing_problem()
        if problem is not None:
            self.send_error(*problem)
            return False
        length = int(self.headers.get("Content-Length", "0"))
        self.body = _Body(self.rfile, length)  # type: ignore[arg-type]
        self.rfile = self.body  # type: ignore[assignment]
        if self.web_config is not None and not self.web_config.authorized(
            self.headers.get("Authorization")
        ):
            body = b"Unauthorized\n"
            self.send_response(401)
            self.send_header("WWW-Authenticate", "Basic")
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return False
        return True

    def _framing_problem(self) -> tuple[int, str] | None:  # noqa: PLR0911 - one per rule
        """Why this request's framing cannot be trusted (RFC 9112 §3.2, §5.1, §6.3), or None."""
        headers = self.headers
        if headers.defects or headers.get_payload():
            return 400, "Malformed header section"
        for name in headers:
            if not _TOKEN.fullmatch(name):
                return 400, "Malformed header field name"
        if self.request_version == "HTTP/1.1" and len(headers.get_all("Host") or []) != 1:
            return 400, "Exactly one Host header is required"
        lengths = headers.get_all("Content-Length") or []
        if headers.get_all("Transfer-Encoding"):
            if lengths:
                return 400, "Both Transfer-Encoding and Content-Length"
            return 411, "Transfer-Encoding is not accepted; send Content-Length"
        if len(lengths) > 1:
            return 400, "More than one Content-Length"
        if lengths:
            if not _DIGITS.fullmatch(lengths[0]):
                return 400, "Invalid Content-Length"
            if int(lengths[0]) > self.limits.max_body_bytes:
                return 413, "Request body too large"
        return None

    def answer_one(self, reader: _Reader) -> bool:
        """Answer the request at the head of `reader`; True if the connection may be reused."""
        self.rfile = reader  # type: ignore[assignment]
        self.body = None
        self.close_connection = True
        self.handle_one_request()
        self.wfile.flush()  # also what an early refusal (400, 401, ...) wrote
        # A body left unread (a GET with one, a handler that did not want it) would be taken
        # for the next request: close instead of guessing where it ends.
        return not self.close_connection and (self.body is None or self.body.left == 0)


def _head_end(buffer: bytearray) -> int:
    """Where the first request head in `buffer` ends (after its empty line), or -1."""
    ends = [at + len(end) for end in (b"\n\r\n", b"\n\n") if (at := buffer.find(end)) >= 0]
    return min(ends, default=-1)


class _Connection:
    __slots__ = ("address", "buffer", "deadline", "handler", "handshaking", "sock")

    def __init__(self, sock: socket.socket, address: Any, deadline: float) -> None:
        self.sock = sock
        self.address = address
        self.buffer = bytearray()
        self.deadline = deadline
        self.handshaking = isinstance(sock, ssl.SSLSocket)
        self.handler: RequestHandler | None = None


def _plain_response(status: str, body: str) -> bytes:
    """A complete response sent by the selector thread itself, before closing."""
    return (
        f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body) + 1}\r\n\r\n{body}\n"
    ).encode()


_REFUSED = _plain_response("503 Service Unavailable", "too many connections")
_LINE_TOO_LONG = _plain_response("414 URI Too Long", "request line is too long")
_HEAD_TOO_LARGE = _plain_response(
    "431 Request Header Fields Too Large", "request head is too large"
)


class HTTPServer:
    """Listens on `address` and answers with `handler_class`; `serve_forever()` runs the selector.

    `shutdown()` (from another thread) stops `serve_forever()`, `server_close()` frees the port.
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler_class: type[RequestHandler],
        *,
        limits: Limits = Limits(),
        web_config: WebConfig | None = None,
        thread_name: str = "paas-http",
    ) -> None:
        self.handler_class = handler_class
        self.limits = limits
        self.web_config = web_config
        self.thread_name = thread_name
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(limits.backlog)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.server_port = self.server_address[1]  # as socketserver names them
        self._selector = selectors.DefaultSelector()
        # Workers hand connections back through a queue and wake the selector with a byte.
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._connections: dict[socket.socket, _Connection] = {}
        self._returned: queue.SimpleQueue[tuple[_Connection, bool]] = queue.SimpleQueue()
        self._ready: queue.SimpleQueue[_Connection | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._idle_workers = 0
        self._next_expiry = 0.0
        self._refused = 0
        self._next_refusal_log = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    # -- life -----------------------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.5) -> None:
        if self._stop.is_set():  # shut down before it ever ran
            return
        self._stopped.clear()
        self._selector.register(self.socket, selectors.EVENT_READ, None)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        try:
            while not self._stop.is_set():
                timeout = min(poll_interval, self.limits.header_timeout, self.limits.idle_timeout)
                for key, _ in self._selector.select(timeout):
                    if key.fileobj is self.socket:
                        self._accept()
                    elif key.fileobj is self._wake_read:
                        self._take_back()
                    else:
                        self._advance(key.data)
                self._expire()
        finally:
            self._selector.unregister(self.socket)
            self._selector.unregister(self._wake_read)
            for connection in list(self._connections.values()):
                self._close(connection)
            self._stopped.set()

    def shutdown(self) -> None:
        self._stop.set()
        self._wake()
        self._stopped.wait()
        for _ in self._workers:
            self._ready.put(None)

    def server_close(self) -> None:
        self.socket.close()
        self._selector.close()
        self._wake_read.close()
        self._wake_write.close()

    # -- the selector thread ---------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of descriptors: the queue waits, we keep serving
                log.warning("cannot accept on %s: %s", self.server_address, error)
                return
            if len(self._connections) >= self.limits.max_connections:
                with contextlib.suppress(OSError):
                    sock.setblocking(False)
                    sock.send(_REFUSED)
                sock.close()
                self._refused += 1
                now = time.monotonic()
                if now >= self._next_refusal_log:  # once a minute at most, under a flood too
                    self._next_refusal_log = now + 60
                    log.warning(
                        "%s: %d connections open, the limit; %d refused since the last warning",
                        self.thread_name,
                        len(self._connections),
                        self._refused,
                    )
                    self._refused = 0
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            context = self.web_config.ssl_context() if self.web_config is not None else None
            if context is not None:
                sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            connection = _Connection(sock, address, time.monotonic() + self.limits.header_timeout)
            self._connections[sock] = connection
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _advance(self, connection: _Connection) -> None:
        """Move a connection on as far as its bytes allow: handshake, head, then a worker."""
        sock = connection.sock
        try:
            if connection.handshaking:
                assert isinstance(sock, ssl.SSLSocket)
                try:
                    sock.do_handshake()
                except ssl.SSLWantReadError:
                    self._selector.modify(sock, selectors.EVENT_READ, connection)
                    return
                except ssl.SSLWantWriteError:
                    self._selector.modify(sock, selectors.EVENT_WRITE, connection)
                    return
                connection.handshaking = False
                self._selector.modify(sock, selectors.EVENT_READ, connection)
            was_idle = not connection.buffer
            while True:
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                if not chunk:
                    self._close(connection)
                    return
                connection.buffer += chunk
                if len(connection.buffer) > self.limits.max_head_bytes:
                    break
        except OSError as error:  # resets, TLS failures (no certificate, wrong CA): just close
            log.debug("connection from %s failed: %s", connection.address, error)
            self._close(connection)
            return
        # Empty lines before a request line are ignored (RFC 9112 §2.2).
        while connection.buffer and connection.buffer[0] in b"\r\n":
            del connection.buffer[:1]
        if was_idle and connection.buffer:
            connection.deadline = time.monotonic() + self.limits.header_timeout
        limit = self.limits.max_head_bytes
        # a whole head may arrive in one read: its end, not the bytes read, is held to the limit
        end = _head_end(connection.buffer)
        if 0 <= end <= limit:
            self._selector.unregister(sock)
            self._dispatch(connection)
        elif end >= 0 or len(connection.buffer) > limit:
            line_end = connection.buffer.find(b"\n")
            too_long = _LINE_TOO_LONG if not 0 <= line_end < limit else _HEAD_TOO_LARGE
            with contextlib.suppress(OSError):
                sock.send(too_long)
            self._close(connection)

    def _expire(self) -> None:
        now = time.monotonic()
        if now < self._next_expiry:  # a scan per wake-up would cost O(connections) per request
            return
        self._next_expiry = now + 0.1
        for connection in list(self._connections.values()):
            if connection.deadline < now:
                self._close(connection)

    def _close(self, connection: _Connection) -> None:
        self._connections.pop(connection.sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(connection.sock)
        with contextlib.suppress(OSError):
            connection.sock.close()

    def _take_back(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_read.recv(4096)
        while True:
            try:
                connection, reuse = self._returned.get_nowait()
            except queue.Empty:
                return
            if not reuse or self._stop.is_set():
                self._close(connection)
                continue
            connection.sock.setblocking(False)
            connection.deadline = time.monotonic() + (
                self.limits.header_timeout if connection.buffer else self.limits.idle_timeout
            )
            self._selector.register(connection.sock, selectors.EVENT_READ, connection)
            self._advance(connection)  # pipelined bytes, or TLS data already decrypted

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    # -- workers ---------------------------------------------------------------------------------
    def _dispatch(self, connection: _Connection) -> None:
        connection.deadline = float("inf")  # the worker's socket timeouts bound it now
        with self._lock:
            if self._idle_workers == 0 and len(self._workers) < self.limits.workers:
                worker = threading.Thread(
                    target=self._work, name=f"{self.thread_name}-request", daemon=True
                )
                self._workers.append(worker)
                self._idle_workers += 1
                worker.start()
        self._ready.put(connection)

    def _work(self) -> None:
        while True:
            connection = self._ready.get()
            if connection is None:
                return
            with self._lock:
                self._idle_workers -= 1
            reuse = False
            try:
                reuse = self._answer(connection)
            finally:
                with self._lock:
                    self._idle_workers += 1
                self._returned.put((connection, reuse))
                self._wake()

    def _answer(self, connection: _Connection) -> bool:
        sock = connection.sock
        try:
            sock.settimeout(self.limits.io_timeout)
            if connection.handler is None:
                connection.handler = self.handler_class(sock, connection.address, self)
            reader = _Reader(sock, bytes(connection.buffer))
            reuse = connection.handler.answer_one(reader)
            connection.buffer = reader.buffer
            return reuse
        except (OSError, TimeoutError):
            return False  # the client hung up or stalled: nothing to answer
        except Exception:
            log.exception("error answering %s", connection.address)
            return False


def describe_listening(host: str, port: int, web_config: WebConfig | None) -> str:
    """For a startup line: where a server listens and what a client must bring."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if host in ("", "0.0.0.0", "::"):
        where += " (all interfaces)"
    return f"{where}, {web_config.describe() if web_config else 'plain HTTP, no auth'}"


def http_server(
    host: str,
    port: int,
    dispatch: Dispatch,
    *,
    methods: Iterable[str] = ("GET",),
    server_version: str | None = None,
    limits: Limits = Limits(),
    web_config: WebConfig | None = None,
    thread_name: str = "paas-http",
) -> HTTPServer:
    """A bound server whose requests go to ``dispatch(handler, method)``; call `serve_forever`."""
    attributes: dict[str, Any] = {"limits": limits, "web_config": web_config}
    if server_version:
        attributes["server_version"] = server_version
    for method in methods:
        attributes[f"do_{method}"] = _method(dispatch, method)
    handler = type("Handler", (RequestHandler,), attributes)
    return HTTPServer(
        (host, port), handler, limits=limits, web_config=web_config, thread_name=thread_name
    )


def _method(dispatch: Dispatch, method: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        dispatch(handler, method)

    return handle


class BackgroundHTTPServer:
    """`http_server` on loopback, served by a daemon thread; restartable on the same port.

    The protocol doubles hold long polls and hang on purpose, so they get more workers.
    """

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        name: str,
        port: int = 0,
        methods: Iterable[str] = ("GET",),
        poll_interval: float = 0.5,
        limits: Limits = Limits(workers=64),
    ) -> None:
        self.name = name
        self._dispatch = dispatch
        self._methods = tuple(methods)
        self._port = port
        self._poll_interval = poll_interval
        self._limits = limits
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._server = http_server(
            "127.0.0.1",
            self._port,
            self._dispatch,
            methods=self._methods,
            limits=self._limits,
            thread_name=self.name,
        )
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
