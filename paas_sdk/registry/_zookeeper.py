"""Dubbo's interface-level registry on ZooKeeper, with kazoo, surviving session loss as Dubbo does.

Layout: ``/{root}/{encode(interface)}/{category}/{encode(full URL)}``; parents persistent, leaves
ephemeral unless ``dynamic=false``. Every ZooKeeper call runs on the caller's thread or on the
``paas-registry`` worker, never on kazoo's own threads; listeners run on ``paas-registry-events``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from prometheus_client import REGISTRY
from prometheus_client.registry import CollectorRegistry
from pydantic import SecretStr

from paas_sdk._collectors import collector_in
from paas_sdk.errors import RegistryAuthError, RegistryConnectionError, RegistryError
from paas_sdk.registry._metrics import RegistryCollector
from paas_sdk.registry._url import DubboURL, java_url_encode

if TYPE_CHECKING:
    from kazoo.client import KazooClient

__all__ = ["ProvidersListener", "Subscription", "Watch", "ZooKeeperRegistry"]

log = logging.getLogger("paas_sdk.registry")

ProvidersListener = Callable[[tuple[DubboURL, ...]], None]

# nodes per multi-op transaction when restoring: ~150 kB of paths, far below jute.maxbuffer
_BATCH = 200


@dataclass(frozen=True)
class _Node:
    """A znode this registry keeps in place: a Dubbo URL leaf or an application instance."""

    side: str
    ephemeral: bool
    data: bytes = b""
    url: DubboURL | None = None


class Subscription:
    """The live providers of one interface (and group/version), kept current by watches.

    `providers` is an immutable tuple swapped in one assignment: reading it takes no lock and
    never waits on the network.
    """

    def __init__(
        self, registry: ZooKeeperRegistry, url: DubboURL, path: str, listeners: list[Any]
    ) -> None:
        self.url = url
        self.path = path
        self.providers: tuple[DubboURL, ...] = ()
        self._registry = registry
        self._listeners: list[ProvidersListener] = listeners
        self._closed = False

    @property
    def interface(self) -> str:
        return self.url.interface

    @property
    def addresses(self) -> tuple[str, ...]:
        """``host:port`` of every matching provider."""
        return tuple(p.address for p in self.providers)

    def add_listener(self, listener: ProvidersListener) -> None:
        """Call `listener(providers)` on every change, on the `paas-registry-events` thread."""
        self._listeners.append(listener)

    def close(self) -> None:
        self._closed = True
        self._registry._forget(self)

    def _on_watch(self, _event: object) -> None:
        # kazoo's thread: hand over and return at once
        if not self._closed:
            self._registry._submit(lambda: self._registry._refresh(self))


class Watch:
    """A `watch_data` or `watch_children` watch; `close()` ends it.

    Asked for while the registry is not connected, it is armed once a session is up, as a
    subscription is refreshed then.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.closed = False

    def close(self) -> None:
        # kazoo has no way to remove a recipe watch: its callback returning False ends it
        self.closed = True


