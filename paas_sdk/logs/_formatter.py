"""ECS 8.x JSON lines for stdlib logging: one document per record, encoded with orjson.

The document has the shape Filebeat gives stdout logs of a Kubernetes pod (``kubernetes.*``,
``host.*``, ``container.*``) so that both paths land in one index with one mapping.
"""

from __future__ import annotations

import contextvars
import dataclasses
import itertools
import logging
import os
import re
import secrets
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

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
_REDACTED_JSON = orjson.dumps(REDACTED)
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


def _extra_names(attrs: dict[str, Any]) -> tuple[str, ...]:
    """The names of a record's attributes that may be ``extra=`` fields: those after its own,
    or all of them if something has reordered its own (none if it has no more than those)."""
    if len(attrs) <= _PLAIN_RECORD_SIZE:
        return ()
    names = tuple(attrs)
    if names[_PLAIN_RECORD_SIZE - 1] == _LAST_RECORD_KEY:
        return names[_PLAIN_RECORD_SIZE:]
    return names


# The top-level fields the formatter writes for each record (see `EcsFormatter._record_fields`).
_RECORD_FIELDS = frozenset(
    {"@timestamp", "log", "message", "event", "process", "trace", "span", "error"}
)
# The objects of the document (the index template maps them as objects, and Filebeat writes
# ``container.*``): an extra never replaces one, nor a field the formatter wrote inside one.
_OBJECT_FIELDS = frozenset(
    {"log", "event", "process", "error", "trace", "span", "service", "host", "ecs", "labels"}
    | {"kubernetes", "container"}
)
# What to do with one attribute of a record: None (the record's own) or (dotted path, names a
# secret, lies under a field the formatter writes itself).
_ExtraPlan = tuple[tuple[str, ...], bool, bool] | None
_UNKNOWN: Any = object()
# The JSON of a record's extra fields: a template with a ``%s`` per value, and per value the
# attribute it comes from and whether it names a secret.
_ExtrasShape = tuple[bytes, tuple[tuple[str, bool], ...]]


class _Slot(NamedTuple):
    """Where one extra value goes in an `_ExtrasShape` being worked out."""

    name: str
    secret: bool


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


def _trace_part(ids: tuple[str, str]) -> bytes:
    return b',"trace":{"id":%s},"span":{"id":%s}' % (orjson.dumps(ids[0]), orjson.dumps(ids[1]))


def _trace_reader() -> Callable[[], tuple[str, str] | None]:
    """What gives the current (trace id, span id): OpenTelemetry's current span when
    OpenTelemetry is installed and a span is active, else `current_trace`."""
    try:
        from opentelemetry import trace  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return current_trace.get
    sdk_ids, current_span, no_span = current_trace.get, trace.get_current_span, trace.INVALID_SPAN

    def read() -> tuple[str, str] | None:
        try:
            span = current_span()
            ctx = None if span is no_span else span.get_span_context()
        except Exception:  # a broken tracer must not break logging
            ctx = None
        if ctx is not None and ctx.is_valid:
            return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
        return sdk_ids()

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


def _inside_slot(tree: dict[str, Any], parts: tuple[str, ...]) -> bool:
    """Whether the dotted path `parts` passes through another extra's value in `tree`: the
    document nests into that value when it is a dict, which only the record's value tells."""
    node: Any = tree
    for part in parts[:-1]:
        node = node.get(part)
        if type(node) is not dict:
            return isinstance(node, _Slot)
    return False


def _merge_around(
    target: dict[str, Any], extra: dict[str, Any], at: tuple[str, ...], labels: dict[str, Any]
) -> None:
    """Merge `extra` (found at the path `at`) into `target` without replacing any of its
    values: one that would goes to `labels` under its path joined with ``_``."""
    for key, value in extra.items():
        have = target.get(key, _UNKNOWN)
        if have is _UNKNOWN:
            target[key] = value
        elif type(have) is dict and type(value) is dict:
            _merge_around(have, value, (*at, key), labels)
        else:
            labels.setdefault("_".join((*at, key)), value)


def _fields_of(value: Any) -> dict[str, Any] | None:
    """The fields of a dataclass instance or a pydantic model, else None: orjson would write a
    dataclass's fields as they are and a model as its text, secrets included either way."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if callable(getattr(type(value), "model_dump", None)):
        try:
            fields = value.model_dump()
        except Exception:  # a model that cannot dump itself: written as its text
            return None
        return fields if isinstance(fields, dict) else None
    return None


def _own_copy(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with every dict in it copied, so that nesting into the copy leaves it alone."""
    return {k: _own_copy(v) if type(v) is dict else v for k, v in fields.items()}


def _text(value: Any) -> str:
    """``str(value)``, or its default repr when its ``__str__`` raises."""
    try:
        return str(value)
    except Exception:  # a broken __str__ must not break logging
        return object.__repr__(value)


