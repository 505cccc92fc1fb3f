"""ECS 8.x JSON lines for stdlib logging: one document per record, encoded with orjson.

The document has the shape Filebeat gives stdout logs of a Kubernetes pod (``kubernetes.*``,
``host.*``, ``container.*``) so that both paths land in one index with one mapping.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import re
import secrets
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from paas_sdk.context import ServiceContext

__all__ = [
    "DEFAULT_REDACTED_KEYS",
    "ECS_VERSION",
    "EcsFormatter",
    "current_trace",
    "new_record_id",
]

ECS_VERSION = "8.11.0"
# sentry-python's default deny-list (sentry_sdk/scrubber.py), with the spellings it lists once
# (``api_key``) also matched inside longer keys: each entry matches a key's whole name or a run of
# its words (``db_password``, ``x-api-key``, ``clientSecret``), case and separators aside.
DEFAULT_REDACTED_KEYS: frozenset[str] = frozenset(
    {
        "password", "passwd", "pwd", "mysql_pwd", "secret", "api_key", "apikey", "auth",
        "credentials", "private_key", "privatekey", "token", "session", "csrftoken",
        "sessionid", "session_id", "csrf", "csrf_token", "xsrf_token", "x_csrftoken",
        "x_forwarded_for", "x_real_ip", "cookie", "set_cookie", "authorization",
        "proxy_authorization", "x_api_key", "connect.sid", "phpsessid", "symfony",
    }
)  # fmt: skip
# Words too common to match inside a longer key (``author``, ``session_count``): whole keys only.
_WHOLE_KEYS_ONLY = frozenset({"auth", "session", "csrf", "symfony"})
REDACTED = "[REDACTED]"
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _words(key: str) -> list[str]:
    """``X-Api-Key`` / ``clientSecret`` / ``db_password`` as lower-case words."""
    return [w.lower() for w in _WORD.findall(key)]


class SecretKeys:
    """Whether a key names a secret, by the rule of `DEFAULT_REDACTED_KEYS`; decisions cached
    (bounded), so a key costs its matching once, off the logging fast path."""

    def __init__(self, entries: Iterable[str]) -> None:
        whole: set[str] = set()
        runs: set[str] = set()
        for entry in entries:
            joined = "".join(_words(entry))
            whole.add(joined)
            if joined not in _WHOLE_KEYS_ONLY:
                runs.add(joined)
        self._whole = frozenset(whole)
        self._runs = frozenset(runs)
        self._longest = max((len(r) for r in runs), default=0)
        self._seen: dict[str, bool] = {}

    def __call__(self, key: str) -> bool:
        known = self._seen.get(key)
        if known is None:
            known = self._match(key)
            if len(self._seen) < 4096:  # bounded: keys built from data must not grow it
                self._seen[key] = known
        return known

    def _match(self, key: str) -> bool:
        if any("".join(_words(segment)) in self._whole for segment in key.split(".")):
            return True
        words = _words(key)
        for start in range(len(words)):
            run = ""
            for word in words[start:]:
                run += word
                if len(run) > self._longest:
                    break
                if run in self._runs:
                    return True
        return False


# Set by the SDK's own instrumentation (or a service) when no OpenTelemetry span is active:
# (trace id, span id) as lower-case hex.
current_trace: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "paas_trace", default=None
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName"}
    | {"color_message"}  # uvicorn's copy of the message with terminal colours: not a field
)
# Terminal colour codes (CSI sequences) that servers put in their messages on a TTY (Flask's
# development-server banner, uvicorn's): meaningless inside JSON, so they are taken out.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# A record's own attributes come first, in the order LogRecord.__init__ sets them; extra= fields
# follow. A record with no more attributes than these has no extras to look for.
_PLAIN_RECORD_KEYS = list(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
_PLAIN_RECORD_SIZE = len(_PLAIN_RECORD_KEYS)
_LAST_RECORD_KEY = _PLAIN_RECORD_KEYS[-1]

# What to do with one attribute of a record: None (the record's own) or (dotted path, names a
# secret, lies under a per-process field).
_ExtraPlan = tuple[tuple[str, ...], bool, bool] | None
_UNKNOWN: Any = object()
# Values with nothing inside to redact.
_SCALARS = frozenset({str, int, float, bool, type(None)})


class RecordIds:
    """Record ids unique across id sources and processes: a random prefix of its own and a
    counter. Also tells how many it has handed out (exactly, without a lock: drawing is one
    ``next()`` on the counter, atomic under the GIL)."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        """Start over with a new prefix (in a forked child: never the parent's ids)."""
        self.prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}-{next(self._counter):x}"

    @property
    def drawn(self) -> int:
        return int(repr(self._counter)[6:-1])  # a count's repr is ``count(N)``


