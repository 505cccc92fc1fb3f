"""The shared HTTP server under hostile clients: thousands of idle connections, slowloris heads,
a connection cap, idle keep-alive, and requests whose framing could desynchronise a keep-alive
connection (RFC 9112 §6.3)."""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from paas_sdk._http_server import Limits, http_server
from paas_sdk.metrics import HealthEndpoints, MetricsServer


@contextlib.contextmanager
def serving(limits: Limits | None = None) -> Iterator[MetricsServer]:
    registry = CollectorRegistry()
    Counter("orders_placed", "Orders placed.", registry=registry).inc()
    server = MetricsServer(
        HealthEndpoints(registry=registry), host="127.0.0.1", port=0, limits=limits
    )
    with server:
        yield server


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def exchange(port: int, raw: bytes, *, responses: int = 10) -> tuple[list[tuple[int, bytes]], bool]:
    """Send `raw` on a new connection; the responses read back, and whether the server closed."""
    with connect(port) as sock:
        sock.sendall(raw)
        sock.settimeout(1.5)
        data = b""
        closed = False
        while len(parse_responses(data)) < responses:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    return parse_responses(data), closed


def parse_responses(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each complete response in `data`."""
    found = []
    while b"\r\n\r\n" in data:
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if len(rest) < length:
            break
        found.append((status, rest[:length]))
        data = rest[length:]
    return found


def scrape_seconds(port: int) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200
    assert b"orders_placed_total 1.0" in body
    return time.perf_counter() - started


def server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("paas-metrics")]


def test_two_thousand_idle_connections_cost_no_thread_and_metrics_still_answers() -> None:
    with serving() as server:
        idle: list[socket.socket] = []
        try:
            for number in range(2000):
                sock = connect(server.port)
                if number % 2:  # half answered once and kept alive, half never sent a byte
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: pod\r\n\r\n")
                    assert sock.recv(4096).endswith(b"ok\n")
                idle.append(sock)
            seconds = [scrape_seconds(server.port) for _ in range(7)]
            threads = server_threads()
            # the idle ones are all still open: each answers a request
            for sock in idle[::100]:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: pod\r\n\r\n")
                assert sock.recv(4096).endswith(b"ok\n")
        finally:
            for sock in idle:
                sock.close()
    assert statistics.median(seconds) < 0.050, seconds
    assert max(seconds) < 0.5, seconds
    # the selector thread plus the workers, however many connections are open
    assert len(threads) <= 1 + Limits().workers, threads


def test_slowloris_heads_are_cut_at_the_header_deadline_while_metrics_answers() -> None:
    limits = Limits(header_timeout=1.0)
    with serving(limits) as server:
        slow = [connect(server.port) for _ in range(500)]
        try:
            for sock in slow:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: pod\r\n")
            started = time.monotonic()
            answered = []
            dripping = set(slow)
            while time.monotonic() - started < 2.5:
                for sock in list(dripping):
                    try:
                        sock.sendall(b"X-Drip: 1\r\n")
                    except OSError:
                        dripping.discard(sock)  # the server closed it
                answered.append(scrape_seconds(server.port))
                time.sleep(0.3)
            still_open = 0
            for sock in slow:
                sock.settimeout(2)
                try:
                    if sock.recv(4096):
                        still_open += 1
                except ConnectionResetError:
                    pass
                except TimeoutError:
                    still_open += 1
        finally:
            for sock in slow:
                sock.close()
    assert still_open == 0
    assert max(answered) < 0.5, answered


def test_connections_over_the_cap_are_refused_at_once_and_served_again_below_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="paas_sdk.http")
    with serving(Limits(max_connections=20)) as server:
        held = [connect(server.port) for _ in range(20)]
        time.sleep(0.2)  # accepted by the selector
        started = time.monotonic()
        responses, closed = exchange(server.port, b"GET /metrics HTTP/1.1\r\nHost: pod\r\n\r\n")
        refused_in = time.monotonic() - started
        assert responses == [(503, b"too many connections\n")]
        assert closed
        assert refused_in < 1.0
        for sock in held[:5]:
            sock.close()
        time.sleep(0.2)
        assert scrape_seconds(server.port) < 0.5
        for sock in held[5:]:
            sock.close()
    assert caplog.messages == [
        "paas-metrics: 20 connections open, the limit; 1 refused since the last warning"
    ]


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    with serving(Limits(idle_timeout=0.5)) as server, connect(server.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: pod\r\n\r\n")
        assert sock.recv(4096).endswith(b"ok\n")
        started = time.monotonic()
        sock.settimeout(5)
        assert sock.recv(4096) == b""
        assert 0.4 < time.monotonic() - started < 2.5


SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: pod\r\n\r\n"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: pod\r\nContent-Length: 5\r\nContent-Length: 37\r\n\r\n"
            + SMUGGLED,
            400,
            id="duplicate-content-length",
        ),
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: pod\r\nContent-Length: 5, 5\r\n\r\n12345" + SMUGGLED,
            400,
            id="content-length-list",
        ),
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: pod\r\nContent-Length: +5\r\n\r\n12345" + SMUGGLED,
            400,
            id="signed-content-length",
        ),
        pytest.param(
            b"POST /metrics HTTP/1.1\r\nHost: pod\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
            400,
            id="content-length-and-transfer-encoding",
        ),
        pytest.param(
            b"POST /metrics HTTP/1.1\r\nHost: pod\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            + SMUGGLED,
            411,
            id="transfer-encoding",
        ),
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: pod\r\nContent-Length : 37\r\n\r\n" + SMUGGLED,
            400,
            id="space-before-colon",
        ),
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: pod\r\nno colon here\r\nContent-Length: 37\r\n\r\n"
            + SMUGGLED,
            400,
            id="line-without-colon",
        ),
        pytest.param(b"GET /metrics HTTP/1.1\r\n\r\n" + SMUGGLED, 400, id="no-host"),
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + SMUGGLED, 400, id="two-hosts"
        ),
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: pod\r\nContent-Length: 99999999999\r\n\r\n",
            413,
            id="body-too-large",
        ),
    ],
)
def test_ambiguous_framing_is_refused_and_the_connection_closed(raw: bytes, status: int) -> None:
    with serving() as server:
        responses, closed = exchange(server.port, raw)
    assert [code for code, _ in responses] == [status]
    assert closed


def test_a_get_with_a_body_is_answered_once_and_its_body_never_read_as_a_request() -> None:
    body = SMUGGLED
    raw = b"GET /metrics HTTP/1.1\r\nHost: pod\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with serving() as server:
        responses, closed = exchange(server.port, raw)
    assert len(responses) == 1
    assert responses[0][0] == 200
    assert b"orders_placed_total" in responses[0][1]
    assert closed


def test_pipelined_requests_are_answered_in_order_on_one_connection() -> None:
    raw = b"GET /healthz HTTP/1.1\r\nHost: pod\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: pod\r\n\r\n"
    with serving() as server:
        responses, closed = exchange(server.port, raw, responses=2)
    assert [status for status, _ in responses] == [200, 404]
    assert not closed


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: pod\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: pod\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    ],
    ids=["request-line", "header-section"],
)
def test_oversized_heads_are_refused(raw: bytes, status: int) -> None:
    with serving() as server:
        responses, closed = exchange(server.port, raw)
    assert [code for code, _ in responses] == [status]
    assert closed


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: pod\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: pod\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n", 431),
    ],
    ids=["request-line", "header-section"],
)
def test_an_oversized_head_arriving_whole_is_refused(raw: bytes, status: int) -> None:
    with serving(Limits(max_head_bytes=1024)) as server:
        responses, closed = exchange(server.port, raw)
    assert [code for code, _ in responses] == [status]
    assert closed


def test_a_body_beyond_the_head_limit_is_no_oversized_head() -> None:
    body = b"x" * 2000
    raw = b"POST /healthz HTTP/1.1\r\nHost: pod\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    with serving(Limits(max_head_bytes=1024)) as server:
        responses, _ = exchange(server.port, raw, responses=1)
    assert [code for code, _ in responses] == [405]  # answered as the request it is


def test_the_server_header_names_no_python_version() -> None:
    with serving() as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        connection.close()
    assert response.getheader("Server") == "paas-sdk"


def test_the_listen_backlog_holds_a_burst_while_the_server_is_busy() -> None:
    """Connections the kernel completes before the selector accepts them: the listen backlog
    (5 would leave the rest of a burst retrying their SYN for a second or more)."""
    server = http_server("127.0.0.1", 0, lambda handler, method: None)  # bound, not serving yet
    burst: list[socket.socket] = []
    try:
        for _ in range(300):
            burst.append(socket.create_connection(server.server_address, timeout=0.5))
    finally:
        for sock in burst:
            sock.close()
        server.server_close()
    assert len(burst) == 300
