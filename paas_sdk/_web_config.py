"""TLS and basic auth for the project's HTTP servers, configured the way Prometheus exporters are:
an exporter-toolkit web config file (``--web.config.file`` / ``PAAS_WEB_CONFIG_FILE``), re-read
when it or a file it names changes, so certificates rotate under a running server.

The fields and their meaning follow prometheus/exporter-toolkit ``web/tls_config.go`` and
``web/handler.go``::

    tls_server_config:
      cert_file: server.crt            # relative paths are relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: clients-ca.crt
      min_version: TLS12                # default TLS12; max_version default TLS13
    basic_auth_users:
      prometheus: $2b$12$...            # bcrypt hashes only

Python's `ssl` verifies every client certificate it asks for, so the two toolkit types that ask
without verifying (``RequestClientCert``, ``RequireAnyClientCert``) are refused rather than
silently made stricter; so is every toolkit field this server cannot honour (inline ``cert`` and
``key``, ``cipher_suites``, ``curve_preferences``, ``client_allowed_sans``, ``rate_limit``,
``http_server_config.headers``). Two are accepted without effect: ``http_server_config.http2``
(the server speaks HTTP/1.1, which every client falls back to) and
``prefer_server_cipher_suites`` (ignored by Go's TLS as well since Go 1.18).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from paas_sdk.errors import ConfigError

__all__ = ["WebConfig", "load_web_config"]

log = logging.getLogger("paas_sdk.http")

_CLIENT_AUTH = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TLS_FIELDS = {"cert_file", "key_file", "client_auth_type", "client_ca_file"}
_TLS_ACCEPTED = {*_TLS_FIELDS, "min_version", "max_version", "prefer_server_cipher_suites"}
_TOOLKIT_TLS = {"cert", "key", "client_ca", "cipher_suites", "curve_preferences"}
_TOOLKIT_TLS |= {"client_allowed_sans"}
_BCRYPT = re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")
# exporter-toolkit's hash of "fakepassword": an unknown user costs the same bcrypt time as a
# known one, so response times do not tell which users exist.
_FAKE_HASH = b"$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
_CACHE_SIZE = 100


@dataclass(frozen=True)
class _Parsed:
    context: ssl.SSLContext | None
    client_auth: str
    users: dict[str, bytes]
    files: tuple[Path, ...]


class WebConfig:
    """One web config file, checked for changes whenever a connection or a request needs it.

    A change that does not load (a certificate written before its key) keeps the last good
    state and logs why; the next change is tried again.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._bcrypt_lock = threading.Lock()  # bcrypt is slow on purpose: one at a time
        self._cache: dict[bytes, bool] = {}
        self._parsed = _parse(self.path)
        self._stamp = _stamp((self.path, *self._parsed.files))

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server-side TLS context for a new connection (None: plain HTTP)."""
        return self._current().context

    def describe(self) -> str:
        """For the startup line: what a client must bring."""
        parsed = self._current()
        parts = []
        if parsed.context is None:
            parts.append("plain HTTP")
        else:
            parts.append(f"TLS (client certificates: {parsed.client_auth or 'NoClientCert'})")
        if parsed.users:
            parts.append(f"basic auth for {len(parsed.users)} user(s)")
        return ", ".join(parts)

    def authorized(self, authorization: str | None) -> bool:
        """Whether a request's ``Authorization`` header passes (always, without users)."""
        users = self._current().users
        if not users:
            return True
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = users.get(user)
        key = hashlib.sha256(
            b"\0".join((user.encode(), hashed or _FAKE_HASH, password.encode()))
        ).digest()
        known = self._cache.get(key)
        if known is None:
            import bcrypt

            with self._bcrypt_lock:
                try:
                    matches = bcrypt.checkpw(password.encode(), hashed or _FAKE_HASH)
                except ValueError:  # longer than bcrypt's 72 bytes: no hash can match it
                    matches = False
                known = matches and hashed is not None
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = known
        return known

    def _current(self) -> _Parsed:
        with self._lock:
            stamp = _stamp((self.path, *self._parsed.files))
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._parsed = _parse(self.path)
                except ConfigError as error:
                    log.error("web config not reloaded, the previous one stays: %s", error)
                else:
                    self._stamp = _stamp((self.path, *self._parsed.files))
                    log.info("web config reloaded from %s", self.path)
            return self._parsed


def load_web_config(path: str | Path | None) -> WebConfig | None:
    """The web config at `path` (None or empty: none); `ConfigError` names the file and field."""
    if path is None or str(path) == "":
        return None
    return WebConfig(path)


