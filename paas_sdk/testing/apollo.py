"""An Apollo config service and meta server over real HTTP, for tests and local development.

Answers as `reference/apollo.md` documents: `/configs` with releaseKey 304s and optional
incremental sync, `/configfiles/json`, the `/notifications/v2` long poll (held, then 304),
`/services/config` on the meta side, cluster -> data centre -> default fallback, non-properties
namespaces as `{"content": ...}`, and a strict access-key check (HMAC-SHA1, Base64, exact raw
path and query, clock tolerance). Changes are made with `publish()`.

    with ApolloDouble(hold_seconds=1.0) as apollo:
        apollo.publish("my-app", "application", {"db.url": "postgres://..."})
        ...  # point a client at apollo.url (config service) or apollo.meta_url

Run as a local dev server: `python -m paas_sdk.testing.apollo --port 8080 --config initial.yaml`,
where the YAML maps app id -> namespace -> {key: value} (or a string for non-properties content).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["ApolloDouble", "RequestRecord", "main"]

DEFAULT_CLUSTER = "default"
_FORMATS = ("properties", "xml", "json", "yml", "yaml", "txt")


def _normalise(namespace: str) -> str:
    """The server strips `.properties`; other suffixes stay part of the name."""
    if namespace.lower().endswith(".properties"):
        return namespace[: -len(".properties")]
    return namespace


@dataclass(frozen=True)
class _Release:
    key: str
    configurations: Mapping[str, str]


@dataclass
class _Namespace:
    name: str  # as published (case preserved; lookups ignore case)
    release: _Release
    history: dict[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestRecord:
    """One request the double received: what a test inspects afterwards."""

    method: str
    path: str
    status: int
    signed: bool


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    double: ApolloDouble

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection cut by `stop()` or by the client is expected here, not worth a trace."""


