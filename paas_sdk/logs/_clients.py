"""Settings of the log pipeline's Kafka and Elasticsearch clients: credentials read from files or
environment variables (never only from the command line), and addresses masked wherever shown.

Masking follows Logstash (``http://elastic:xxxxxx@host``): a URL keeps its user name, its
password becomes ``xxxxxx``, and query values that name a secret are masked too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from paas_sdk.errors import LogIndexingError
from paas_sdk.logs._librdkafka import LIBRDKAFKA_LOGGER

__all__ = [
    "EsSettings",
    "KafkaSettings",
    "mask",
    "mask_url",
    "read_properties",
    "read_secret",
]

MASK = "xxxxxx"
# user:password@ in any URL-looking text (the password may hold anything but '@' and '/').
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")
# key=value pairs whose key names a secret, in query strings and librdkafka/JAAS text.
_SECRET_PAIR = re.compile(
    r"(?P<key>\b[\w.-]*(?:password|passwd|secret|token|api[_-]?key|apikey)[\w.-]*)"
    r"(?P<sep>\s*=\s*)(?P<quote>\"?)(?P<value>[^\s&;\"]+)(?P=quote)",
    re.IGNORECASE,
)


def mask(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with URL passwords, ``password=...``-style values and each of `secrets` masked."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _SECRET_PAIR.sub(lambda m: f"{m['key']}{m['sep']}{m['quote']}{MASK}{m['quote']}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def mask_url(url: str) -> str:
    """`url` as it may be shown: ``http://user:xxxxxx@host:port/``."""
    return mask(url)


def read_secret(value: str | None, file: Path | None, what: str) -> str | None:
    """A secret given by value (an environment variable) or by a file (a mounted Secret);
    a file wins, its trailing newline dropped."""
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise LogIndexingError(f"cannot read {what}: {exc.strerror}", where=str(file)) from None
        if not text:
            raise LogIndexingError(f"{what} file is empty", where=str(file))
        return text
    return value or None


def read_properties(path: Path) -> dict[str, str]:
    """A Java-style ``key=value`` properties file (librdkafka client settings): ``#`` and ``!``
    start comments, blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LogIndexingError(f"cannot read: {exc.strerror}", where=str(path)) from None
    settings: dict[str, str] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise LogIndexingError("expected key=value", where=f"{path}:{number}")
        settings[key.strip()] = value.strip()
    return settings


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach Kafka: bootstrap servers, security (SASL PLAIN/SCRAM, SSL with a CA file)
    and any further librdkafka properties."""

    bootstrap: str
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    def config(self) -> dict[str, Any]:
        """librdkafka settings (`extra` first, so that explicit options win)."""
        config: dict[str, Any] = {
            **self.extra,
            "bootstrap.servers": self.bootstrap,
            "logger": LIBRDKAFKA_LOGGER,  # not raw lines on stderr
        }
        if self.security_protocol:
            config["security.protocol"] = self.security_protocol
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.username is not None:
            config["sasl.username"] = self.username
        if self.password is not None:
            config["sasl.password"] = self.password
        if self.ca_file is not None:
            config["ssl.ca.location"] = str(self.ca_file)
        if "sasl.username" in config and "security.protocol" not in config:
            config["security.protocol"] = "SASL_PLAINTEXT"
        return config

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values never to show (the password, and any secret among the extra properties)."""
        values = [self.password or ""]
        values += [v for k, v in self.extra.items() if _SECRET_PAIR.search(f"{k}=x")]
        return tuple(v for v in values if v)


@dataclass(frozen=True)
class EsSettings:
    """How to reach Elasticsearch: URL (credentials in it are allowed but masked), API key or
    basic auth from files or the environment, and a CA file for TLS."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None

    @property
    def shown(self) -> str:
        """The URL as error lines show it."""
        return mask_url(self.url)

    @property
    def secrets(self) -> tuple[str, ...]:
        values = (self.api_key or "", self.password or "", urlsplit(self.url).password or "")
        return tuple(v for v in values if v)

    def client(self, **options: Any) -> Any:
        from elasticsearch import Elasticsearch

        if not self.url.startswith(("http://", "https://")):
            raise LogIndexingError(f"expected an http(s) URL, got {self.shown!r}", where="--es")
        kwargs: dict[str, Any] = dict(options)
        if self.api_key:
            kwargs["api_key"] = self.api_key
        elif self.username is not None:
            kwargs["basic_auth"] = (self.username, self.password or "")
        if self.ca_file is not None:
            if not self.ca_file.is_file():
                raise LogIndexingError("no such CA file", where=str(self.ca_file))
            kwargs["ca_certs"] = str(self.ca_file)
        return Elasticsearch(self.url, **kwargs)


def env(name: str) -> str | None:
    """An environment variable, or None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None