def _stamp(paths: tuple[Path, ...]) -> tuple[tuple[int, int, int], ...]:
    stamps = []
    for path in paths:
        try:
            status = path.stat()
        except OSError:
            stamps.append((0, 0, 0))
        else:
            stamps.append((status.st_mtime_ns, status.st_size, status.st_ino))
    return tuple(stamps)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _parse(path: Path) -> _Parsed:
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise ConfigError(f"cannot read web config: {error.strerror}", where=where) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"web config is not valid YAML: {error}", where=where) from None
    if not isinstance(data, dict):
        raise ConfigError("web config must be a mapping", where=where)
    _known(data, {"tls_server_config", "basic_auth_users", "http_server_config"}, "", where)
    http = _mapping(data.get("http_server_config"), "http_server_config", where)
    _known(http, {"http2"}, "http_server_config.", where)
    tls = _mapping(data.get("tls_server_config"), "tls_server_config", where)
    _known(tls, _TLS_ACCEPTED, "tls_server_config.", where)
    users = _users(data.get("basic_auth_users"), where)
    files: list[Path] = []
    context = None
    client_auth = str(tls.get("client_auth_type") or "")
    if _TLS_FIELDS & {key for key, value in tls.items() if value}:
        context, files = _tls_context(tls, path.parent, where)
    return _Parsed(context, client_auth, users, tuple(files))


def _known(section: dict[str, Any], allowed: set[str], prefix: str, where: str) -> None:
    for key in section:
        if key in allowed:
            continue
        if key in _TOOLKIT_TLS or key in {"rate_limit", "headers"}:
            raise ConfigError(f"{prefix}{key}: not supported by this server", where=where)
        raise ConfigError(f"{prefix}{key}: unknown field", where=where)


def _mapping(value: Any, name: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping", where=where)
    return value


def _users(value: Any, where: str) -> dict[str, bytes]:
    users: dict[str, bytes] = {}
    for user, hashed in _mapping(value, "basic_auth_users", where).items():
        if not isinstance(hashed, str) or not _BCRYPT.fullmatch(hashed):
            raise ConfigError(
                f"basic_auth_users.{user}: expected a bcrypt hash ($2y$...), not a password",
                where=where,
            )
        users[str(user)] = hashed.encode()
    return users


def _tls_context(
    tls: dict[str, Any], directory: Path, where: str
) -> tuple[ssl.SSLContext, list[Path]]:
    def file(name: str) -> Path | None:
        value = tls.get(name)
        return None if not value else directory / str(value)

    cert, key, client_ca = file("cert_file"), file("key_file"), file("client_ca_file")
    if cert is None:
        raise ConfigError("tls_server_config.cert_file is required for TLS", where=where)
    if key is None:
        raise ConfigError("tls_server_config.key_file is required for TLS", where=where)
    client_auth = str(tls.get("client_auth_type") or "")
    if client_auth in _UNVERIFIED_CLIENT_AUTH:
        raise ConfigError(
            f"tls_server_config.client_auth_type: {client_auth} (a certificate asked for but not "
            "verified) is not supported; use VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert",
            where=where,
        )
    if client_auth not in _CLIENT_AUTH:
        raise ConfigError(
            f"tls_server_config.client_auth_type: expected one of "
            f"{', '.join(k for k in _CLIENT_AUTH if k)}, got {client_auth!r}",
            where=where,
        )
    verify_mode = _CLIENT_AUTH[client_auth]
    if client_ca is not None and verify_mode == ssl.CERT_NONE:
        raise ConfigError(
            "tls_server_config.client_ca_file is set but client_auth_type does not ask for "
            "client certificates",
            where=where,
        )
    if client_ca is None and verify_mode != ssl.CERT_NONE:
        raise ConfigError(
            f"tls_server_config.client_auth_type: {client_auth} needs client_ca_file", where=where
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for field, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        name = str(tls.get(field) or default)
        if name not in _VERSIONS:
            raise ConfigError(
                f"tls_server_config.{field}: expected one of {', '.join(_VERSIONS)}, got {name!r}",
                where=where,
            )
        setattr(context, field.replace("_version", "imum_version"), _VERSIONS[name])
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"tls_server_config: cannot load cert_file {cert} with key_file {key}: "
            f"{_reason(error)}",
            where=where,
        ) from None
    context.verify_mode = verify_mode
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"tls_server_config.client_ca_file: cannot load {client_ca}: {_reason(error)}",
                where=where,
            ) from None
    return context, [path for path in (cert, key, client_ca) if path is not None]


def _reason(error: OSError) -> str:
    """ "No such file or directory" or OpenSSL's reason ("KEY_VALUES_MISMATCH"), not a tuple."""
    return str(getattr(error, "reason", None) or error.strerror or error)
