"""ApolloClient: Apollo's client protocol over httpx, with the Java client's behaviour.

Synchronous first load, one `/notifications/v2` long poll for all namespaces re-fetching exactly
the changed ones, a periodic refresh as a fallback, 1 s -> 120 s backoff, access-key signing over
the exact bytes on the wire, incremental-sync merging, and a local cache for when the config
service cannot be reached at startup.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.registry import CollectorRegistry
from pydantic import SecretStr

from paas_sdk.config._cache import ConfigCache
from paas_sdk.config._store import ConfigSource, ConfigStore, make_snapshot
from paas_sdk.errors import (
    ConfigAuthError,
    ConfigError,
    ConfigFormatError,
    ConfigSourceError,
    NamespaceNotFoundError,
)

log = logging.getLogger("paas_sdk.config")

DEFAULT_CLUSTER = "default"
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 120.0
# RemoteConfigRepository: a load the long poll asked for is tried again after onErrorRetryInterval.
NOTIFIED_LOAD_ATTEMPTS = 2
NOTIFIED_LOAD_RETRY = 1.0
_SERVICE_LIST_TTL = 300.0


def sign(raw_path: str, secret: str, timestamp_ms: int) -> str:
    """Apollo's access-key signature: Base64(HMAC-SHA1(secret, "{ts}\\n{path?query}"))."""
    message = f"{timestamp_ms}\n{raw_path}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha1).digest()).decode()


def _apollo_name(namespace: str) -> str:
    """The server strips `.properties`; the client does the same so names and ids line up."""
    if namespace.lower().endswith(".properties"):
        return namespace[: -len(".properties")]
    return namespace


