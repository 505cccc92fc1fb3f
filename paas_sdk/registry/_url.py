"""Dubbo URLs built and parsed exactly as Dubbo's Java `URL` writes them into ZooKeeper.

A registry leaf is `URLEncoder.encode(url.toFullString(), "UTF-8")`; `toFullString()` writes
``protocol://[user[:password]@]host[:port]/path?k=v&...`` with the parameters sorted by key and
the values raw, so a value holding ``&`` or ``=`` cannot be carried and is refused here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import quote_plus, unquote_plus

from paas_sdk.errors import InvalidDubboURLError

__all__ = [
    "DUBBO_PROTOCOL_VERSION",
    "DUBBO_RELEASE",
    "DubboURL",
    "java_url_decode",
    "java_url_encode",
]

# `dubbo` is the wire protocol version every Dubbo 2.7+/3.x provider announces.
DUBBO_PROTOCOL_VERSION = "2.0.2"
# The Dubbo release whose layout this model follows; Java consumers pick compatibility paths on it.
DUBBO_RELEASE = "3.3.5"
ANY = "*"

# `&`/`=` delimit parameters; Dubbo's `URLStrParser` also splits on `;` and cuts the URL at `#`
_FORBIDDEN_IN_VALUE = ("&", "=", ";", "#")
_KEY = re.compile(r"[A-Za-z0-9_.\-:*]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_HOST = re.compile(r"[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]")


def java_url_encode(text: str) -> str:
    """Encode as Java's `URLEncoder.encode(text, "UTF-8")`: space to `+`, `*` kept, `~` encoded."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def java_url_decode(text: str) -> str:
    """Decode like Java's `URLDecoder.decode(text, "UTF-8")`."""
    return unquote_plus(text)


def _check_value(key: str, value: str, where: str) -> None:
    for char in _FORBIDDEN_IN_VALUE:
        if char in value:
            raise InvalidDubboURLError(
                f"parameter {key!r} has value {value!r} containing {char!r},"
                " which a Dubbo URL cannot carry",
                where=where,
            )
    if value != value.strip():
        raise InvalidDubboURLError(
            f"parameter {key!r} has value {value!r} with surrounding spaces, which Dubbo trims",
            where=where,
        )


def _check_interface(interface: str, where: str) -> None:
    if not interface:
        raise InvalidDubboURLError("the interface name is empty", where=where)
    for char in ("&", "=", "?", "/", " ", ";", "#"):
        if char in interface:
            raise InvalidDubboURLError(
                f"interface name {interface!r} contains {char!r}, which Dubbo cannot carry",
                where=where,
            )