class ZooKeeperRegistry:
    """Register Dubbo providers and consumers in ZooKeeper and subscribe to providers.

    >>> registry = ZooKeeperRegistry("127.0.0.1:2181").start()
    >>> registry.register(DubboURL.provider("com.acme.Greeter", "10.0.0.5", 20880,
    ...                                     application="greeter", methods=["greet"]))
    >>> greeters = registry.subscribe("com.acme.Greeter")
    >>> greeters.addresses
    ('10.0.0.5:20880',)
    >>> registry.close()  # unregisters first, then closes the session

    `username`/`password` add digest auth and create nodes readable and writable only by that
    identity (Dubbo's `CREATOR_ALL_ACL`), like ``zookeeper://user:pass@host`` in Dubbo.
    With `retry_in_background`, an unreachable ZooKeeper at `start()` is logged and retried
    forever instead of raising `RegistryConnectionError` after `connect_timeout` seconds.

    Without credentials (or with an ACL granting ``world:anyone`` write rights) every node is
    world-writable: any client reaching ZooKeeper can delete or rewrite providers and so redirect
    Dubbo traffic. `start()` warns about it, or with `refuse_open_acl` raises `RegistryAuthError`
    before writing anything.
    """

    def __init__(
        self,
        hosts: str,
        *,
        root: str = "dubbo",
        username: str | None = None,
        password: SecretStr | str | None = None,
        acl: Sequence[Any] | None = None,
        session_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        operation_timeout: float = 10.0,
        retry_in_background: bool = False,
        refuse_open_acl: bool = False,
        metrics: CollectorRegistry | None = REGISTRY,
    ) -> None:
        if not hosts.strip():
            raise RegistryError("the ZooKeeper connect string is empty", where="hosts")
        if (username is None) != (password is None):
            raise RegistryError("digest auth needs both a username and a password", where=hosts)
        self.hosts = hosts
        self.root = "/" + root.strip("/") if root.strip("/") else ""
        self.username = username
        self._password = SecretStr(password) if isinstance(password, str) else password
        self._acl = list(acl) if acl is not None else None
        self.session_timeout = session_timeout
        self.connect_timeout = connect_timeout
        self.operation_timeout = operation_timeout
        self.retry_in_background = retry_in_background
        self.refuse_open_acl = refuse_open_acl
        self._metrics: RegistryCollector | None = (
            collector_in(metrics, RegistryCollector) if metrics else None
        )

        self._client: KazooClient | None = None
        self._lock = threading.Lock()  # guards the dicts below, held only for dict operations
        self._ops = threading.Lock()  # serialises writes so unregister never races a restore
        self._wanted: dict[str, _Node] = {}
        self._present: set[str] = set()
        # unregistrations that did not reach ZooKeeper, retried until they do (FailbackRegistry)
        self._failed_drops: set[str] = set()
        self._subscriptions: list[Subscription] = []
        # watches asked for while not connected (or whose arming lost the connection), with what
        # arms them: armed when a session is up
        self._pending_watches: list[tuple[Watch, Callable[[KazooClient], object]]] = []
        self._connected = False
        self._session_id: int | None = None
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._events: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self.last_restore_seconds: float | None = None
        self.sessions_reestablished = 0
        _watch_forks(self)

    @classmethod
    def from_address(cls, address: str, **options: Any) -> ZooKeeperRegistry:
        """A registry from Dubbo's registry address, as Java services configure it.

        ``zookeeper://[user:password@]host:port[?backup=host:port,...][&group=root]
        [&session=ms][&timeout=ms]``: `group` is the root, `session` the session timeout and
        `timeout` the connect timeout, both in milliseconds. Keyword `options` win.
        """
        if not address.startswith("zookeeper://"):
            raise RegistryError("expected a zookeeper:// address", where=_without_secret(address))
        rest = address.removeprefix("zookeeper://")
        rest, _, query = rest.partition("?")
        rest = rest.rstrip("/")
        username = password = None
        if "@" in rest:
            credentials, rest = rest.rsplit("@", 1)
            username, _, password = credentials.partition(":")
        params = dict(part.partition("=")[::2] for part in query.split("&") if part)
        hosts = ",".join(h for h in [rest, *params.get("backup", "").split(",")] if h)
        settings: dict[str, Any] = {}
        if username:
            settings.update(username=username, password=SecretStr(password or ""))
        if params.get("group"):
            settings["root"] = params["group"]
        for key, option in (("session", "session_timeout"), ("timeout", "connect_timeout")):
            if key in params:
                if not params[key].isdigit():
                    raise RegistryError(
                        f"{key}={params[key]!r} is not a number of milliseconds",
                        where=_without_secret(address),
                    )
                settings[option] = int(params[key]) / 1000
        settings.update(options)
        return cls(hosts, **settings)

    # -- connection ----------------------------------------------------------------------------
    def start(self) -> Self:
        """Connect; raise `RegistryConnectionError` if ZooKeeper is not reached in time."""
        if self._client is not None:
            return self
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry
        from kazoo.security import CREATOR_ALL_ACL, OPEN_ACL_UNSAFE

        auth = None
        if self.username is not None and self._password is not None:
            secret = self._password.get_secret_value()
            auth = [("digest", f"{self.username}:{secret}")]
        if self._acl is None:
            self._acl = list(CREATOR_ALL_ACL if auth else OPEN_ACL_UNSAFE)
        if _world_writable(self._acl):
            message = (
                f"nodes under {self.root or '/'} would be world-writable (world:anyone): any "
                "client reaching ZooKeeper could delete or rewrite providers and redirect Dubbo "
                "calls; give digest credentials (zookeeper://user:password@host) or an ACL"
            )
            if self.refuse_open_acl:
                raise RegistryAuthError(message, where=self.hosts)
            log.warning("ZooKeeper %s: %s", self.hosts, message)
        try:
            client = KazooClient(
                hosts=self.hosts,
                timeout=self.session_timeout,
                auth_data=auth,
                default_acl=self._acl,
                connection_retry=KazooRetry(max_tries=-1, max_delay=10),
                logger=logging.getLogger("paas_sdk.registry.kazoo"),
            )
        except (ValueError, TypeError) as exc:
            raise RegistryError(f"bad ZooKeeper connect string: {exc}", where=self.hosts) from None
        self._client = client
        client.add_listener(self._on_state)
        self._threads = [
            threading.Thread(target=self._serve, args=(self._tasks,), name="paas-registry"),
            threading.Thread(target=self._serve, args=(self._events,), name="paas-registry-events"),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        if self._metrics:
            self._metrics.attach(self)
        started = client.start_async()
        started.wait(self.connect_timeout)
        if not client.connected:
            if self.retry_in_background:
                log.warning(
                    "ZooKeeper %s not reachable after %.0f s; retrying in the background",
                    self.hosts,
                    self.connect_timeout,
                )
                return self
            self._shutdown_client()
            raise RegistryConnectionError(
                f"could not connect to ZooKeeper within {self.connect_timeout:g} s",
                where=self.hosts,
            )
        return self

    def _reset_after_fork(self) -> None:
        """In a forked child: the parent's client and threads do not exist here. Forget them
        (never touching the parent's session) so that `start()` connects afresh."""
        self._client = None
        self._threads = []
        self._connected = False
        self._session_id = None
        self._lock = threading.Lock()
        self._ops = threading.Lock()
        self._present = set()
        self._failed_drops = set()
        self._tasks = queue.SimpleQueue()
        self._events = queue.SimpleQueue()

    @property
    def connected(self) -> bool:
        """True while the client has a live session."""
        return self._connected

    @property
    def registered(self) -> bool:
        """True when connected and every URL asked for is in ZooKeeper in this session."""
        with self._lock:
            return self._connected and bool(self._wanted) and self._present >= set(self._wanted)

    @property
    def session_id(self) -> int | None:
        """The current ZooKeeper session's id (None before the first session)."""
        client = self._client
        if client is not None and self._connected and client.client_id:
            return int(client.client_id[0])
        return self._session_id

    def close(self, timeout: float = 5.0) -> None:
        """Unregister everything this registry created, then end the session and threads."""
        if self._client is None:
            return
        with contextlib.suppress(RegistryError):
            self.unregister_all(timeout=timeout, dynamic_only=True)
        for subscription in list(self._subscriptions):
            subscription._closed = True
        self._subscriptions.clear()
        with self._lock:
            self._pending_watches.clear()
        self._shutdown_client()

    def _shutdown_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.remove_listener(self._on_state)
            with contextlib.suppress(Exception):
                client.stop()
                client.close()
        self._connected = False
        for q in (self._tasks, self._events):
            q.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(5)
        self._threads = []
        if self._metrics:
            self._metrics.detach(self)
        with self._lock:
            self._present.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- registration --------------------------------------------------------------------------
    def path_for(self, url: DubboURL) -> str:
        """The znode Dubbo uses for `url`."""
        return f"{self.category_path(url.interface, url.category)}/{url.encoded()}"

    def category_path(self, interface: str, category: str = "providers") -> str:
        return f"{self.root}/{java_url_encode(interface)}/{category}"

    def register(self, url: DubboURL) -> None:
        """Register `url` now (if connected) and after every new session until unregistered.

        Raises `RegistryAuthError` when the ACLs refuse this identity.
        """
        node = _Node(url.get("side") or "provider", url.dynamic, url=url)
        self._keep(self.path_for(url), node)

    def _keep(self, path: str, node: _Node) -> None:
        with self._lock:
            self._wanted[path] = node
            self._failed_drops.discard(path)
        if self._connected:
            try:
                with self._ops:
                    self._ensure([(path, node)])
            except RegistryAuthError:
                with self._lock:
                    self._wanted.pop(path, None)
                raise
            except Exception as exc:  # a lost connection: the restore after reconnecting does it
                if _is_auth_error(exc):
                    raise
                log.warning("registering %s deferred until reconnected: %r", path, exc)

    def unregister(self, url: DubboURL) -> None:
        """Remove `url` from ZooKeeper and from what is restored after a new session."""
        self._drop(self.path_for(url))

    def _drop(self, path: str) -> None:
        with self._lock:
            self._wanted.pop(path, None)
            self._present.discard(path)
            if self._client is not None:  # not started (here): nothing of ours is in ZooKeeper
                self._failed_drops.add(path)
        if self._connected:
            with self._ops:
                self._delete([path], self.operation_timeout)

    def _delete(self, paths: Sequence[str], timeout: float) -> list[str]:
        """Delete `paths` (pipelined); those that fail stay queued for the next connection.

        Returns the paths that could not be deleted. Call with `_ops` held.
        """
        from kazoo.exceptions import NoNodeError

        client = self._client
        failed = list(paths)
        if client is not None and self._connected:
            pending = [(path, client.delete_async(path)) for path in paths]
            deadline = time.monotonic() + timeout
            failed = []
            for path, result in pending:
                try:
                    result.get(timeout=max(0.01, deadline - time.monotonic()))
                except NoNodeError:
                    pass
                except Exception as exc:
                    if _is_auth_error(exc):
                        self._raise(exc, path)
                    log.warning("unregistering %s failed, retried on reconnect: %r", path, exc)
                    failed.append(path)
        with self._lock:
            self._failed_drops.difference_update(set(paths) - set(failed))
        return failed

    def unregister_all(self, timeout: float = 5.0, *, dynamic_only: bool = False) -> int:
        """Remove every registration (graceful shutdown's first step); returns how many.

        With `dynamic_only`, `dynamic=false` registrations stay in ZooKeeper, as Dubbo's
        `AbstractRegistry.destroy` leaves them. What cannot be deleted now is retried on the
        next connection.
        """
        with self._lock:
            wanted = {
                path: node
                for path, node in self._wanted.items()
                if not dynamic_only or node.url is None or node.url.dynamic
            }
            for path in wanted:
                del self._wanted[path]
                self._present.discard(path)
            if self._client is not None:
                self._failed_drops.update(wanted)
        if not wanted:
            return 0
        with self._ops:
            failed = self._delete(list(wanted), timeout)
        if failed and self._connected:
            raise RegistryError(
                f"could not unregister {len(failed)} node(s) in {timeout:g} s", where=failed[0]
            )
        return len(wanted)

    @property
    def registrations(self) -> tuple[DubboURL, ...]:
        with self._lock:
            return tuple(n.url for n in self._wanted.values() if n.url is not None)

    def registered_sides(self) -> Counter[str]:
        """How many URLs are in ZooKeeper now, by `side` (provider or consumer)."""
        with self._lock:
            return Counter(
                self._wanted[p].side
                for p in self._present
                if p in self._wanted and self._wanted[p].side
            )

    def provider_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for subscription in list(self._subscriptions):
            counts[subscription.interface] += len(subscription.providers)
        return counts

    def _ensure(self, items: Sequence[tuple[str, _Node]]) -> None:
        """Create the nodes; replace ephemerals owned by another (old) session.

        Many nodes go in multi-op transactions sent back to back (after a new session they
        usually all succeed: one round trip per batch); a batch that fails as a whole, say on a
        missing parent or a stale node, is redone node by node.
        """
        client = self._client
        if client is None:
            raise RegistryConnectionError("the registry is not started", where=self.hosts)
        if len(items) < 8:
            self._ensure_each(items)
            return
        batches = []
        for start in range(0, len(items), _BATCH):
            batch = items[start : start + _BATCH]
            transaction = client.transaction()
            for path, node in batch:
                transaction.create(path, node.data, acl=self._acl, ephemeral=node.ephemeral)
            batches.append((batch, transaction.commit_async()))
        for batch, result in batches:
            try:
                outcomes = result.get(timeout=self.operation_timeout)
            except Exception as exc:
                if _is_auth_error(exc):
                    self._raise(exc, batch[0][0])
                outcomes = [exc]
            if any(isinstance(outcome, Exception) for outcome in outcomes):
                self._ensure_each(batch)
                continue
            with self._lock:
                self._present.update(path for path, _ in batch if path in self._wanted)

    def _ensure_each(self, items: Sequence[tuple[str, _Node]]) -> None:
        """Create node by node (pipelined), making parents and replacing stale ephemerals."""
        from kazoo.exceptions import NodeExistsError, NoNodeError

        client = self._client
        if client is None:
            raise RegistryConnectionError("the registry is not started", where=self.hosts)
        session = client.client_id[0] if client.client_id else None
        pending = [
            (
                path,
                node,
                client.create_async(
                    path, node.data, acl=self._acl, ephemeral=node.ephemeral, makepath=True
                ),
            )
            for path, node in items
        ]
        existing: list[tuple[str, _Node]] = []
        for path, node, result in pending:
            try:
                result.get(timeout=self.operation_timeout)
            except NodeExistsError:
                existing.append((path, node))
                continue
            except Exception as exc:
                self._raise(exc, path)
            with self._lock:
                if path in self._wanted:
                    self._present.add(path)
        for path, node in existing:
            for _attempt in range(3):
                try:
                    stat = client.exists(path)
                    if stat is None:
                        client.create(
                            path, node.data, acl=self._acl, ephemeral=node.ephemeral, makepath=True
                        )
                    elif node.ephemeral and stat.ephemeralOwner != session:
                        # left by an old session: once that session expires ZooKeeper would
                        # delete it and the provider would vanish, so take it over now
                        log.info("replacing %s left by session 0x%x", path, stat.ephemeralOwner)
                        client.delete(path, version=stat.version)
                        client.create(path, node.data, acl=self._acl, ephemeral=True, makepath=True)
                    break
                except (NodeExistsError, NoNodeError):
                    continue
                except Exception as exc:
                    self._raise(exc, path)
            with self._lock:
                if path in self._wanted:
                    self._present.add(path)

    def _raise(self, exc: BaseException, path: str) -> None:
        if _is_auth_error(exc):
            who = f"digest user {self.username!r}" if self.username else "an anonymous client"
            raise RegistryAuthError(
                f"ZooKeeper refused {who} ({type(exc).__name__}): wrong digest credentials or"
                " an ACL that does not grant this identity",
                where=path,
            ) from None
        raise exc

    # -- subscriptions -------------------------------------------------------------------------
    def subscribe(
        self,
        interface: str,
        *,
        group: str | None = None,
        version: str | None = None,
        listener: ProvidersListener | None = None,
    ) -> Subscription:
        """Follow the providers of `interface` matching `group`/`version` (``*`` for any).

        The list is read before returning when connected, and kept current afterwards.
        """
        url = DubboURL.build(
            "consumer",
            "0.0.0.0",
            0,
            interface,
            {
                "interface": interface,
                "category": "providers",
                "group": group,
                "version": version,
                "side": "consumer",
            },
        )
        subscription = Subscription(
            self, url, self.category_path(interface), [listener] if listener else []
        )
        self._subscriptions.append(subscription)
        if self._connected:
            try:
                self._refresh(subscription)
            except RegistryAuthError:
                self._forget(subscription)
                raise
        return subscription

    def _forget(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    def _refresh(self, subscription: Subscription) -> None:
        client = self._client
        if client is None or subscription._closed:
            return
        try:
            client.ensure_path(subscription.path, acl=self._acl)
            children = client.get_children(subscription.path, watch=subscription._on_watch)
        except Exception as exc:
            if _is_auth_error(exc):
                self._raise(exc, subscription.path)
            log.debug("refreshing %s failed: %r", subscription.path, exc)
            return
        providers: list[DubboURL] = []
        for child in children:
            try:
                provider = DubboURL.decode(child)
            except RegistryError as exc:
                log.warning("ignoring a provider node Dubbo could not parse either: %s", exc)
                continue
            if provider.protocol != "empty" and subscription.url.matches(provider):
                providers.append(provider)
        updated = tuple(sorted(providers, key=str))
        if updated != subscription.providers:
            subscription.providers = updated
            for listener in list(subscription._listeners):
                self._events.put(functools.partial(listener, updated))

    def watch_data(self, path: str, listener: Callable[[bytes | None], None]) -> Watch:
        """Call `listener(data)` with the node's data now and on every change (None: no node).

        For config-centre documents such as Dubbo Admin's governance rules; kazoo re-arms the
        watch after reconnecting. While not connected the watch is armed once a session is up,
        as subscriptions are. `listener` runs on the `paas-registry-events` thread.
        """
        watch = Watch(path)

        def changed(data: bytes | None, _stat: object) -> bool | None:
            if watch.closed:
                return False  # ends kazoo's DataWatch
            self._events.put(functools.partial(listener, data))
            return None

        def arm(client: KazooClient) -> object:
            from kazoo.recipe.watchers import DataWatch

            return DataWatch(client, path, changed)

        self._arm_or_defer(watch, arm)
        return watch

    def watch_children(self, path: str, listener: Callable[[list[str]], None]) -> Watch:
        """Call `listener(children)` now and on every change of `path`'s children.

        The path is created if missing (a watch on a missing path would stop silently). While
        not connected the watch is armed once a session is up, as subscriptions are.
        `listener` runs on the `paas-registry` worker, where it may `read()` from ZooKeeper.
        """
        watch = Watch(path)

        def changed(children: list[str]) -> bool | None:
            if watch.closed:
                return False  # ends kazoo's ChildrenWatch
            self._submit(functools.partial(listener, list(children)))
            return None

        def arm(client: KazooClient) -> object:
            from kazoo.recipe.watchers import ChildrenWatch

            client.ensure_path(path, acl=self._acl)
            return ChildrenWatch(client, path, changed)

        self._arm_or_defer(watch, arm)
        return watch

    def _arm_or_defer(self, watch: Watch, arm: Callable[[KazooClient], object]) -> None:
        """Arm `watch` now when connected, else when a session is up: a consumer started while
        ZooKeeper is down (retry_in_background) still gets its rules and providers."""
        client = self._client
        if client is not None and self._connected:
            try:
                arm(client)
                return
            except Exception as exc:
                if not _is_connection_error(exc):
                    self._raise(exc, watch.path)
                log.warning("watching %s deferred until reconnected: %r", watch.path, exc)
        with self._lock:
            self._pending_watches.append((watch, arm))
        if self._connected:  # connected meanwhile: the arming on connect may have run already
            self._submit(self._arm_pending)

    def _arm_pending(self) -> None:
        """On the `paas-registry` worker: arm the watches asked for while not connected."""
        client = self._client
        if client is None or not self._connected:
            return  # the next connection arms them
        with self._lock:
            pending, self._pending_watches = self._pending_watches, []
        failed = []
        for watch, arm in pending:
            if watch.closed:
                continue
            try:
                arm(client)
            except Exception as exc:
                if _is_auth_error(exc):  # retrying will not help; nobody is left to raise to
                    log.error("ZooKeeper refused the watch on %s: %r", watch.path, exc)
                else:
                    failed.append((watch, arm))
        if failed:
            with self._lock:
                self._pending_watches[:0] = failed
            log.warning("arming %d watches failed, retrying in 1 s", len(failed))
            retry = threading.Timer(1.0, lambda: self._submit(self._arm_pending))
            retry.daemon = True
            retry.name = "paas-registry-retry"
            retry.start()

    def read(self, path: str) -> bytes | None:
        """A node's data, None when it does not exist (or the registry is not connected)."""
        from kazoo.exceptions import NoNodeError

        client = self._client
        if client is None or not self._connected:
            return None
        try:
            data, _stat = client.get(path)
        except NoNodeError:
            return None
        except Exception as exc:
            self._raise(exc, path)
            raise
        return bytes(data)

    def submit(self, task: Callable[[], None]) -> None:
        """Run `task` on the `paas-registry` worker, where ZooKeeper may be called."""
        self._submit(task)

    # -- session handling ----------------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        # kazoo's connection thread: record and hand over, never call ZooKeeper here
        if state == "CONNECTED":
            self._connected = True
            client = self._client
            session = client.client_id[0] if client is not None and client.client_id else None
            connected_at = time.monotonic()
            self._submit(lambda: self._restore(session, connected_at))
            self._submit(self._arm_pending)
        else:
            self._connected = False
            if state == "LOST":
                with self._lock:
                    self._present.clear()
                self._submit(lambda: log.warning("ZooKeeper session lost; restoring on reconnect"))
            else:
                self._submit(lambda: log.warning("ZooKeeper connection suspended"))

    def _restore(self, session: int | None, connected_at: float) -> None:
        if self._client is None or not self._connected:
            return
        previous, self._session_id = self._session_id, session
        new_session = previous is not None and session != previous
        with self._lock:
            items = [(p, u) for p, u in self._wanted.items() if p not in self._present]
            drops = sorted(self._failed_drops)
        try:
            with self._ops:
                if drops and self._delete(drops, self.operation_timeout):
                    raise RegistryError("unregistrations still failing", where=drops[0])
                # only what is still wanted: an unregister may have run since
                with self._lock:
                    items = [(p, u) for p, u in items if p in self._wanted]
                self._ensure(items)
        except Exception as exc:
            log.warning("restoring registrations failed, retrying in 1 s: %r", exc)
            retry = threading.Timer(
                1.0, lambda: self._submit(lambda: self._restore(session, connected_at))
            )
            retry.daemon = True
            retry.name = "paas-registry-retry"
            retry.start()
            return
        for subscription in list(self._subscriptions):
            with contextlib.suppress(RegistryError):
                self._refresh(subscription)
        if new_session:
            self.last_restore_seconds = time.monotonic() - connected_at
            self.sessions_reestablished += 1
            if self._metrics:
                self._metrics.session_reestablished()
            log.info(
                "new ZooKeeper session 0x%x: %d registrations, %d subscriptions restored in %.3f s",
                session or 0,
                len(items),
                len(self._subscriptions),
                self.last_restore_seconds,
            )

    def _submit(self, task: Callable[[], None]) -> None:
        self._tasks.put(task)

    @staticmethod
    def _serve(tasks: queue.SimpleQueue[Callable[[], None] | None]) -> None:
        while (task := tasks.get()) is not None:
            try:
                task()
            except Exception:
                log.exception("registry task failed")


def _without_secret(address: str) -> str:
    """The address with any password masked, fit for an error message."""
    head, at, tail = address.rpartition("@")
    if not at:
        return address
    scheme, _, credentials = head.rpartition("//")
    user = credentials.split(":", 1)[0]
    return f"{scheme}//{user}:***@{tail}"


def _world_writable(acl: Sequence[Any]) -> bool:
    """Whether an ACL lets anyone (``world:anyone``) write, create, delete or administer."""
    from kazoo.security import Permissions

    writes = Permissions.WRITE | Permissions.CREATE | Permissions.DELETE | Permissions.ADMIN
    return any(
        entry.id.scheme == "world" and entry.id.id == "anyone" and entry.perms & writes
        for entry in acl
    )


def _is_auth_error(exc: BaseException) -> bool:
    from kazoo.exceptions import AuthFailedError, InvalidACLError, NoAuthError

    return isinstance(exc, NoAuthError | AuthFailedError | InvalidACLError)


def _is_connection_error(exc: BaseException) -> bool:
    """A failure the next session cures: the connection dropped, or the session ended."""
    from kazoo.exceptions import ConnectionClosedError, ConnectionLoss, SessionExpiredError
    from kazoo.handlers.threading import KazooTimeoutError

    return isinstance(
        exc, ConnectionLoss | SessionExpiredError | ConnectionClosedError | KazooTimeoutError
    )


_forked_registries: weakref.WeakSet[ZooKeeperRegistry] = weakref.WeakSet()
_fork_hook_installed = False


def _watch_forks(registry: ZooKeeperRegistry) -> None:
    """Reset registries in a forked child (gunicorn/uWSGI workers call `start()` again there)."""
    global _fork_hook_installed  # noqa: PLW0603 - one process-wide hook, installed on first use
    _forked_registries.add(registry)
    if not _fork_hook_installed:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_installed = True


def _after_fork_in_child() -> None:
    for registry in list(_forked_registries):
        registry._reset_after_fork()