class ApolloClient(ConfigStore):
    """Configuration of one Apollo app, kept current in the background.

    Give either `meta_servers` (tried in order, the first that answers lists the config
    services) or `config_service` (skips discovery). `start()` loads every namespace before it
    returns, from the config service or, failing that, from the cache.

    Namespaces keep the names they are configured with (`extra.properties` stays
    `extra.properties` for `get`, `properties`, listeners) while the wire carries the name the
    server uses (`extra`), as the Java client maps ids back. Without a `cluster`, the data centre
    (`IDC`) picks it, else `default` (Java: `ConfigUtil.initCluster`); the cache files are named
    with that cluster.
    """

    def __init__(
        self,
        app_id: str,
        namespaces: Sequence[str] = ("application",),
        *,
        meta_servers: Sequence[str] = (),
        config_service: str | None = None,
        cluster: str | None = None,
        data_centre: str | None = None,
        label: str | None = None,
        ip: str | None = None,
        secret: SecretStr | str | None = None,
        cache_dir: Path | str | None = None,
        startup_timeout: float = 10.0,
        connect_timeout: float = 1.0,
        read_timeout: float = 5.0,
        long_poll_timeout: float = 90.0,
        refresh_interval: float = 300.0,
        backoff_max: float = BACKOFF_MAX,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        if not meta_servers and not config_service:
            raise ConfigError("give meta_servers or config_service", where="ApolloClient")
        super().__init__(namespaces, metrics)
        self.app_id = app_id
        self.cluster = cluster or data_centre or DEFAULT_CLUSTER
        # configured name -> the name on the wire, and back (the server answers in its names)
        self._wire = {ns: _apollo_name(ns) for ns in self.namespaces}
        self._configured: dict[str, list[str]] = {}
        for configured, wire in self._wire.items():
            self._configured.setdefault(wire.lower(), []).append(configured)
        self.data_centre = data_centre
        self.label = label
        self.ip = ip
        self.meta_servers = tuple(m.rstrip("/") for m in meta_servers)
        self.config_service = config_service.rstrip("/") if config_service else None
        self._secret = SecretStr(secret) if isinstance(secret, str) else secret
        self._cache = ConfigCache(Path(cache_dir), app_id, self.cluster) if cache_dir else None
        self.startup_timeout = startup_timeout
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._poll_timeout = httpx.Timeout(
            read_timeout, connect=connect_timeout, read=long_poll_timeout
        )
        self.refresh_interval = refresh_interval
        self.backoff_max = backoff_max
        self._open_connections()
        self._poll_socket: socket.socket | None = None
        self._services: list[str] = []
        self._services_at = 0.0
        self._release_keys: dict[str, str] = {}
        self._remote: dict[str, Mapping[str, str]] = {}
        self._notification_ids: dict[str, int] = {ns: -1 for ns in self.namespaces}
        self._messages: dict[str, int] = {}
        self._fetch_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        _reopen_in_forked_children(self)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> ApolloClient:
        """Load every namespace (remote, else cache) and start the long poll and refresh.

        Raises `ConfigAuthError` on a rejected signature, `ConfigSourceError` (or a subclass)
        when a namespace is neither reachable nor cached, within `startup_timeout`; a failed
        start may be retried. Raises `ConfigError` once the client is closed.
        """
        if self._stop.is_set():
            raise ConfigError(
                "this client was closed: create a new ApolloClient to start again",
                where="ApolloClient",
            )
        if self._threads:
            return self
        if self._http.is_closed or self._poll_http.is_closed:  # a failed start released them
            self._open_connections()
        deadline = time.monotonic() + self.startup_timeout
        degraded: list[str] = []
        cache = self._cache
        for namespace in self.namespaces:
            try:
                self._fetch(namespace, deadline=deadline)
            except ConfigAuthError:
                self._close_connections()
                raise
            except ConfigError as error:
                self._sync_failed(namespace)
                cached = cache.read(self._wire[namespace]) if cache else None
                if cache is None or cached is None:
                    self._close_connections()
                    raise
                where = str(cache.path(self._wire[namespace]))
                self._install(make_snapshot(namespace, cached, ConfigSource.CACHE, where=where))
                degraded.append(f"{namespace} ({error})")
        if degraded:
            # One line for the whole degraded start, naming every namespace and why.
            log.warning(
                "config degraded: served from the local cache %s: %s",
                cache.directory if cache else "",
                "; ".join(degraded),
            )
        self._start_threads()
        return self

    def _start_threads(self) -> None:
        for name, target in (
            ("paas-config-poll", self._poll_loop),
            ("paas-config-refresh", self._refresh_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _open_connections(self) -> None:
        self._http = httpx.Client(follow_redirects=False)
        # One fresh connection per long poll, so that close() can cut the one being held.
        self._poll_http = httpx.Client(
            follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def _close_connections(self) -> None:
        # A failed start releases its connections but is not a close(): the caller may start
        # again once the server is back, and start() opens new ones.
        self._poll_http.close()
        self._http.close()

    def _after_fork(self) -> None:
        """In a forked child: new connections, new locks, and the threads started again."""
        self._open_connections()
        self._poll_socket = None
        self._fetch_lock = threading.Lock()
        self._reset_after_fork()
        running = bool(self._threads) and not self._stop.is_set()
        self._threads = []
        if running:
            self._start_threads()

    def close(self) -> None:
        """Stop the background threads and release connections; values stay readable."""
        self._stop.set()
        held = self._poll_socket
        if held is not None:
            with contextlib.suppress(OSError):  # wakes the poll thread out of its held read
                held.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._close_connections()
        self._close_events()

    def __enter__(self) -> ApolloClient:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- discovery -------------------------------------------------------------------------
    def _config_services(self, deadline: float | None = None) -> list[str]:
        if self.config_service:
            return [self.config_service]
        if self._services and time.monotonic() - self._services_at < _SERVICE_LIST_TTL:
            return self._services
        problems = []
        for meta in self.meta_servers:
            url = f"{meta}/services/config"
            try:
                response = self._http.get(
                    url,
                    params=self._params(appId=self.app_id, ip=self.ip),
                    timeout=self._bounded(self._timeout, deadline),
                )
                response.raise_for_status()
                services = [
                    str(item["homepageUrl"]).rstrip("/")
                    for item in response.json()
                    if str(item["homepageUrl"]).startswith(("http://", "https://"))
                ]
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
                problems.append(f"{url}: {_describe(error)}")
                continue
            if services:
                self._services, self._services_at = services, time.monotonic()
                return services
            problems.append(f"{url}: no config service listed")
        if self._services:  # keep the last good list rather than none
            return self._services
        raise ConfigSourceError(
            "no meta server listed a config service: " + "; ".join(problems),
            where="apollo meta",
        )

    # -- requests --------------------------------------------------------------------------
    @staticmethod
    def _params(**values: str | None) -> dict[str, str]:
        return {k: v for k, v in values.items() if v is not None}

    @staticmethod
    def _bounded(timeout: httpx.Timeout, deadline: float | None) -> httpx.Timeout:
        if deadline is None:
            return timeout
        remaining = max(0.05, deadline - time.monotonic())
        return httpx.Timeout(
            min(timeout.read or remaining, remaining),
            connect=min(timeout.connect or remaining, remaining),
        )

    def _get(
        self,
        client: httpx.Client,
        path: str,
        params: dict[str, str],
        timeout: httpx.Timeout,
        deadline: float | None = None,
    ) -> httpx.Response:
        """GET on the first config service that answers, signed when a secret is set."""
        problems = []
        for base in self._config_services(deadline):
            request = client.build_request(
                "GET",
                base + path,
                params=params,
                timeout=self._bounded(timeout, deadline),
                extensions={"trace": self._trace} if client is self._poll_http else None,
            )
            if self._secret is not None:
                millis = int(time.time() * 1000)
                raw = request.url.raw_path.decode("ascii")
                request.headers["Authorization"] = (
                    f"Apollo {self.app_id}:{sign(raw, self._secret.get_secret_value(), millis)}"
                )
                request.headers["Timestamp"] = str(millis)
            try:
                return client.send(request)
            except httpx.HTTPError as error:
                problems.append(f"{base}{path}: {_describe(error)}")
                if self._stop.is_set():
                    break
        raise ConfigSourceError("; ".join(problems) or "closed", where="apollo config service")

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: remember the long poll's socket for close()."""
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            if stream is not None:
                self._poll_socket = stream.get_extra_info("socket")

    def _fetch(self, namespace: str, *, deadline: float | None = None) -> bool:
        """Fetch one namespace with its releaseKey; True when it changed (False on 304)."""
        with self._fetch_lock:
            path = f"/configs/{self.app_id}/{self.cluster}/{self._wire[namespace]}"
            params = self._params(
                releaseKey=self._release_keys.get(namespace, "-1"),
                ip=self.ip,
                label=self.label,
                dataCenter=self.data_centre,
                messages=json.dumps({"details": self._messages}) if self._messages else None,
            )
            response = self._get(self._http, path, params, self._timeout, deadline)
            where = f"{self.app_id}/{self.cluster}/{namespace}"
            if response.status_code == 304:
                self._synced(namespace)
                return False
            if response.status_code == 401:
                raise ConfigAuthError(
                    "the config service rejected the access-key signature (401): check the "
                    "secret configured for this app id",
                    where=where,
                )
            if response.status_code == 404:
                raise NamespaceNotFoundError(
                    "namespace not found (404): nothing published for this app, cluster and "
                    "namespace",
                    where=where,
                )
            if response.status_code != 200:
                raise ConfigSourceError(f"HTTP {response.status_code}", where=where)
            configurations, release_key = self._decode(namespace, response, where)
            snapshot = make_snapshot(namespace, configurations, ConfigSource.REMOTE, where=where)
            self._remote[namespace] = configurations
            self._release_keys[namespace] = release_key
            if self._cache is not None:
                try:
                    self._cache.write(self._wire[namespace], configurations)
                except OSError as error:
                    log.warning(
                        "config cache %s not written: %s",
                        self._cache.path(self._wire[namespace]),
                        error,
                    )
            self._install(snapshot)
            return True

    def _decode(
        self, namespace: str, response: httpx.Response, where: str
    ) -> tuple[dict[str, str], str]:
        try:
            body: Any = response.json()
            release_key = str(body["releaseKey"])
            sync_type = body.get("configSyncType") or ""
            if sync_type == "IncrementalSync":
                merged = dict(self._remote.get(namespace, {}))
                for change in body.get("configurationChanges") or []:
                    kind = change["configurationChangeType"]
                    if kind == "DELETED":
                        merged.pop(change["key"], None)
                    elif kind in ("ADDED", "MODIFIED"):
                        merged[str(change["key"])] = str(change["newValue"])
                    else:
                        raise ValueError(f"unknown configurationChangeType {kind!r}")
                return merged, release_key
            if sync_type not in ("", "FullSync"):
                raise ValueError(f"unknown configSyncType {sync_type!r}")
            configurations = body["configurations"]
            if not isinstance(configurations, dict):
                raise TypeError("configurations is not an object")
            return {str(k): str(v) for k, v in configurations.items()}, release_key
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigFormatError(f"unreadable /configs answer: {error}", where=where) from None

    # -- background ------------------------------------------------------------------------
    def _long_poll(self) -> dict[str, int]:
        """One held `/notifications/v2`: the namespaces whose ids moved, with their new ids
        (recorded by the caller only once the fetch they trigger has succeeded)."""
        notifications = [
            {"namespaceName": self._wire[ns], "notificationId": self._notification_ids[ns]}
            for ns in self.namespaces
        ]
        params = self._params(
            appId=self.app_id,
            cluster=self.cluster,
            notifications=json.dumps(notifications),
            dataCenter=self.data_centre,
            ip=self.ip,
        )
        response = self._get(self._poll_http, "/notifications/v2", params, self._poll_timeout)
        if response.status_code == 304:
            return {}
        if response.status_code == 401:
            raise ConfigAuthError(
                "long poll rejected (401): check the access-key secret",
                where=f"{self.app_id}/notifications/v2",
            )
        if response.status_code != 200:
            raise ConfigSourceError(
                f"HTTP {response.status_code}", where=f"{self.app_id}/notifications/v2"
            )
        changed: dict[str, int] = {}
        try:
            for item in response.json():
                ident = int(item["notificationId"])
                # The held answer carries only the changed key: merge, never replace.
                details = (item.get("messages") or {}).get("details") or {}
                for key, message in details.items():
                    self._messages[str(key)] = max(int(message), self._messages.get(str(key), -1))
                wire = _apollo_name(str(item["namespaceName"])).lower()
                for namespace in self._configured.get(wire, ()):
                    changed[namespace] = ident
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ConfigSourceError(
                f"unreadable notifications: {error}", where=f"{self.app_id}/notifications/v2"
            ) from None
        return changed

    def _poll_loop(self) -> None:
        backoff = BACKOFF_INITIAL
        failing = False
        while not self._stop.is_set():
            try:
                failed: ConfigError | None = None
                for namespace, ident in self._long_poll().items():
                    try:  # one namespace failing must not hold back the others of the answer
                        self._notified_load(namespace)
                    except ConfigError as error:
                        failed = failed or error
                        continue
                    self._notification_ids[namespace] = ident
                if failed is not None:
                    raise failed
            except ConfigError as error:
                if self._stop.is_set():
                    return
                for namespace in self.namespaces:
                    self._sync_failed(namespace)
                if not failing:
                    log.warning("config long poll failing, retrying with backoff: %s", error)
                failing = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            if failing:
                log.info("config long poll recovered")
            failing, backoff = False, BACKOFF_INITIAL

    def _notified_load(self, namespace: str) -> None:
        """The fetch a notification asked for, tried again after 1 s before giving up; when it
        still fails the id stays behind, so the next long poll answers at once and asks again."""
        for attempt in range(NOTIFIED_LOAD_ATTEMPTS):
            try:
                self._refresh(namespace)
                return
            except ConfigSourceError:
                if attempt + 1 == NOTIFIED_LOAD_ATTEMPTS or self._stop.wait(NOTIFIED_LOAD_RETRY):
                    raise

    def _refresh(self, namespace: str) -> None:
        """Re-fetch one namespace; a bad answer keeps the last good values."""
        try:
            self._fetch(namespace)
        except ConfigError as error:
            self._sync_failed(namespace)
            if isinstance(error, ConfigSourceError) and not isinstance(
                error, ConfigAuthError | NamespaceNotFoundError
            ):
                raise
            log.warning("config update of %s kept the last good values: %s", namespace, error)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            for namespace in self.namespaces:
                try:
                    self._refresh(namespace)
                except ConfigError as error:
                    log.debug("periodic refresh of %s failed: %s", namespace, error)

    def __repr__(self) -> str:
        return (
            f"ApolloClient(app_id={self.app_id!r}, cluster={self.cluster!r}, "
            f"namespaces={self.namespaces!r})"
        )


_forkable: weakref.WeakSet[ApolloClient] = weakref.WeakSet()
_fork_hook_lock = threading.Lock()
_fork_hook_installed = False


def _reopen_in_forked_children(client: ApolloClient) -> None:
    """Network clients and threads do not survive fork(): gunicorn/uWSGI workers get new ones.
    The hook is installed with the first client, not at import."""
    global _fork_hook_installed  # noqa: PLW0603 (one process-wide hook)
    with _fork_hook_lock:
        _forkable.add(client)
        if not _fork_hook_installed:
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook_installed = True


def _after_fork_in_child() -> None:
    for client in list(_forkable):
        client._after_fork()


def _describe(error: BaseException) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"timed out ({type(error).__name__})"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


__all__ = ["ApolloClient", "sign"]
