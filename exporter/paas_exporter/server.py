"""The exporter's HTTP side: `/` landing page, `/metrics`, `/probe?target=` (when enabled).

A scrape only picks the pre-rendered bytes of the current exposition, so its cost does not grow
with the number of jobs or projects.
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from paas_exporter import __version__
from paas_exporter.exposition import Exposition
from paas_exporter.poller import Poller
from paas_sdk._http_server import Limits, http_server
from paas_sdk._web_config import WebConfig


class MetricsServer:
    """Serves a `Poller`'s expositions on `host:port` from a thread named `paas-exporter-http`."""

    def __init__(
        self,
        poller: Poller,
        host: str = "0.0.0.0",
        port: int = 9877,
        *,
        web_config: WebConfig | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.poller = poller
        self._http = http_server(
            host,
            port,
            lambda request, _method: self.handle(request),
            server_version=f"paas-exporter/{__version__}",
            web_config=web_config,
            limits=limits or Limits(),
            thread_name="paas-exporter-http",
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="paas-exporter-http", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        if split.path == "/metrics":
            self._send_exposition(request, self.poller.exposition)
        elif split.path == "/probe" and self.poller.config.probe:
            names = parse_qs(split.query).get("target", [])
            state = self.poller.targets.get(names[0]) if names else None
            if state is None:
                known = ", ".join(self.poller.targets)
                self._send(request, 400, f"target must be one of: {known}\n".encode(), "text/plain")
            elif state.probe_exposition is None:
                self._send(request, 503, b"target not polled yet\n", "text/plain")
            else:
                self._send_exposition(request, state.probe_exposition)
        elif split.path == "/healthz":
            self._send(request, 200, b"ok\n", "text/plain")
        elif split.path == "/readyz":
            # Ready once every target has been polled, up or not: /metrics then tells the truth.
            pending = [name for name, state in self.poller.targets.items() if state.polls == 0]
            if pending:
                body = f"waiting for the first poll of: {', '.join(pending)}\n".encode()
                self._send(request, 503, body, "text/plain")
            else:
                self._send(request, 200, b"ok\n", "text/plain")
        elif split.path == "/":
            self._send(request, 200, self._landing().encode(), "text/html; charset=utf-8")
        else:
            self._send(request, 404, b"not found\n", "text/plain")

    def _send_exposition(self, request: BaseHTTPRequestHandler, exposition: Exposition) -> None:
        body, content_type, gzipped = exposition.select(
            request.headers.get("Accept", ""), request.headers.get("Accept-Encoding", "")
        )
        self._send(request, 200, body, content_type, gzipped=gzipped)

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        *,
        gzipped: bool = False,
    ) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(body)))
            if gzipped:
                request.send_header("Content-Encoding", "gzip")
            request.end_headers()
            request.wfile.write(body)
        except OSError:
            request.close_connection = True  # the scraper went away; nothing to do

    def _landing(self) -> str:
        rows = []
        for name, state in self.poller.targets.items():
            snapshot = state.snapshot
            status = "up" if snapshot.up else ("down: " + (snapshot.error or "not polled yet"))
            probe = (
                f' <a href="/probe?target={html.escape(name)}">probe</a>'
                if self.poller.config.probe
                else ""
            )
            rows.append(
                f"<li>{html.escape(state.target.kind)} <b>{html.escape(name)}</b> "
                f"({html.escape(_host(state.target))}): "
                f"{html.escape(status)}{probe}</li>"
            )
        return (
            "<!doctype html><html><head><title>paas-exporter</title></head><body>"
            f"<h1>paas-exporter {__version__}</h1>"
            "<p>Harbor, Jenkins and Spinnaker state, polled in the background; "
            '<a href="/metrics">/metrics</a> serves the last poll.</p>'
            f"<ul>{''.join(rows)}</ul></body></html>"
        )


def _host(target: object) -> str:
    """Where a target lives, without its path (a delivery view lives nowhere of its own)."""
    url = getattr(target, "url", None)
    return urlsplit(url).netloc if url else "linking the others"