def _safe(value: Any) -> Any:
    """Whatever orjson cannot encode, as text (also used as orjson's ``default``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return _text(value)[:4096]


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
    values are replaced, at any depth of an ``extra`` value (dicts, dataclass instances, and
    those inside lists): a key matches an entry when its whole name or a run of its words is
    that entry, case and separators aside (see `DEFAULT_REDACTED_KEYS`). The record is never
    modified.
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
        # The per-process fields, encoded once for the lines written from pieces
        self._static_part = b"," + orjson.dumps(self._static)[1:-1]
        self._trace = _trace_reader()
        # (whole second, its text): one attribute, so that threads formatting at once never
        # pair one second with another's text
        self._second: tuple[float, bytes] = (-2.0, b"")
        self._extra_keys: dict[str, _ExtraPlan] = {}
        self._event_head = b'"event":{"dataset":%s,"id":' % orjson.dumps(self._dataset)
        self._log_parts: dict[tuple[Any, ...], bytes] = {}
        self._extras_shapes: dict[tuple[str, ...], _ExtrasShape] = {}
        self._process_parts: dict[tuple[Any, ...], bytes] = {}

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

    def _message(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # wrong arguments for the format string: keep both, never raise
            message = f"{record.msg!r} % {record.args!r}"
        if type(message) is not str:
            message = str(message)
        if "\x1b[" in message:
            message = _ANSI.sub("", message)
        return message

    def _timestamp(self, created: float) -> bytes:
        """``@timestamp`` in UTC with microseconds (truncated, as logging's own ``msecs``); the
        text of the whole second is kept until the second changes."""
        start, text = self._second
        offset = created - start  # exact: two floats this close subtract without rounding
        if not 0.0 <= offset < 1.0:
            start = created // 1.0
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)).encode()
            self._second = (start, text)
            offset = created - start
        return b"%s.%06dZ" % (text, offset * 1_000_000)

    @staticmethod
    def _log_field(record: logging.LogRecord) -> dict[str, Any]:
        return {
            "level": record.levelname,
            "logger": record.name,
            "origin": {
                "function": record.funcName,
                "file": {"name": record.filename, "line": record.lineno},
            },
        }

    @staticmethod
    def _process_field(record: logging.LogRecord) -> dict[str, Any]:
        return {
            "pid": record.process,
            "name": record.processName,
            "thread": {"id": record.thread, "name": record.threadName},
        }

    def _record_fields(self, record: logging.LogRecord, record_id: str) -> dict[str, Any]:
        """The fields that vary from record to record, extras not included."""
        doc: dict[str, Any] = {
            "@timestamp": self._timestamp(record.created).decode(),
            "log": self._log_field(record),
            "message": self._message(record),
            "event": {"dataset": self._dataset, "id": record_id},
            "process": self._process_field(record),
        }
        ids = self._trace()
        if ids is not None:
            doc["trace"] = {"id": ids[0]}
            doc["span"] = {"id": ids[1]}
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error"] = {
                "type": error_type(type(exc)),
                "message": _text(exc),
                "stack_trace": "".join(traceback.format_exception(exc)).rstrip("\n"),
            }
        elif record.exc_text:
            doc["error"] = {"stack_trace": record.exc_text}
        if record.stack_info:
            doc.setdefault("error", {})["stack_trace"] = record.stack_info
        return doc

    def _add_extras(self, doc: dict[str, Any], record: logging.LogRecord) -> None:
        """Nest the record's ``extra=`` fields into `doc`.

        Those under one of the document's objects (``event``, ``error``, ``service``, ...) go in
        after the others, around what the formatter wrote: a plain value named like a whole
        object is the custom keyword ``labels.<name>`` (``extra={"event": "login"}`` would
        otherwise take the record's ``event.id``, its ``_id``, and be refused by the index
        mapping), and a value that would replace one of the formatter's goes to
        ``labels.<path with _>``.
        """
        attrs = record.__dict__
        plans = self._extra_keys
        inside: dict[str, Any] = {}
        for key in _extra_names(attrs):
            plan = plans.get(key, _UNKNOWN)
            if plan is _UNKNOWN:
                plan = self._extra_key(key)
            if plan is None:
                continue
            path, secret, under_ours = plan
            value = attrs[key]
            if secret:
                value = REDACTED
            elif type(value) not in _SCALARS:
                value = self._redacted(value)
            if under_ours and path[0] in _OBJECT_FIELDS:
                if len(path) == 1 and type(value) is not dict:
                    path = ("labels", key)
                _nest(inside, path, value)
            elif len(path) == 1:
                doc[key] = value
            else:  # the dicts of `doc` are its own, or fresh ones from _redacted
                _nest(doc, path, value)
        if inside:
            labels = doc["labels"]  # in every document: the cluster's label
            _merge_around(doc, inside, (), labels)

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
        it lies under a field the formatter writes itself."""
        if key in _RECORD_ATTRS or key.startswith("_"):
            plan: _ExtraPlan = None
        else:
            path = tuple(key.split("."))
            ours = path[0] in self._static or path[0] in _RECORD_FIELDS or path[0] in _OBJECT_FIELDS
            plan = (path, self._secret(key), ours)
        if len(self._extra_keys) < 4096:  # bounded: keys built from data must not grow it
            self._extra_keys[key] = plan
        return plan

    def _redacted(self, value: Any) -> Any:
        """A copy of `value` with the values of secret keys replaced, through dicts, lists,
        dataclass instances and pydantic models (both as dicts); the record's own objects are
        never changed."""
        kind = type(value)
        if kind in _SCALARS:
            return value
        if isinstance(value, Mapping):
            return {
                k: REDACTED if self._secret(str(k)) else self._redacted(v) for k, v in value.items()
            }
        if kind is list or kind is tuple:
            return [self._redacted(v) for v in value]
        fields = _fields_of(value)
        return value if fields is None else self._redacted(fields)

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
        """The record as one UTF-8 JSON line without the newline.

        Most records (no exception, no extra field under one of ours) are written from
        pieces: the ``log`` part is encoded once per call site, the ``process`` part once per
        thread, the per-process fields once; only the time, message, id and extras are encoded
        per record. Any other record is `to_document` encoded, which is what every line equals.
        """
        record_id = record_id or new_record_id()
        if record.exc_info or record.exc_text or record.stack_info:
            return self._document_line(record, record_id)
        try:
            attrs = record.__dict__
            extras = b""
            names = _extra_names(attrs)
            if names:
                shape = self._extras_shapes.get(names) or self._extras_shape(names)
                if shape is None:  # an extra under one of our fields: merged the slow way
                    return self._document_line(record, record_id)
                extras, slots = shape
                if slots:
                    values = []
                    for name, secret in slots:
                        value = attrs[name]
                        if type(value) in _SCALARS and not secret:
                            values.append(orjson.dumps(value))
                        else:
                            values.append(self._extra_json(value, secret))
                    extras %= tuple(values)
            site = (record.name, record.levelname, record.funcName, record.filename, record.lineno)
            log = self._log_parts.get(site) or self._log_part(site, record)
            thread = (record.process, record.processName, record.thread, record.threadName)
            process = self._process_parts.get(thread) or self._process_part(thread, record)
            ids = self._trace()
            message = orjson.dumps(record.getMessage())
            if b"\\u001b[" in message:  # terminal colours, taken out the slow way
                return self._document_line(record, record_id)
            return b'{"@timestamp":"%s",%s,"message":%s,%s%s},%s%s%s%s}' % (
                self._timestamp(record.created),
                log,
                message,
                self._event_head,
                orjson.dumps(record_id),
                process,
                b"" if ids is None else _trace_part(ids),
                self._static_part,
                extras,
            )
        except Exception:  # bad format arguments, a value orjson cannot encode: the slow way
            return self._document_line(record, record_id)

    def _document_line(self, record: logging.LogRecord, record_id: str) -> bytes:
        return self.encode(self.to_document(record, record_id))

    def _extra_json(self, value: Any, secret: bool) -> bytes:
        return _REDACTED_JSON if secret else orjson.dumps(self._redacted(value))

    def _extras_shape(self, names: tuple[str, ...]) -> _ExtrasShape | None:
        """The JSON of a record's extra fields with these attribute names, as a template with a
        slot per value, kept per set of names (bounded); None if one of them lies under a
        field the formatter writes itself. Nesting is `_add_extras`'s: a later field
        replaces an earlier one at the same place."""
        tree: dict[str, Any] = {}
        for name in names:
            plan = self._extra_keys.get(name, _UNKNOWN)
            if plan is _UNKNOWN:
                plan = self._extra_key(name)
            if plan is None:
                continue
            path, secret, under_ours = plan
            if under_ours or _inside_slot(tree, path):
                return None
            _nest(tree, path, _Slot(name, secret))
        slots: list[tuple[str, bool]] = []

        def members(node: dict[str, Any]) -> bytes:
            out = []
            for key, value in node.items():
                name = orjson.dumps(key).replace(b"%", b"%%")
                if type(value) is dict:
                    out.append(b"%s:{%s}" % (name, members(value)))
                else:
                    out.append(name + b":%s")
                    slots.append((value.name, value.secret))
            return b",".join(out)

        body = members(tree)
        shape = (b"," + body if body else b"", tuple(slots))
        if len(self._extras_shapes) < 4096:
            self._extras_shapes[names] = shape
        return shape

    def _log_part(self, site: tuple[Any, ...], record: logging.LogRecord) -> bytes:
        """``"log":{...}`` of `record`, encoded once per call site (bounded)."""
        part = orjson.dumps({"log": self._log_field(record)})[1:-1]
        if len(self._log_parts) < 4096:
            self._log_parts[site] = part
        return part

    def _process_part(self, thread: tuple[Any, ...], record: logging.LogRecord) -> bytes:
        """``"process":{...}`` of `record`, encoded once per thread (bounded)."""
        part = orjson.dumps({"process": self._process_field(record)})[1:-1]
        if len(self._process_parts) < 4096:
            self._process_parts[thread] = part
        return part

    def format(self, record: logging.LogRecord) -> str:
        return self.format_bytes(record).decode("utf-8")
