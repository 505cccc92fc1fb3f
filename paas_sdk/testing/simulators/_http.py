"""The HTTP machinery the Harbor, Jenkins and Spinnaker simulators share: routing, faults, paging.

Each simulator is a real HTTP server on a loopback port, run in a background thread, so a client
under test talks to it exactly as it would talk to the real service.
"""

from __future__ import annotations

import base64
import contextlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qs, quote, urlsplit

import orjson

from paas_sdk._http_server import BackgroundHTTPServer


@dataclass
class Faults:
    """Misbehaviour knobs, read on every request; a test flips them while the server runs.

    `path_prefix` limits the faults to requests whose path starts with it (None: every path).
    """

    latency: float = 0.0
    error_status: int | None = None
    hang: float = 0.0
    malformed_json: bool = False
    truncated: bool = False
    wrong_content_type: bool = False
    path_prefix: str | None = None

    def applies_to(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]


@dataclass
class Request:
    """One parsed request as a route handler sees it."""

    method: str
    path: str
    params: dict[str, str]
    headers: Mapping[str, str]
    match: re.Match[str] | None = None


@dataclass
class Response:
    """A route handler's answer; `body` is serialised as JSON unless it is bytes."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class HTTPError(Exception):
    """Raised by a route handler to answer with an error status and the service's error body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


Route = tuple[str, re.Pattern[str], Callable[[Request], Response]]


class SimulatorServer:
    """A threaded HTTP server with routes, optional basic auth and fault injection."""

    name = "simulator"

    def __init__(self, *, port: int = 0, credentials: tuple[str, str] | None = None) -> None:
        self.faults = Faults()
        self.credentials = credentials
        self.requests_served = 0
        self._count_lock = threading.Lock()
        self._routes: list[Route] = []
        self._http = BackgroundHTTPServer(
            lambda handler, _method: self.handle(handler), name=f"paas-sim-{self.name}", port=port
        )

    # -- routing --------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Callable[[Request], Response]) -> None:
        self._routes.append((method, re.compile(pattern + r"\Z"), handler))

    def unauthenticated(self, path: str) -> bool:
        """Paths the service answers without credentials."""
        return False

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message}

    def authenticated(self, request: Request) -> bool:
        """True when the request carries the credentials (or none are required)."""
        if self.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        return request.headers.get("Authorization") == expected

    def dispatch(self, request: Request) -> Response:
        if not self.unauthenticated(request.path) and not self.authenticated(request):
            return Response(self.error_body(401, "unauthorized"), status=401)
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                request.match = match
                try:
                    return handler(request)
                except HTTPError as error:
                    return Response(error.body, status=error.status)
        return Response(self.error_body(404, f"{request.path} not found"), status=404)

    # -- life -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> Self:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request ----------------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._count_lock:
            self.requests_served += 1
        split = urlsplit(handler.path)
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        request = Request("GET", split.path, params, handler.headers)  # type: ignore[arg-type]
        faults = self.faults
        faulty = faults.applies_to(split.path)
        if faulty and faults.latency:
            time.sleep(faults.latency)
        if faulty and faults.hang:
            time.sleep(faults.hang)
        if faulty and faults.error_status is not None:
            response = Response(
                self.error_body(faults.error_status, "simulated failure"),
                status=faults.error_status,
            )
        else:
            response = self.dispatch(request)
        body = response.body if isinstance(response.body, bytes) else orjson.dumps(response.body)
        content_type = response.content_type
        if faulty and faults.malformed_json and response.status == 200:
            body = body[: max(1, len(body) // 2)] + b"}]{"
        if faulty and faults.wrong_content_type:
            content_type = "text/html; charset=utf-8"
            body = b"<html><body>Please sign in</body></html>"
        with contextlib.suppress(OSError):
            handler.send_response(response.status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if faulty and faults.truncated:
                handler.wfile.write(body[: len(body) // 2])
                handler.wfile.flush()
                handler.close_connection = True
                return
            handler.wfile.write(body)


def page_of(
    items: list[Any], request: Request, *, default_size: int = 10, max_size: int = 100
) -> Response:
    """Harbor-style paging: `page` from 1, `page_size`, X-Total-Count and a Link header."""
    try:
        page = int(request.params.get("page", "1"))
        size = int(request.params.get("page_size", str(default_size)))
    except ValueError as error:
        raise HTTPError(400, {"errors": [{"code": "BAD_REQUEST", "message": str(error)}]}) from None
    if page < 1 or size < 1 or size > max_size:
        message = f"page must be >= 1 and page_size between 1 and {max_size}"
        raise HTTPError(400, {"errors": [{"code": "BAD_REQUEST", "message": message}]})
    start = (page - 1) * size
    chunk = items[start : start + size]
    links = []
    other = "&".join(
        f"{k}={quote(v)}" for k, v in request.params.items() if k not in ("page", "page_size")
    )
    base = f"{request.path}?" + (other + "&" if other else "")
    if page > 1:
        links.append(f'<{base}page={page - 1}&page_size={size}>; rel="prev"')
    if start + size < len(items):
        links.append(f'<{base}page={page + 1}&page_size={size}>; rel="next"')
    headers = {"X-Total-Count": str(len(items))}
    if links:
        headers["Link"] = ", ".join(links)
    return Response(chunk, headers=headers)
