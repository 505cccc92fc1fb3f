"""An Apollo config service and meta server over real HTTP, for tests and local development.

Built behaviour by behaviour from apolloconfig/apollo's server source; each method names the file
it follows. The defaults are Apollo's: long polls held 60 s, release messages scanned every
second, incremental sync off. Releases are made with `publish()`, gray releases with
`gray_release()`, public namespaces with `publish(..., public=True)`; `faults` (the simulators'
knobs: latency, error status, hang, malformed JSON, truncated body, wrong content type) make it
misbehave on the paths a test chooses.

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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from paas_sdk.testing.simulators._http import Faults

__all__ = ["ApolloDouble", "RequestRecord", "main"]

DEFAULT_CLUSTER = "default"
APPLICATION = "application"
# BizConfig.longPollingTimeoutInMilli and releaseMessageScanIntervalInMilli defaults.
LONG_POLL_HOLD_SECONDS = 60.0
MESSAGE_SCAN_SECONDS = 1.0


def _strip(namespace: str) -> str:
    """`NamespaceUtil.filterNamespaceName`: `.properties` (any case) is cut off the name."""
    if namespace.lower().endswith(".properties"):
        return namespace[: -len(".properties")]
    return namespace


@dataclass(frozen=True)
class _Release:
    key: str
    cluster: str
    configurations: Mapping[str, str]


@dataclass(frozen=True)
class _GrayRule:
    """`GrayReleaseRuleItemDTO.matches`: the client app id (any case) and its ip or its label,
    `*` matching every ip or label."""

    client_app_id: str
    ips: frozenset[str]
    labels: frozenset[str]

    def matches(self, app_id: str, ip: str | None, label: str | None) -> bool:
        if self.client_app_id.lower() != app_id.lower():
            return False
        return "*" in self.ips or ip in self.ips or "*" in self.labels or label in self.labels


@dataclass
class _Namespace:
    name: str  # as first published (lookups ignore case, as NamespaceUtil.normalizeNamespace)
    release: _Release
    gray: tuple[_Release, tuple[_GrayRule, ...]] | None = None


@dataclass(eq=False)
class _Waiter:
    """A held long poll: `DeferredResultWrapper` registered under each of its watch keys."""

    keys: Mapping[str, str]  # watch key -> the namespace name to answer with
    answer: list[dict[str, Any]] | None = None
    event: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class RequestRecord:
    """One request the double received: what a test inspects afterwards."""

    method: str
    path: str
    status: int
    signed: bool

    @property
    def query(self) -> dict[str, str]:
        split = urllib.parse.urlsplit(self.path)
        return {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}


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
        hold_seconds: float = LONG_POLL_HOLD_SECONDS,
        scan_interval_seconds: float = MESSAGE_SCAN_SECONDS,
        secrets: Mapping[str, str] | None = None,
        clock_tolerance_seconds: float = 60.0,
        incremental_sync: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.hold_seconds = hold_seconds
        self.scan_interval_seconds = scan_interval_seconds
        self.secrets: dict[str, str] = dict(secrets or {})
        self.clock_tolerance_seconds = clock_tolerance_seconds
        self.incremental_sync = incremental_sync
        self.faults = Faults()
        self.requests: list[RequestRecord] = []
        self.signature_failures = 0
        self._lock = threading.Lock()
        self._namespaces: dict[tuple[str, str, str], _Namespace] = {}
        self._names: dict[str, str] = {}  # lower-case name -> name as first published
        self._app_namespaces: set[tuple[str, str]] = set()  # AppNamespace rows (app, lower)
        self._public: dict[str, str] = {}  # public namespace (lower) -> owning app
        self._by_key: dict[str, _Release] = {}
        self._messages: dict[str, int] = {}  # watch key -> newest scanned release message id
        self._pending: list[tuple[str, int]] = []  # release messages not scanned yet
        self._waiters: set[_Waiter] = set()
        self._message_ids = itertools.count(1)
        self._release_ids = itertools.count(1)
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> ApolloDouble:
        server = _Server((self.host, self.port), _Handler)
        server.double = self
        self.port = server.server_address[1]
        self._server = server
        self._stopping.clear()
        self._threads = [
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="paas-apollo-double",
                daemon=True,
            ),
            threading.Thread(target=self._scan_loop, name="paas-apollo-scanner", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection, held long polls included."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._connections_lock:
            for connection in list(self._connections):
                with contextlib.suppress(OSError):  # already closed by the peer
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()
        with self._lock:
            for waiter in self._waiters:
                waiter.event.set()
        for thread in self._threads:
            thread.join(timeout=5)

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
        public: bool = False,
    ) -> str:
        """Release `values` (a properties map, or raw text for json/yaml/xml/txt namespaces);
        returns the new releaseKey.

        The release is served by `/configs` at once; long polls learn of it when the release
        message is next scanned (`scan_interval_seconds`). `public=True` makes the namespace a
        public one owned by `app_id`; another app publishing under a public namespace's name
        releases its override (an associated namespace) instead.
        """
        name = _strip(namespace)
        lower = name.lower()
        configurations = (
            {"content": values}
            if isinstance(values, str)
            else {str(k): str(v) for k, v in values.items()}
        )
        with self._lock:
            owner = self._public.get(lower)
            if public and owner not in (None, app_id):
                raise ValueError(f"namespace {name!r} is already public, owned by {owner!r}")
            if public:
                self._public[lower] = app_id
            if public or owner in (None, app_id):
                self._app_namespaces.add((app_id, lower))
            name = self._names.setdefault(lower, name)
            release = self._new_release(cluster, configurations)
            ident = (app_id, cluster, lower)
            existing = self._namespaces.get(ident)
            if existing is None:
                self._namespaces[ident] = _Namespace(name, release)
            else:
                existing.release = release
            self._send_message(f"{app_id}+{cluster}+{name}")
        return release.key

    def gray_release(
        self,
        app_id: str,
        namespace: str,
        values: Mapping[str, str],
        *,
        ips: Iterable[str] = (),
        labels: Iterable[str] = (),
        cluster: str = DEFAULT_CLUSTER,
        client_app_id: str | None = None,
    ) -> str:
        """A gray release of a published namespace, served to clients whose `ip` or `label`
        matches (`*` for all); the rest keep the main release (`AbstractConfigService.findRelease`,
        `GrayReleaseRulesHolder`). Its release message goes out under the parent cluster's key, as
        `ReleaseService.publish` does for a branch."""
        lower = _strip(namespace).lower()
        rule = _GrayRule(client_app_id or app_id, frozenset(ips), frozenset(labels))
        with self._lock:
            found = self._namespaces.get((app_id, cluster, lower))
            if found is None:
                raise ValueError(f"{app_id}/{cluster}/{namespace}: publish before a gray release")
            release = self._new_release(cluster, {**found.release.configurations, **values})
            found.gray = (release, (rule,))
            self._send_message(f"{app_id}+{cluster}+{found.name}")
        return release.key

    def abandon_gray(self, app_id: str, namespace: str, *, cluster: str = DEFAULT_CLUSTER) -> None:
        """Drop a gray release; its clients go back to the main release."""
        lower = _strip(namespace).lower()
        with self._lock:
            found = self._namespaces[(app_id, cluster, lower)]
            found.gray = None
            self._send_message(f"{app_id}+{cluster}+{found.name}")

    def release_key(
        self, app_id: str, namespace: str, *, cluster: str = DEFAULT_CLUSTER
    ) -> str | None:
        found = self._namespaces.get((app_id, cluster, _strip(namespace).lower()))
        return found.release.key if found else None

    def _new_release(self, cluster: str, configurations: Mapping[str, str]) -> _Release:
        key = f"{time.strftime('%Y%m%d%H%M%S')}-{next(self._release_ids):x}"
        release = _Release(key, cluster, dict(configurations))
        self._by_key[key] = release
        return release

    def _send_message(self, watch_key: str) -> None:
        """`DatabaseMessageSender.sendMessage`: a row in the release-message table."""
        self._pending.append((watch_key, next(self._message_ids)))

    # -- release messages ------------------------------------------------------------------
    def _scan_loop(self) -> None:
        while not self._stopping.wait(self.scan_interval_seconds):
            self.scan()

    def scan(self) -> None:
        """`ReleaseMessageScanner`: read new release messages, in id order, and hand each to the
        long polls watching its key (`NotificationControllerV2.handleMessage`): the answer names
        only that namespace, its `messages` only that key."""
        with self._lock:
            pending, self._pending = self._pending, []
            for key, ident in pending:
                self._messages[key] = ident
                for waiter in self._waiters:
                    name = waiter.keys.get(key)
                    if waiter.answer is None and name is not None:
                        waiter.answer = [
                            {
                                "namespaceName": name,
                                "notificationId": ident,
                                "messages": {"details": {key: ident}},
                            }
                        ]
                        waiter.event.set()

    # -- lookups (callers hold the lock) ---------------------------------------------------
    @staticmethod
    def _clusters(cluster: str, data_centre: str | None) -> Iterator[str]:
        """`AbstractConfigService.loadConfig` / `WatchKeysUtil.assembleWatchKeys` order: the
        cluster (unless default), the data centre (unless the same), then default."""
        if cluster != DEFAULT_CLUSTER:
            yield cluster
        if data_centre and data_centre != cluster:
            yield data_centre
        yield DEFAULT_CLUSTER

    def _belongs(self, app_id: str, lower: str) -> bool:
        """`ConfigController.namespaceBelongsToAppId`: every app has `application`."""
        return lower == APPLICATION or (app_id, lower) in self._app_namespaces

    def _owners(self, app_id: str, lower: str) -> list[str]:
        """The app itself, then the public namespace's owner when the app does not own it."""
        owner = self._public.get(lower)
        if not self._belongs(app_id, lower) and owner is not None and owner != app_id:
            return [app_id, owner]
        return [app_id]

    def _load(
        self,
        client: tuple[str, str | None, str | None],
        config_app: str,
        cluster: str,
        data_centre: str | None,
        lower: str,
    ) -> _Release | None:
        for candidate in self._clusters(cluster, data_centre):
            found = self._namespaces.get((config_app, candidate, lower))
            if found is None:
                continue
            if found.gray is not None and any(r.matches(*client) for r in found.gray[1]):
                return found.gray[0]
            return found.release
        return None

    def _releases(
        self,
        app_id: str,
        cluster: str,
        data_centre: str | None,
        lower: str,
        *,
        ip: str | None,
        label: str | None,
    ) -> list[tuple[str, _Release]]:
        """`ConfigController.queryConfig`: the app's own release, then the public one, each
        with the app it belongs to."""
        client = (app_id, ip, label)
        found = [
            (owner, self._load(client, owner, cluster, data_centre, lower))
            for owner in self._owners(app_id, lower)
        ]
        return [(owner, release) for owner, release in found if release is not None]

    def _watch_keys(
        self, app_id: str, cluster: str, data_centre: str | None, name: str
    ) -> list[str]:
        """`WatchKeysUtil.assembleAllWatchKeys`, public namespaces' owners included."""
        lower = name.lower()
        canonical = self._names.get(lower, name)
        return [
            f"{owner}+{c}+{canonical}"
            for owner in self._owners(app_id, lower)
            for c in self._clusters(cluster, data_centre)
        ]

    def _verify(self, handler: BaseHTTPRequestHandler, app_id: str) -> bool:
        """`ClientAuthenticationFilter` / `AccessKeyUtil`: HMAC-SHA1 over `timestamp\\npath?query`
        (the raw request URI), Base64, within the clock tolerance."""
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