_ids = RecordIds()
os.register_at_fork(after_in_child=_ids.renew)


def new_record_id() -> str:
    """A new id, stable for the record it is given to: Elasticsearch uses it as ``_id``."""
    return _ids.next()


def _otel_ids() -> Callable[[], tuple[str, str] | None] | None:
    try:
        from opentelemetry import trace  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None

    def read() -> tuple[str, str] | None:
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid:
            return None
        return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"

    return read


def error_type(exc_type: type[BaseException]) -> str:
    """``module.QualName`` of an exception class; built-ins keep their bare name."""
    module = exc_type.__module__
    if module in ("builtins", "__main__"):
        return exc_type.__qualname__
    return f"{module}.{exc_type.__qualname__}"


def _nest(target: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    """Put `value` at the dotted path `parts` of `target`, whose dicts are its own."""
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if type(child) is not dict:
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _own_copy(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with every dict in it copied, so that nesting into the copy leaves it alone."""
    return {k: _own_copy(v) if type(v) is dict else v for k, v in fields.items()}


def _safe(value: Any) -> Any:
    """Whatever orjson cannot encode, as text (also used as orjson's ``default``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    try:
        text = str(value)
    except Exception:  # a broken __str__ must not break logging
        text = object.__repr__(value)
    return text[:4096]


def _scrub(value: Any) -> Any:
    """A deep copy of `value` that orjson can always encode (slow path, after a failure)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, bool | float | None):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, Mapping):
        return {str(_scrub(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    return _scrub(_safe(value))


class EcsFormatter(logging.Formatter):
    """A `logging.Formatter` writing one ECS 8.x JSON document per record.

    `context` gives ``service.*``, ``kubernetes.*`` and ``host.*``; `redact` names keys whose
    values are replaced, at any depth of an ``extra`` value (dicts, and dicts inside lists): a
    key matches an entry when its whole name or a run of its words is that entry, case and
    separators aside (see `DEFAULT_REDACTED_KEYS`). The record is never modified.
    """

    def __init__(
        self,
        context: ServiceContext | None = None,
        *,
        redact: Iterable[str] = DEFAULT_REDACTED_KEYS,
        dataset: str | None = None,
    ) -> None:
        super().__init__()
        self.context = context if context is not None else ServiceContext.from_env()
        self.redact = frozenset(k.lower() for k in redact)
        self._secret = SecretKeys(self.redact)
        self._dataset = dataset or f"{self.context.app_id}.log"
        self._static = self._static_fields(self.context)
        # The per-process fields, encoded once: most documents are the per-record part with
        # these bytes spliced in before the closing brace.
        self._static_tail = b"," + orjson.dumps(self._static)[1:]
        self._otel = _otel_ids()
        self._second = -1
        self._second_text = ""
        self._extra_keys: dict[str, _ExtraPlan] = {}

    @staticmethod
    def _static_fields(ctx: ServiceContext) -> dict[str, Any]:
        service: dict[str, Any] = {
            "name": ctx.app_id,
            "version": ctx.version,
            "environment": ctx.environment,
        }
        fields: dict[str, Any] = {
            "ecs": {"version": ECS_VERSION},
            "service": service,
            "host": {"hostname": ctx.host_name, "name": ctx.host_name},
            "labels": {"cluster": ctx.cluster},
        }
        if ctx.in_kubernetes:
            pod: dict[str, Any] = {"name": ctx.pod_name}
            if ctx.pod_uid:
                pod["uid"] = ctx.pod_uid
            if ctx.pod_ip:
                pod["ip"] = ctx.pod_ip
            kube: dict[str, Any] = {"pod": pod}
            if ctx.namespace:
                kube["namespace"] = ctx.namespace
            if ctx.node_name:
                kube["node"] = {"name": ctx.node_name}
            fields["kubernetes"] = kube
            service["node"] = {"name": ctx.pod_name}
        return fields

    def _record_fields(self, record: logging.LogRecord, record_id: str) -> dict[str, Any]:
        """The fields that vary from record to record, extras not included."""
        try:
            message = record.getMessage()
        except Exception:  # wrong arguments for the format string: keep both, never raise
            message = f"{record.msg!r} % {record.args!r}"
        if "\x1b[" in message:
            message = _ANSI.sub("", message)
        # @timestamp: the text of the whole second is kept until the second changes
        micros = round(record.created * 1_000_000)
        second, fraction = divmod(micros, 1_000_000)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        doc: dict[str, Any] = {
            "@timestamp": "%s.%06dZ" % (self._second_text, fraction),  # noqa: UP031 (faster)
            "log": {
                "level": record.levelname,
                "logger": record.name,
                "origin": {
                    "function": record.funcName,
                    "file": {"name": record.filename, "line": record.lineno},
                },
            },
            "message": message if type(message) is str else str(message),
            "event": {"dataset": self._dataset, "id": record_id},
            "process": {
                "pid": record.process,
                "name": record.processName,
                "thread": {"id": record.thread, "name": record.threadName},
            },
        }
        ids = self._trace() if self._otel is not None else current_trace.get()
        if ids is not None:
            doc["trace"] = {"id": ids[0]}
            doc["span"] = {"id": ids[1]}
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error"] = {
                "type": error_type(type(exc)),
                "message": str(exc),
                "stack_trace": "".join(traceback.format_exception(exc)).rstrip("\n"),
            }
        elif record.exc_text:
            doc["error"] = {"stack_trace": record.exc_text}
        if record.stack_info:
            doc.setdefault("error", {})["stack_trace"] = record.stack_info
        return doc

    def _trace(self) -> tuple[str, str] | None:
        if self._otel is not None:
            try:
                ids = self._otel()
            except Exception:
                ids = None
            if ids is not None:
                return ids
        return current_trace.get()

    def _add_extras(self, doc: dict[str, Any], record: logging.LogRecord) -> bool:
        """Nest the record's ``extra=`` fields into `doc`; True if one of them lies under a
        per-process field (``service.*``, ``host.*``, ...)."""
        attrs = record.__dict__
        if len(attrs) <= _PLAIN_RECORD_SIZE:  # only records logged with extra= have more
            return False
        keys = iter(attrs)
        # skip the record's own attributes, unless something has reordered them
        if next(itertools.islice(keys, _PLAIN_RECORD_SIZE - 1, None)) != _LAST_RECORD_KEY:
            keys = iter(attrs)
        plans = self._extra_keys
        shared = False
        for key in keys:
            plan = plans.get(key, _UNKNOWN)
            if plan is _UNKNOWN:
                plan = self._extra_key(key)
            if plan is None:
                continue
            path, secret, under_static = plan
            value = attrs[key]
            if secret:
                value = REDACTED
            elif type(value) not in _SCALARS:
                value = self._redacted(value)
            if len(path) == 1:
                doc[key] = value
            else:  # the dicts of `doc` are its own, or fresh ones from _redacted
                _nest(doc, path, value)
            shared |= under_static
        return shared

    def to_document(
        self, record: logging.LogRecord, record_id: str | None = None
    ) -> dict[str, Any]:
        """The ECS document of `record` as a dict (fresh; safe to change)."""
        doc = self._record_fields(record, record_id or new_record_id())
        doc.update(_own_copy(self._static))  # shared by every record: extras may nest into it
        self._add_extras(doc, record)
        return doc

    def _extra_key(self, key: str) -> _ExtraPlan:
        """What to do with an attribute of a record, worked out once per key: None for the
        record's own attributes, else the dotted path, whether it names a secret and whether
        it lies under a per-process field."""
        if key in _RECORD_ATTRS or key.startswith("_"):
            plan: _ExtraPlan = None
        else:
            path = tuple(key.split("."))
            plan = (path, self._secret(key), path[0] in self._static)
        if len(self._extra_keys) < 4096:  # bounded: keys built from data must not grow it
            self._extra_keys[key] = plan
        return plan

    def _redacted(self, value: Any) -> Any:
        """A copy of `value` with the values of secret keys replaced, through dicts and lists
        (the record's own objects are never changed)."""
        kind = type(value)
        if kind in _SCALARS:
            return value
        if isinstance(value, Mapping):
            return {
                k: REDACTED if self._secret(str(k)) else self._redacted(v) for k, v in value.items()
            }
        if kind is list or kind is tuple:
            return [self._redacted(v) for v in value]
        return value

    def encode(self, doc: Mapping[str, Any]) -> bytes:
        """`doc` as one JSON line (without the newline); never raises."""
        try:
            return orjson.dumps(doc)  # without options: passing any costs a third of the call
        except TypeError:  # orjson.JSONEncodeError included
            pass
        try:
            return orjson.dumps(doc, default=_safe, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            return orjson.dumps(_scrub(doc), option=orjson.OPT_NON_STR_KEYS)

    def format_bytes(self, record: logging.LogRecord, record_id: str | None = None) -> bytes:
        """The record as one UTF-8 JSON line without the newline."""
        record_id = record_id or new_record_id()
        doc = self._record_fields(record, record_id)
        if self._add_extras(doc, record):  # merged with the per-process fields: the slow way
            return self.encode(self.to_document(record, record_id))
        return self.encode(doc)[:-1] + self._static_tail

    def format(self, record: logging.LogRecord) -> str:
        return self.format_bytes(record).decode("utf-8")