@dataclass(frozen=True)
class DubboURL:
    """One Dubbo URL: immutable, hashable, its parameters kept sorted as Dubbo writes them.

    `str(url)` is Dubbo's `toFullString()`, `url.encoded()` the ZooKeeper leaf name, and
    `DubboURL.parse()` / `DubboURL.decode()` read either back.
    """

    protocol: str
    host: str
    port: int = 0
    path: str = ""
    params: tuple[tuple[str, str], ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        where = f"{self.protocol}://{self.host}:{self.port}/{self.path}"
        if not _SCHEME.fullmatch(self.protocol):
            raise InvalidDubboURLError(f"bad protocol {self.protocol!r}", where=where)
        if not _HOST.fullmatch(self.host):
            raise InvalidDubboURLError(f"bad host {self.host!r}", where=where)
        if not 0 <= self.port <= 65535:
            raise InvalidDubboURLError(f"port {self.port} is out of range", where=where)
        if any(char in self.path for char in ("?", "&", "=", ";", "#")):
            raise InvalidDubboURLError(f"path {self.path!r} cannot be carried", where=where)
        seen: dict[str, str] = {}
        for key, value in self.params:
            if not _KEY.fullmatch(key):
                raise InvalidDubboURLError(f"bad parameter name {key!r}", where=where)
            _check_value(key, value, where)
            seen[key] = value
        ordered = tuple(sorted(seen.items()))
        if ordered != self.params:
            object.__setattr__(self, "params", ordered)
        if "interface" in seen:
            _check_interface(seen["interface"], where)

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        protocol: str,
        host: str,
        port: int = 0,
        path: str = "",
        parameters: Mapping[str, str | int | bool | None] | None = None,
    ) -> DubboURL:
        """A URL from a parameter mapping; None and empty values are left out, as Dubbo does."""
        return cls(protocol, host, port, path, _clean(parameters or {}))

    @classmethod
    def provider(
        cls,
        interface: str,
        host: str,
        port: int,
        *,
        application: str,
        methods: Iterable[str] = (),
        group: str | None = None,
        version: str | None = None,
        protocol: str = "dubbo",
        serialization: str | None = "hessian2",
        weight: int | None = None,
        timestamp_ms: int | None = None,
        pid: int | None = None,
        release: str = DUBBO_RELEASE,
        dynamic: bool = True,
        parameters: Mapping[str, str | int | bool | None] | None = None,
        path: str | None = None,
    ) -> DubboURL:
        """A provider URL with every parameter Java consumers and Dubbo Admin read.

        `path` defaults to the interface; a Triple IDL provider's path is its gRPC service name.
        """
        _check_interface(interface, f"{protocol}://{host}:{port}")
        values: dict[str, str | int | bool | None] = {
            "application": application,
            "deprecated": "false",
            "dubbo": DUBBO_PROTOCOL_VERSION,
            "dynamic": "true" if dynamic else "false",
            "generic": "false",
            "interface": interface,
            # Java's ServiceConfig writes `*` when it cannot list the methods
            "methods": ",".join(sorted(set(methods))) or ANY,
            "pid": os.getpid() if pid is None else pid,
            "release": release,
            "serialization": serialization,
            "side": "provider",
            "timestamp": _now_ms() if timestamp_ms is None else timestamp_ms,
            "group": group,
            "version": version,
            "weight": weight,
        }
        values.update(parameters or {})
        return cls.build(protocol, host, port, path or interface, values)

    @classmethod
    def consumer(
        cls,
        interface: str,
        host: str,
        *,
        application: str,
        methods: Iterable[str] = (),
        group: str | None = None,
        version: str | None = None,
        timestamp_ms: int | None = None,
        pid: int | None = None,
        release: str = DUBBO_RELEASE,
        parameters: Mapping[str, str | int | bool | None] | None = None,
    ) -> DubboURL:
        """A consumer URL as a Java consumer registers it under `.../consumers`."""
        _check_interface(interface, f"consumer://{host}")
        values: dict[str, str | int | bool | None] = {
            "application": application,
            "category": "consumers",
            "check": "false",
            "dubbo": DUBBO_PROTOCOL_VERSION,
            "interface": interface,
            "methods": ",".join(sorted(set(methods))) or ANY,
            "pid": os.getpid() if pid is None else pid,
            "release": release,
            "side": "consumer",
            "timestamp": _now_ms() if timestamp_ms is None else timestamp_ms,
            "group": group,
            "version": version,
        }
        values.update(parameters or {})
        return cls.build("consumer", host, 0, interface, values)

    def with_parameters(self, **changes: str | int | bool | None) -> DubboURL:
        """A copy with parameters added, changed, or (given None) removed."""
        merged: dict[str, str | int | bool | None] = dict(self.params)
        merged.update(changes)
        return DubboURL(
            self.protocol,
            self.host,
            self.port,
            self.path,
            _clean(merged),
            self.username,
            self.password,
        )

    # -- reading -----------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> DubboURL:
        """Parse a decoded URL string the way Dubbo's `URL.valueOf` does."""
        where = text[:200]
        if "://" not in text:
            raise InvalidDubboURLError("not a URL: no '://'", where=where)
        protocol, rest = text.split("://", 1)
        query = ""
        if "?" in rest:
            rest, query = rest.split("?", 1)
        authority, _, path = rest.partition("/")
        username = password = None
        if "@" in authority:
            credentials, authority = authority.rsplit("@", 1)
            username, _, secret = credentials.partition(":")
            password = secret or None
        host, port = authority, 0
        if authority.startswith("["):
            end = authority.find("]")
            host, tail = authority[: end + 1], authority[end + 1 :]
            if tail.startswith(":"):
                port = _port(tail[1:], where)
        elif ":" in authority:
            host, _, raw_port = authority.rpartition(":")
            port = _port(raw_port, where)
        params: dict[str, str] = {}
        for part in query.split("&"):
            if not part:
                continue
            key, eq, value = part.partition("=")
            params[key] = value if eq else key
        return cls(protocol, host, port, path, tuple(params.items()), username, password)

    @classmethod
    def decode(cls, leaf: str) -> DubboURL:
        """Parse a ZooKeeper leaf name (a URL-encoded full URL)."""
        return cls.parse(java_url_decode(leaf))

    def __str__(self) -> str:
        """Dubbo's `toFullString()`."""
        credentials = ""
        if self.username:
            credentials = self.username + (f":{self.password}" if self.password else "") + "@"
        address = self.host + (f":{self.port}" if self.port else "")
        query = "&".join(f"{key}={value}" for key, value in self.params)
        return f"{self.protocol}://{credentials}{address}/{self.path}" + (
            f"?{query}" if query else ""
        )

    def encoded(self) -> str:
        """The ZooKeeper leaf name Dubbo uses for this URL."""
        return java_url_encode(str(self))

    @property
    def parameters(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self.params))

    def get(self, key: str, default: str | None = None) -> str | None:
        for name, value in self.params:
            if name == key:
                return value
        return default

    @property
    def interface(self) -> str:
        """Dubbo's `getServiceInterface()`: the `interface` parameter, else the path."""
        return self.get("interface") or self.path

    @property
    def group(self) -> str | None:
        return self.get("group")

    @property
    def version(self) -> str | None:
        return self.get("version")

    @property
    def category(self) -> str:
        """Where the URL lives under the interface: `providers` unless it says otherwise."""
        return self.get("category") or "providers"

    @property
    def address(self) -> str:
        """``host:port``, what a consumer dials."""
        return f"{self.host}:{self.port}"

    @property
    def dynamic(self) -> bool:
        """Dynamic URLs are ephemeral nodes; `dynamic=false` ones persist until unregistered."""
        return (self.get("dynamic") or "true").lower() != "false"

    @property
    def enabled(self) -> bool:
        return (self.get("enabled") or "true").lower() != "false"

    @property
    def service_key(self) -> str:
        """``group/interface:version`` as Dubbo names a service."""
        key = self.interface
        if self.group:
            key = f"{self.group}/{key}"
        if self.version:
            key = f"{key}:{self.version}"
        return key

    def matches(self, provider: DubboURL) -> bool:
        """Whether this consumer (subscription) URL accepts `provider`, as `UrlUtils.isMatch`."""
        mine, theirs = self.interface, provider.interface
        if not (ANY in (mine, theirs) or mine == theirs):
            return False
        wanted = self.get("category")
        categories = wanted.split(",") if wanted else []
        if not _category_matches(provider.category, categories):
            return False
        if not provider.enabled and self.get("enabled") != ANY:
            return False
        group, version = self.group, self.version
        classifier = self.get("classifier", ANY)
        group_ok = group in (ANY, provider.group)
        if not group_ok and group and provider.group:
            group_ok = provider.group in group.split(",")
        version_ok = version in (ANY, provider.version)
        classifier_ok = classifier in (None, ANY) or classifier == provider.get("classifier", ANY)
        return group_ok and version_ok and classifier_ok


def _category_matches(category: str, categories: list[str]) -> bool:
    """Dubbo's `UrlUtils.isMatchCategory`: a list with any `-name` entry is an exclusion
    list (every category but those removed), not an inclusion list."""
    if not categories:
        return category == "providers"
    if ANY in categories:
        return True
    if any(c.startswith("-") for c in categories):
        return f"-{category}" not in categories
    return category in categories


def _clean(values: Mapping[str, str | int | bool | None]) -> tuple[tuple[str, str], ...]:
    cleaned: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if text:
            cleaned[key] = text
    return tuple(sorted(cleaned.items()))


def _port(raw: str, where: str) -> int:
    if not raw.isdigit():
        raise InvalidDubboURLError(f"bad port {raw!r}", where=where)
    return int(raw)


def _now_ms() -> int:
    return int(time.time() * 1000)