def _merge(releases: list[_Release]) -> dict[str, str]:
    """`ConfigController.mergeReleaseConfigurations`: earlier releases win."""
    merged: dict[str, str] = {}
    for release in reversed(releases):
        merged.update(release.configurations)
    return merged


def _changes(previous: Mapping[str, str], current: Mapping[str, str]) -> list[dict[str, str]]:
    """`DefaultIncrementalSyncService.getConfigurationChanges`; Gson leaves the null `newValue`
    of a DELETED change out of the JSON."""
    changes = [
        {"key": k, "newValue": current[k], "configurationChangeType": "ADDED"}
        for k in current.keys() - previous.keys()
    ]
    changes += [
        {"key": k, "configurationChangeType": "DELETED"} for k in previous.keys() - current.keys()
    ]
    changes += [
        {"key": k, "newValue": current[k], "configurationChangeType": "MODIFIED"}
        for k in current.keys() & previous.keys()
        if current[k] != previous[k]
    ]
    return changes


class _BadRequestError(Exception):
    pass


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
        double = self.server.double
        payload = b"" if body is None else json.dumps(body).encode()
        content_type = "application/json;charset=UTF-8"
        faults = double.faults
        faulty = faults.applies_to(urllib.parse.urlsplit(self.path).path)
        if faulty and faults.malformed_json and status == 200:
            payload = payload[: max(1, len(payload) // 2)] + b"}]{"
        if faulty and faults.wrong_content_type:
            content_type, payload = "text/html", b"<html><body>502 Bad Gateway</body></html>"
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if faulty and faults.truncated:
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
        else:
            self.wfile.write(payload)
        double.requests.append(
            RequestRecord("GET", self.path, status, "Authorization" in self.headers)
        )

    def do_GET(self) -> None:
        double = self.server.double
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
        parts = [urllib.parse.unquote(p) for p in split.path.split("/") if p]
        faults = double.faults
        if faults.applies_to(split.path):
            time.sleep(faults.latency + faults.hang)
            if faults.error_status is not None:
                self._send(faults.error_status, {"status": faults.error_status})
                return
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
        except _BadRequestError as error:
            # Spring's answer to a missing required parameter or BadRequestException.
            self._send(400, {"status": 400, "error": "Bad Request", "message": str(error)})

    def _services(self) -> list[dict[str, str]]:
        """`ServiceController.getConfigService` on the meta server."""
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
        """`ConfigController.queryConfig` (and `ConfigFileController` for `/configfiles/json`):
        the answer names the namespace as requested; public releases are merged under the app's
        own and their releaseKeys joined with `+`."""
        double = self.server.double
        if self._unauthorised(app_id):
            return
        ip = query.get("ip") or self.client_address[0]
        lower = _strip(namespace).lower()
        with double._lock:
            found = double._releases(
                app_id, cluster, query.get("dataCenter"), lower, ip=ip, label=query.get("label")
            )
            history = dict(double._by_key)
        releases = [release for _, release in found]
        if not releases:
            message = (
                f"Could not load configurations with appId: {app_id}, clusterName: {cluster}, "
                f"namespace: {namespace}"
            )
            self._send(404, {"status": 404, "message": message})
            return
        configurations = _merge(releases)
        if cached:
            self._send(200, configurations)
            return
        release_key = "+".join(r.key for r in releases)
        client_key = query.get("releaseKey", "-1")
        if client_key == release_key:
            self._send(304)
            return
        own = [release for owner, release in found if owner == app_id]
        body: dict[str, Any] = {
            "appId": app_id,
            "cluster": own[0].cluster if own else cluster,
            "namespaceName": namespace,
            "releaseKey": release_key,
        }
        client = [history[k] for k in client_key.split("+") if k in history]
        previous = _merge(client) if double.incremental_sync else {}
        if previous:
            body["configSyncType"] = "IncrementalSync"
            body["configurationChanges"] = _changes(previous, configurations)
        else:
            body["configurations"] = configurations
        self._send(200, body)

    def _long_poll(self, query: dict[str, str]) -> None:
        """`NotificationControllerV2.pollNotification`: 400 without appId, cluster or usable
        notifications; an id behind the newest scanned message answers at once for every such
        namespace with all its watch keys' messages; otherwise held until a message for one of
        its keys is scanned, or `hold_seconds`, then 304 (`DeferredResultWrapper`)."""
        double = self.server.double
        for required in ("appId", "cluster", "notifications"):
            if required not in query:
                raise _BadRequestError(f"Required request parameter '{required}' is not present")
        app_id, cluster = query["appId"], query["cluster"]
        if self._unauthorised(app_id):
            return
        wanted = self._notifications(query["notifications"])
        data_centre = query.get("dataCenter")
        with double._lock:
            keys = {
                key: name
                for name in wanted
                for key in double._watch_keys(app_id, cluster, data_centre, name)
            }
            waiter = _Waiter(keys)
            double._waiters.add(waiter)
            answer = []
            for name, client_id in wanted.items():
                mine = double._watch_keys(app_id, cluster, data_centre, name)
                details = {k: double._messages[k] for k in mine if k in double._messages}
                if details and max(details.values()) > client_id:
                    answer.append(
                        {
                            "namespaceName": name,
                            "notificationId": max(details.values()),
                            "messages": {"details": details},
                        }
                    )
        try:
            if not answer:
                waiter.event.wait(double.hold_seconds)
                answer = waiter.answer or []
        finally:
            with double._lock:
                double._waiters.discard(waiter)
        if not double.running:
            return
        if answer:
            self._send(200, answer)
        else:
            self._send(304)

    @staticmethod
    def _notifications(text: str) -> dict[str, int]:
        """`NotificationControllerV2.filterNotifications`: names without `.properties`, empty
        names skipped, the lowest id kept for names differing only in case."""
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        wanted: dict[str, int] = {}
        seen: dict[str, str] = {}
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not item.get("namespaceName"):
                continue
            name = _strip(str(item["namespaceName"]))
            try:
                ident = int(item.get("notificationId", -1))
            except (TypeError, ValueError):
                ident = -1
            earlier = seen.get(name.lower())
            if earlier is not None and wanted[earlier] < ident:
                continue
            if earlier is not None:
                del wanted[earlier]
            seen[name.lower()] = name
            wanted[name] = ident
        if not wanted:
            raise _BadRequestError(f"invalid notifications format: {text}")
        return wanted


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
