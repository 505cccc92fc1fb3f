"""One upstream cannot take the exporter down: an endless body is cut at `max_response_bytes` with
the exporter's memory bounded, a server dripping bytes is cut at the call's `timeout`, a poll of
many slow calls at `poll_timeout`, and credentials never sit in a target's URL."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from paas_exporter.config import parse_config
from paas_exporter.poller import Poller
from paas_exporter.upstream import Upstream

from paas_sdk.errors import ExporterConfigError, UpstreamError
from paas_sdk.testing.simulators import HarborSimulator
from tests.exporter.conftest import harbor_target, parse_samples, running_exporter

CHUNK = b'{"name":"' + b"x" * 1000 + b'"},'
TWO_GB = 2 * 1024**3
HARBOR = frozenset({("target", "harbor"), ("kind", "harbor")})


class MisbehavingUpstream:
    """A raw HTTP/1.1 server answering every request with 200 JSON whose body `write` produces;
    counts what it managed to send on each connection before the client went away."""

    def __init__(self, write: Callable[[socket.socket], None]) -> None:
        self._write = write
        self.sent_on: dict[int, int] = {}
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            self._write(connection)

    def chunk(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(b"%x\r\n%s\r\n" % (len(data), data))
        self.sent_on[id(connection)] = self.sent_on.get(id(connection), 0) + len(data)

    def __enter__(self) -> MisbehavingUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()


@contextlib.contextmanager
def two_gigabytes() -> Iterator[MisbehavingUpstream]:
    def write(connection: socket.socket) -> None:
        upstream.chunk(connection, b"[")
        block = CHUNK * 64
        while upstream.sent_on[id(connection)] < TWO_GB:
            upstream.chunk(connection, block)

    upstream = MisbehavingUpstream(write)
    with upstream:
        yield upstream


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_two_gigabyte_answer_is_cut_at_max_response_bytes_with_memory_bounded(
    tmp_path: Path,
) -> None:
    with two_gigabytes() as upstream, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        config = tmp_path / "exporter.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "listen": {"host": "127.0.0.1", "port": port},
                    "targets": [
                        {"name": "harbor", "kind": "harbor", "url": upstream.url, "timeout": 30}
                    ],
                }
            )
        )
        exporter = subprocess.Popen(
            [str(Path(sys.executable).parent / "paas-exporter"), "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            errors = None
            while time.monotonic() < deadline:
                time.sleep(0.2)
                with contextlib.suppress(httpx.HTTPError):
                    samples = parse_samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
                    errors = samples.get(("paas_exporter_upstream_errors_total", HARBOR))
                    if errors:
                        break
            peak = peak_rss_bytes(exporter.pid)
            landing = httpx.get(f"http://127.0.0.1:{port}/").text
        finally:
            exporter.terminate()
            output = exporter.communicate(timeout=10)[0].decode()
    assert errors, output
    assert "answer exceeds max_response_bytes (16777216 bytes)" in landing
    # each call stopped reading past 16 MiB (plus what the socket buffers held), none drained 2 GB
    assert max(upstream.sent_on.values()) < 32 * 1024**2
    assert peak < 256 * 1024**2, f"peak RSS {peak / 1024**2:.0f} MiB"


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"

        def answer() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2147483648\r\n\r\n["
                )
                time.sleep(1)

        threading.Thread(target=answer, daemon=True).start()
        target = {"name": "harbor", "kind": "harbor", "url": url, "max_response_bytes": 4096}
        poller = Poller(parse_config({"targets": [target]}, "test.yaml"))
        poller.start()
        try:
            assert poller.wait_for_polls(1, timeout=10)
        finally:
            poller.close()
    snapshot = poller.targets["harbor"].snapshot
    assert snapshot.error is not None
    assert "answer exceeds max_response_bytes (4096 bytes)" in snapshot.error
    assert "targets[harbor].max_response_bytes" in snapshot.error
    assert snapshot.poll_seconds < 0.9


def test_a_dripping_upstream_is_cut_at_the_call_timeout() -> None:
    def write(connection: socket.socket) -> None:
        upstream.chunk(connection, b"[")
        for _ in range(200):  # one byte every 0.2 s: each read is quick, the answer never ends
            time.sleep(0.2)
            upstream.chunk(connection, b" ")

    upstream = MisbehavingUpstream(write)
    with upstream:
        target = {"name": "harbor", "kind": "harbor", "url": upstream.url, "timeout": 1}
        poller = Poller(parse_config({"targets": [target]}, "test.yaml"))
        started = time.monotonic()
        poller.start()
        try:
            assert poller.wait_for_polls(1, timeout=20)
            elapsed = time.monotonic() - started
        finally:
            poller.close()
    snapshot = poller.targets["harbor"].snapshot
    assert snapshot.error is not None
    assert "no complete answer within timeout (1 s)" in snapshot.error
    assert 0.9 < elapsed < 2.5, elapsed


def test_a_poll_of_many_slow_calls_is_cut_at_the_poll_timeout(harbor: HarborSimulator) -> None:
    harbor.faults.latency = 0.3  # every call well within its timeout, the poll not
    target = harbor_target(harbor, timeout=2, poll_timeout=1, interval=60, concurrency=1)
    with running_exporter([target]) as exporter:
        snapshot = exporter.poller.targets["harbor"].snapshot
    assert snapshot.error == "poll did not finish in time"
    assert 0.9 < snapshot.poll_seconds < 1.6


@pytest.mark.parametrize(
    "url",
    ["https://admin:Harbor12345@harbor.internal", "http://token@jenkins.internal:8080/jenkins"],
)
def test_credentials_in_a_target_url_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ExporterConfigError) as caught:
        parse_config({"targets": [{"name": "t", "kind": "harbor", "url": url}]}, "exporter.yaml")
    message = str(caught.value)
    assert "targets[0].url: credentials in the URL are refused" in message
    assert "auth.password_file" in message
    assert "Harbor12345" not in message
    assert "token@" not in message


@pytest.mark.parametrize("secret", ["s3cret\ninjected", "s3cret\r", "s3\x7fcret"])
@pytest.mark.parametrize("source", ["env", "file"])
def test_a_secret_with_a_control_character_is_refused_naming_its_source_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str, source: str
) -> None:
    if source == "env":
        monkeypatch.setenv("PAAS_TEST_TOKEN", secret)
        auth = {"token_env": "PAAS_TEST_TOKEN"}
        named = "environment variable PAAS_TEST_TOKEN"
    else:
        # a file's surrounding whitespace is stripped, so the control character is inside
        (tmp_path / "token").write_text(f"x{secret}x\n")
        auth = {"token_file": str(tmp_path / "token")}
        named = f"file {tmp_path / 'token'}"
    with pytest.raises(ExporterConfigError) as caught:
        parse_config(
            {"targets": [{"name": "t", "kind": "spinnaker", "url": "http://gate", "auth": auth}]},
            "exporter.yaml",
        )
    message = str(caught.value)
    assert f"targets[0].auth.token_{source}: {named} holds a control character" in message
    assert "s3" not in message


def test_an_illegal_header_is_reported_without_the_header_value() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        # what httpx (h11) raises for a header value with a newline, value included
        raise httpx.LocalProtocolError("Illegal header value b'Bearer s3cret\\nx'")

    config = parse_config(
        {"targets": [{"name": "t", "kind": "spinnaker", "url": "http://gate"}]}, "exporter.yaml"
    )
    upstream = Upstream(config.targets[0], transport=httpx.MockTransport(refuse))

    async def call() -> None:
        try:
            await upstream.get("/applications")
        finally:
            await upstream.close()

    with pytest.raises(UpstreamError) as caught:
        asyncio.run(call())
    assert "s3cret" not in str(caught.value)
    assert "Illegal header value" not in str(caught.value)
    assert caught.value.reason == "auth"


def test_a_secret_file_that_is_not_text_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"\xff\xfes3cret")
    auth = {"token_file": str(tmp_path / "token")}
    with pytest.raises(
        ExporterConfigError, match=r"token_file: .*token is not UTF-8 text \(byte 0\)"
    ):
        parse_config(
            {"targets": [{"name": "t", "kind": "spinnaker", "url": "http://gate", "auth": auth}]},
            "exporter.yaml",
        )
