"""What every config client shares: the immutable per-namespace snapshots, change events and the
bookkeeping behind the `paas_config_*` metrics.

A snapshot is replaced, never mutated, so readers on any thread see either the old or the new map
without a lock. Change events go out on one `paas-config-events` thread, in order.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prometheus_client.registry import CollectorRegistry

from paas_sdk.config._formats import flatten, namespace_format, parse_document

log = logging.getLogger("paas_sdk.config")


class ChangeType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


class ConfigSource(enum.StrEnum):
    """Where a namespace's current values came from."""

    REMOTE = "remote"
    CACHE = "cache"
    FILE = "file"


@dataclass(frozen=True)
class ConfigChange:
    """One key that really changed in one namespace."""

    namespace: str
    key: str
    old_value: str | None
    new_value: str | None
    change_type: ChangeType


@dataclass(frozen=True)
class ConfigChangeEvent:
    """The changes one release made to one namespace, keyed by property name."""

    namespace: str
    changes: Mapping[str, ConfigChange]

    def __iter__(self) -> Any:
        return iter(self.changes.values())


ChangeListener = Callable[[ConfigChangeEvent], None]


@dataclass(frozen=True)
class Snapshot:
    """A namespace's configurations as served, plus the parsed document for json/yaml."""

    namespace: str
    configurations: Mapping[str, str]
    source: ConfigSource
    document: Any = None

    @property
    def format(self) -> str:
        return namespace_format(self.namespace)

    def keys_view(self) -> Mapping[str, str]:
        """Properties as they are; json/yaml content flattened to `a.b` keys."""
        if self.format == "properties":
            return self.configurations
        if self.format in ("json", "yaml", "yml"):
            return flatten(self.document)
        return self.configurations


@dataclass
class NamespaceStats:
    last_sync: float | None = None
    reloads: int = 0
    rejected: int = 0
    sync_errors: int = 0
    source: ConfigSource | None = None


def make_snapshot(
    namespace: str, configurations: Mapping[str, str], source: ConfigSource, *, where: str
) -> Snapshot:
    """Validate a namespace's content for its format (raises `ConfigFormatError`)."""
    fmt = namespace_format(namespace)
    document: Any = None
    if fmt != "properties":
        document = parse_document(configurations.get("content", ""), fmt, where=where)
    return Snapshot(namespace, MappingProxyType(dict(configurations)), source, document)


def diff(namespace: str, old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, ConfigChange]:
    changes: dict[str, ConfigChange] = {}
    for key in old.keys() | new.keys():
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        kind = (
            ChangeType.ADDED
            if before is None
            else ChangeType.DELETED
            if after is None
            else ChangeType.MODIFIED
        )
        changes[key] = ConfigChange(namespace, key, before, after, kind)
    return changes


@dataclass
class _Listener:
    callback: ChangeListener
    namespaces: frozenset[str] | None
    keys: frozenset[str] | None