class ApolloDouble:
    """A config service and meta server in one threaded HTTP server on loopback."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hold_seconds: float = 60.0,
        secrets: Mapping[str, str] | None = None,
        clock_tolerance_seconds: float = 60.0,
        incremental_sync: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.hold_seconds = hold_seconds
        self.secrets: dict[str, str] = dict(secrets or {})
        self.clock_tolerance_seconds = clock_tolerance_seconds
        self.incremental_sync = incremental_sync
        self.requests: list[RequestRecord] = []
        self.signature_failures = 0
        self._namespaces: dict[tuple[str, str, str], _Namespace] = {}
        self._notification_ids: dict[str, int] = {}  # watch key -> latest release message id
        self._message_ids = itertools.count(1)
        self._release_ids = itertools.count(1)
        self._changed = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> ApolloDouble:
        server = _Server((self.host, self.port), _Handler)
        server.double = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="paas-apollo-double"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection, held long polls included."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._connections_lock:
            for connection in list(self._connections):
                with contextlib.suppress(OSError):  # already closed by the peer
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    kill = stop

    def restart(self) -> None:
        """Start again on the same port, keeping every published release."""
        self.stop()
        self.start()

    def __enter__(self) -> ApolloDouble:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """Base URL of the config service (and of the meta server: one server plays both)."""
        return f"http://{self.host}:{self.port}"

    meta_url = url

    # -- publishing ------------------------------------------------------------------------
    def publish(
        self,
        app_id: str,
        namespace: str,
        values: Mapping[str, str] | str,
        *,
        cluster: str = DEFAULT_CLUSTER,
    ) -> str:
        """Release `values` (a properties map, or raw text for json/yaml/xml/txt namespaces);
        wakes held long polls. Returns the new releaseKey."""
        name = _normalise(namespace)
        if isinstance(values, str):
            configurations: Mapping[str, str] = {"content": values}
        else:
            configurations = {str(k): str(v) for k, v in values.items()}
        release = _Release(
            key=f"{time.strftime('%Y%m%d%H%M%S')}-{next(self._release_ids):x}",
            configurations=dict(configurations),
        )
        with self._changed:
            ident = (app_id, cluster, name.lower())
            existing = self._namespaces.get(ident)
            if existing is None:
                existing = _Namespace(name=name, release=release)
                self._namespaces[ident] = existing
            existing.release = release
            existing.history[release.key] = release.configurations
            self._notification_ids[f"{app_id}+{cluster}+{name.lower()}"] = next(self._message_ids)
            self._changed.notify_all()
        return release.key

    def release_key(
        self, app_id: str, namespace: str, *, cluster: str = DEFAULT_CLUSTER
    ) -> str | None:
        found = self._namespaces.get((app_id, cluster, _normalise(namespace).lower()))
        return found.release.key if found else None

    # -- protocol ------------------------------------------------------------------------
    def _lookup(
        self, app_id: str, cluster: str, data_centre: str | None, namespace: str
    ) -> tuple[str, _Namespace] | None:
        name = _normalise(namespace).lower()
        for candidate in self._clusters(cluster, data_centre):
            found = self._namespaces.get((app_id, candidate, name))
            if found is not None:
                return candidate, found
        return None

    @staticmethod
    def _clusters(cluster: str, data_centre: str | None) -> Iterator[str]:
        if cluster != DEFAULT_CLUSTER:
            yield cluster
        if data_centre and data_centre != cluster:
            yield data_centre
        yield DEFAULT_CLUSTER

    def _watch_keys(
        self, app_id: str, cluster: str, data_centre: str | None, namespace: str
    ) -> list[str]:
        name = _normalise(namespace).lower()
        return [f"{app_id}+{c}+{name}" for c in self._clusters(cluster, data_centre)]

    def _verify(self, handler: BaseHTTPRequestHandler, app_id: str) -> bool:
        secret = self.secrets.get(app_id)
        if secret is None:
            return True
        authorization = handler.headers.get("Authorization", "")
        timestamp = handler.headers.get("Timestamp", "")
        try:
            millis = int(timestamp)
        except ValueError:
            return False
        if abs(time.time() * 1000 - millis) > self.clock_tolerance_seconds * 1000:
            return False
        string_to_sign = f"{timestamp}\n{handler.path}".encode()
        digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha1).digest()
        expected = f"Apollo {app_id}:{base64.b64encode(digest).decode()}"
        return hmac.compare_digest(authorization, expected)

    def _notifications(
        self, app_id: str, cluster: str, data_centre: str | None, wanted: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        answer = []
        for item in wanted:
            namespace = str(item["namespaceName"])
            client_id = int(item.get("notificationId", -1))
            details = {
                key: self._notification_ids[key]
                for key in self._watch_keys(app_id, cluster, data_centre, namespace)
                if key in self._notification_ids
            }
            if details and max(details.values()) > client_id:
                answer.append(
                    {
                        "namespaceName": namespace,
                        "notificationId": max(details.values()),
                        "messages": {"details": details},
                    }
                )
        return answer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `ApolloDouble.requests` instead."""

    def setup(self) -> None:
        super().setup()
        double = self.server.double
        with double._connections_lock:
            double._connections.add(self.connection)

    def finish(self) -> None:
        double = self.server.double
        with double._connections_lock:
            double._connections.discard(self.connection)
        super().finish()

    def _send(self, status: int, body: Any = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        double = self.server.double
        double.requests.append(
            RequestRecord("GET", self.path, status, "Authorization" in self.headers)
        )

    def do_GET(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
        parts = [urllib.parse.unquote(p) for p in split.path.split("/") if p]
        try:
            if parts[:2] == ["services", "config"]:
                self._send(200, self._services())
            elif parts and parts[0] == "configs" and len(parts) == 4:
                self._configs(parts[1], parts[2], parts[3], query, cached=False)
            elif parts[:2] == ["configfiles", "json"] and len(parts) == 5:
                self._configs(parts[2], parts[3], parts[4], query, cached=True)
            elif parts == ["notifications", "v2"]:
                self._long_poll(query)
            else:
                self._send(404, {"status": 404, "message": f"no route {split.path}"})
        except (KeyError, ValueError, TypeError) as error:
            self._send(400, {"status": 400, "message": f"bad request: {error}"})

    def _services(self) -> list[dict[str, str]]:
        double = self.server.double
        return [
            {
                "appName": "APOLLO-CONFIGSERVICE",
                "instanceId": f"{double.host}:apollo-configservice:{double.port}",
                "homepageUrl": f"{double.url}/",
            }
        ]

    def _unauthorised(self, app_id: str) -> bool:
        double = self.server.double
        if double._verify(self, app_id):
            return False
        double.signature_failures += 1
        self._send(401, {"status": 401, "message": "Unauthorized"})
        return True

    def _configs(
        self, app_id: str, cluster: str, namespace: str, query: dict[str, str], *, cached: bool
    ) -> None:
        double = self.server.double
        if self._unauthorised(app_id):
            return
        with double._changed:
            found = double._lookup(app_id, cluster, query.get("dataCenter"), namespace)
        if found is None:
            self._send(404, {"status": 404, "message": f"namespace {namespace} not found"})
            return
        served_cluster, ns = found
        release = ns.release
        if cached:
            self._send(200, dict(release.configurations))
            return
        client_key = query.get("releaseKey", "-1")
        if client_key == release.key:
            self._send(304)
            return
        body: dict[str, Any] = {
            "appId": app_id,
            "cluster": served_cluster,
            "namespaceName": ns.name,
            "releaseKey": release.key,
        }
        previous = ns.history.get(client_key) if double.incremental_sync else None
        if previous is not None:
            current = release.configurations
            changes: list[dict[str, str | None]] = [
                {"key": k, "newValue": current[k], "configurationChangeType": "ADDED"}
                for k in current.keys() - previous.keys()
            ]
            changes += [
                {"key": k, "newValue": None, "configurationChangeType": "DELETED"}
                for k in previous.keys() - current.keys()
            ]
            changes += [
                {"key": k, "newValue": current[k], "configurationChangeType": "MODIFIED"}
                for k in current.keys() & previous.keys()
                if current[k] != previous[k]
            ]
            body["configSyncType"] = "IncrementalSync"
            body["configurationChanges"] = changes
        else:
            body["configurations"] = dict(release.configurations)
        self._send(200, body)

    def _long_poll(self, query: dict[str, str]) -> None:
        double = self.server.double
        app_id, cluster = query["appId"], query.get("cluster", DEFAULT_CLUSTER)
        if self._unauthorised(app_id):
            return
        wanted = json.loads(query["notifications"])
        if not isinstance(wanted, list):
            raise ValueError("notifications must be a JSON list")
        deadline = time.monotonic() + double.hold_seconds
        with double._changed:
            while True:
                answer = double._notifications(app_id, cluster, query.get("dataCenter"), wanted)
                remaining = deadline - time.monotonic()
                if answer or remaining <= 0 or not double.running:
                    break
                double._changed.wait(remaining)
        if not double.running:
            return
        if answer:
            self._send(200, answer)
        else:
            self._send(304)


def main(argv: list[str] | None = None) -> int:
    """Serve the double until interrupted."""
    import click
    import yaml

    @click.command(help="Serve an Apollo config service and meta server double.")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8080, show_default=True, type=int)
    @click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="YAML: app id -> namespace -> {key: value} or raw text.",
    )
    @click.option("--hold-seconds", default=60.0, show_default=True, type=float)
    @click.option("--secret", "secrets", multiple=True, help="APP_ID=SECRET access key.")
    def serve(
        host: str, port: int, config_file: Path | None, hold_seconds: float, secrets: list[str]
    ) -> None:
        keys: dict[str, str] = {}
        for item in secrets:
            app, sep, secret = item.partition("=")
            if not sep or not app:
                raise click.UsageError(f"--secret {app!r}: expected APP_ID=SECRET")
            keys[app] = secret
        initial: Any = {}
        if config_file is not None:
            try:
                initial = yaml.safe_load(config_file.read_text()) or {}
            except yaml.YAMLError as error:
                raise click.UsageError(f"{config_file}: not valid YAML ({error})") from None
            if not isinstance(initial, dict):
                raise click.UsageError(f"{config_file}: expected a mapping of app id -> namespaces")
        double = ApolloDouble(host=host, port=port, hold_seconds=hold_seconds, secrets=keys)
        for app_id, namespaces in initial.items():
            if not isinstance(namespaces, dict):
                raise click.UsageError(f"{config_file}: {app_id}: expected namespaces mapping")
            for namespace, values in namespaces.items():
                if isinstance(values, dict):
                    double.publish(
                        str(app_id), str(namespace), {k: str(v) for k, v in values.items()}
                    )
                else:
                    double.publish(str(app_id), str(namespace), str(values))
        double.start()
        click.echo(f"Apollo double serving on {double.url} (hold {hold_seconds:g} s)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            double.stop()

    try:
        serve.main(args=argv, standalone_mode=False)
    except click.UsageError as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        return 2
    except click.Abort:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
