"""Providers found the Dubbo 3 way, by application: the mapping names the applications that
provide an interface, their instances carry the Triple endpoint, and their metadata (stored
remotely) lists the services with group and version.

``/dubbo/mapping/<interface>`` (comma list of apps) → ``/services/<app>/<ip:port>`` (Curator JSON,
`dubbo.endpoints`, `dubbo.metadata.revision`, `timestamp`) → ``/dubbo/metadata/<app>/<revision>``
(`MetadataInfo`). An instance that keeps its metadata local (Java's default
``dubbo.application.metadata-type=local``) can only be asked over Dubbo's `MetadataService`; it
is skipped with a warning, and found at the interface level as Java registers both by default.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from paas_sdk.errors import RegistryError
from paas_sdk.registry import DubboURL, Watch, ZooKeeperRegistry

__all__ = ["ApplicationProviders"]

log = logging.getLogger("paas_sdk.rpc")


class ApplicationProviders:
    """The tri:// providers of one interface (group, version) found at the application level."""

    def __init__(
        self,
        registry: ZooKeeperRegistry,
        interface: str,
        *,
        group: str | None,
        version: str | None,
        on_change: Callable[[], None],
        services_root: str = "/services",
    ) -> None:
        self.registry = registry
        self.interface = interface
        self.group = group
        self.version = version
        self.providers: tuple[DubboURL, ...] = ()
        self._on_change = on_change
        self._services_root = services_root
        self._watched: set[str] = set()
        self._watches: list[Watch] = []
        self._by_app: dict[str, tuple[DubboURL, ...]] = {}
        self._metadata: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        mapping = f"{self.registry.root}/mapping/{self.interface}"
        self._watches.append(self.registry.watch_data(mapping, self._on_mapping))

    def close(self) -> None:
        self._closed = True
        for watch in self._watches:
            watch.close()

    def _on_mapping(self, data: bytes | None) -> None:
        apps = [a.strip() for a in (data or b"").decode().split(",") if a.strip()]
        self.registry.submit(lambda: self._watch(apps))

    def _watch(self, apps: list[str]) -> None:
        for app in apps:
            if app in self._watched or self._closed:
                continue
            path = f"{self._services_root}/{app}"
            try:
                watch = self.registry.watch_children(
                    path, functools.partial(self._on_instances, app)
                )
            except RegistryError as exc:
                # left unwatched, so the next change of the mapping tries again; the other
                # applications are watched all the same
                log.warning("cannot watch the instances of %s: %s", app, exc)
                continue
            self._watched.add(app)
            self._watches.append(watch)

    def _on_instances(self, app: str, children: list[str]) -> None:
        if self._closed:
            return
        found: list[DubboURL] = []
        for child in children:
            raw = self.registry.read(f"{self._services_root}/{app}/{child}")
            if raw is not None:
                found.extend(self._urls(app, child, raw))
        with self._lock:
            self._by_app[app] = tuple(found)
            self.providers = tuple(u for urls in self._by_app.values() for u in urls)
        self._on_change()

    def _urls(self, app: str, child: str, raw: bytes) -> list[DubboURL]:
        try:
            instance = json.loads(raw)
            metadata = instance["payload"]["metadata"]
            endpoints = json.loads(metadata.get("dubbo.endpoints") or "[]")
            revision = metadata["dubbo.metadata.revision"]
            host = instance["address"]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring instance %s/%s that Dubbo could not read: %r", app, child, exc)
            return []
        port = next((e.get("port") for e in endpoints if e.get("protocol") == "tri"), None)
        if port is None:
            return []  # no Triple endpoint: a Dubbo 2 only instance
        if metadata.get("dubbo.metadata.storage-type") != "remote":
            if app not in self._warned:
                self._warned.add(app)
                log.warning(
                    "instances of %s keep their Dubbo metadata local: found through their"
                    " interface-level registration only (dubbo.application.metadata-type=remote"
                    " publishes it)",
                    app,
                )
            return []
        document = self._metadata_of(app, revision)
        urls = []
        for service in (document or {}).get("services", {}).values():
            if (
                service.get("name") != self.interface
                or service.get("protocol") != "tri"
                or service.get("group") != self.group
                or service.get("version") != self.version
            ):
                continue
            params = dict(service.get("params") or {})
            params["timestamp"] = metadata.get("timestamp")
            urls.append(
                DubboURL.build("tri", host, int(port), service.get("path", self.interface), params)
            )
        return urls

    def _metadata_of(self, app: str, revision: str) -> dict[str, Any] | None:
        key = (app, revision)
        if self._metadata.get(key) is None:  # a revision's metadata never changes once written
            raw = self.registry.read(f"{self.registry.root}/metadata/{app}/{revision}")
            try:
                self._metadata[key] = json.loads(raw) if raw else None
            except ValueError:
                log.warning("ignoring unreadable metadata of %s revision %s", app, revision)
        return self._metadata.get(key)