class ConfigStore:
    """The read side shared by `ApolloClient` and `FileConfigClient`."""

    def __init__(self, namespaces: Sequence[str], metrics: CollectorRegistry | None) -> None:
        if not namespaces:
            raise ValueError("at least one namespace is needed")
        self.namespaces: tuple[str, ...] = tuple(namespaces)
        self._snapshots: Mapping[str, Snapshot] = MappingProxyType({})
        self._stats: dict[str, NamespaceStats] = {ns: NamespaceStats() for ns in self.namespaces}
        self._listeners: list[_Listener] = []
        self._write_lock = threading.Lock()
        self._events: ThreadPoolExecutor | None = None
        self._events_lock = threading.Lock()
        self._closed = False
        from paas_sdk._collectors import collector_in
        from paas_sdk.config._metrics import ConfigCollector

        collector_in(metrics, ConfigCollector).attach(self)

    # -- reads (lock-free) -----------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """True once every namespace has values, from remote, cache or file."""
        snapshots = self._snapshots
        return all(ns in snapshots for ns in self.namespaces)

    @property
    def sources(self) -> Mapping[str, ConfigSource]:
        return {ns: snap.source for ns, snap in self._snapshots.items()}

    @property
    def source(self) -> ConfigSource | None:
        """The weakest source in use: `cache` if any namespace is served from the cache."""
        found = set(self.sources.values())
        for candidate in (ConfigSource.CACHE, ConfigSource.FILE, ConfigSource.REMOTE):
            if candidate in found:
                return candidate
        return None

    def snapshot(self, namespace: str) -> Snapshot:
        try:
            return self._snapshots[namespace]
        except KeyError:
            raise KeyError(f"namespace {namespace!r} is not loaded") from None

    def properties(self, namespace: str = "application") -> Mapping[str, str]:
        """A read-only view of the namespace's key/value map (json/yaml flattened)."""
        return self.snapshot(namespace).keys_view()

    def content(self, namespace: str) -> str:
        """The raw text of a json/yaml/xml/txt namespace."""
        return self.snapshot(namespace).configurations.get("content", "")

    def get(
        self, key: str, default: str | None = None, *, namespace: str | None = None
    ) -> str | None:
        """The value of `key` in `namespace`, or in the first namespace holding it."""
        snapshots = self._snapshots
        for ns in (namespace,) if namespace else self.namespaces:
            snap = snapshots.get(ns)
            if snap is not None:
                value = snap.keys_view().get(key)
                if value is not None:
                    return value
        return default

    def add_change_listener(
        self,
        listener: ChangeListener,
        *,
        namespaces: Sequence[str] | None = None,
        keys: Sequence[str] | None = None,
    ) -> None:
        """Call `listener` (on the `paas-config-events` thread) for each release that really
        changes a key, optionally only for some namespaces or keys."""
        self._listeners.append(
            _Listener(
                listener,
                frozenset(namespaces) if namespaces else None,
                frozenset(keys) if keys else None,
            )
        )

    def remove_change_listener(self, listener: ChangeListener) -> None:
        self._listeners = [item for item in self._listeners if item.callback is not listener]

    # -- writes (from the sync threads) ----------------------------------------------------
    def _install(self, snapshot: Snapshot) -> None:
        """Swap in a namespace's new snapshot, count it, and announce real changes."""
        namespace = snapshot.namespace
        with self._write_lock:
            previous = self._snapshots.get(namespace)
            updated = dict(self._snapshots)
            updated[namespace] = snapshot
            self._snapshots = MappingProxyType(updated)
            stats = self._stats[namespace]
            stats.source = snapshot.source
            if snapshot.source is not ConfigSource.CACHE:
                stats.last_sync = time.time()
            if previous is None:
                return
            changes = diff(namespace, previous.keys_view(), snapshot.keys_view())
            if not changes:
                return
            stats.reloads += 1
        self._dispatch(ConfigChangeEvent(namespace, MappingProxyType(changes)))

    def _synced(self, namespace: str) -> None:
        self._stats[namespace].last_sync = time.time()

    def _sync_failed(self, namespace: str) -> None:
        self._stats[namespace].sync_errors += 1

    def _rejected(self, namespace: str) -> None:
        self._stats[namespace].rejected += 1

    def _dispatch(self, event: ConfigChangeEvent) -> None:
        with self._events_lock:
            if self._closed:
                return
            if self._events is None:
                self._events = ThreadPoolExecutor(1, thread_name_prefix="paas-config-events")
            events = self._events
        with contextlib.suppress(RuntimeError):  # closed: nobody is listening any more
            events.submit(self._deliver, event)

    def _deliver(self, event: ConfigChangeEvent) -> None:
        for listener in list(self._listeners):
            if listener.namespaces is not None and event.namespace not in listener.namespaces:
                continue
            changes = event
            if listener.keys is not None:
                wanted = {k: c for k, c in event.changes.items() if k in listener.keys}
                if not wanted:
                    continue
                changes = ConfigChangeEvent(event.namespace, MappingProxyType(wanted))
            try:
                listener.callback(changes)
            except Exception:
                # One broken listener must not starve the others.
                log.exception(
                    "config change listener %r failed for namespace %s",
                    listener.callback,
                    event.namespace,
                )

    def _reset_after_fork(self) -> None:
        """Locks may have been held by threads that do not exist in a forked child."""
        self._write_lock = threading.Lock()
        self._events_lock = threading.Lock()
        self._events = None

    def _close_events(self) -> None:
        with self._events_lock:
            self._closed = True
            events, self._events = self._events, None
        if events is not None:
            events.shutdown(wait=True, cancel_futures=False)
