"""EcsFormatter: the documents a log pipeline and a person reading Kibana see."""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
import threading
from typing import Any

import orjson
import pytest

from paas_sdk.context import ServiceContext
from paas_sdk.errors import ConfigFormatError
from paas_sdk.logs import EcsFormatter, current_trace, error_type

CONTEXT = ServiceContext(
    app_id="orders",
    environment="prod",
    cluster="bj",
    version="1.4.2",
    pod_name="orders-7d9f-x2",
    namespace="shop",
    node_name="node-3",
    pod_ip="10.1.2.3",
    pod_uid="3f1c2a9e-1111-2222-3333-444455556666",
    host_name="orders-7d9f-x2",
)


def _record(
    msg: str = "hello %s",
    args: tuple[Any, ...] = ("world",),
    *,
    exc_info: Any = None,
    extra: dict[str, Any] | None = None,
    stack_info: bool = False,
) -> logging.LogRecord:
    logger = logging.getLogger("shop.orders")
    sinfo = "Stack (most recent call last):\n  here" if stack_info else None
    return logger.makeRecord(
        "shop.orders", logging.WARNING, "orders.py", 42, msg, args, exc_info, "place", extra, sinfo
    )


def _doc(record: logging.LogRecord, **options: Any) -> dict[str, Any]:
    line = EcsFormatter(CONTEXT, **options).format(record)
    assert "\n" not in line
    result: dict[str, Any] = orjson.loads(line)
    return result


def test_required_ecs_fields_and_identity() -> None:
    doc = _doc(_record())
    assert doc["message"] == "hello world"
    assert doc["log"]["level"] == "WARNING"
    assert doc["log"]["logger"] == "shop.orders"
    assert doc["ecs"]["version"].startswith("8.")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", doc["@timestamp"])
    assert doc["service"] == {
        "name": "orders",
        "version": "1.4.2",
        "environment": "prod",
        "node": {"name": "orders-7d9f-x2"},
    }
    assert doc["kubernetes"] == {
        "pod": {
            "name": "orders-7d9f-x2",
            "uid": "3f1c2a9e-1111-2222-3333-444455556666",
            "ip": "10.1.2.3",
        },
        "namespace": "shop",
        "node": {"name": "node-3"},
    }
    assert doc["host"]["hostname"] == "orders-7d9f-x2"
    assert doc["event"]["dataset"] == "orders.log"
    assert doc["process"]["pid"] > 0
    assert doc["log"]["origin"] == {"function": "place", "file": {"name": "orders.py", "line": 42}}


def test_timestamp_keeps_microseconds_in_utc() -> None:
    record = _record()
    record.created = 1_700_000_000.123456
    assert _doc(record)["@timestamp"] == "2023-11-14T22:13:20.123456Z"


def test_each_record_gets_its_own_id() -> None:
    formatter = EcsFormatter(CONTEXT)
    ids = {orjson.loads(formatter.format(_record()))["event"]["id"] for _ in range(1000)}
    assert len(ids) == 1000


def test_chained_exception_is_complete_and_module_qualified() -> None:
    try:
        try:
            raise KeyError("missing")
        except KeyError as exc:
            raise ConfigFormatError("bad namespace", where="application") from exc
    except ConfigFormatError:
        record = _record("failed", (), exc_info=sys.exc_info())
    error = _doc(record)["error"]
    assert error["type"] == "paas_sdk.errors.ConfigFormatError"
    assert error["message"] == "application: bad namespace"
    trace = error["stack_trace"]
    assert trace.startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing'" in trace
    assert "The above exception was the direct cause" in trace
    assert trace.endswith("paas_sdk.errors.ConfigFormatError: application: bad namespace")


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_an_exception_that_cannot_be_printed_still_logs() -> None:
    try:
        raise _UnprintableError
    except _UnprintableError:
        record = _record("failed", (), exc_info=sys.exc_info())
    error = _doc(record)["error"]
    assert error["type"] == "tests.logs.test_formatter._UnprintableError"
    assert error["message"].startswith("<tests.logs.test_formatter._UnprintableError object")
    assert "Traceback (most recent call last):" in error["stack_trace"]


def test_builtin_exceptions_keep_their_bare_name() -> None:
    assert error_type(ValueError) == "ValueError"
    assert error_type(orjson.JSONDecodeError) == "orjson.JSONDecodeError"


def test_dotted_extra_keys_are_nested() -> None:
    doc = _doc(
        _record(
            extra={"http.request.method": "POST", "http.response.status_code": 201, "order_id": 7}
        )
    )
    assert doc["http"] == {"request": {"method": "POST"}, "response": {"status_code": 201}}
    assert doc["order_id"] == 7


def test_sensitive_keys_are_redacted_at_any_depth() -> None:
    doc = _doc(
        _record(
            extra={
                "user.password": "hunter2",
                "Authorization": "Bearer x",
                "req": {"api_token": 1, "token": "t"},
            }
        )
    )
    assert doc["user"]["password"] == "[REDACTED]"
    assert doc["Authorization"] == "[REDACTED]"
    assert doc["req"] == {"api_token": "[REDACTED]", "token": "[REDACTED]"}
    assert "hunter2" not in orjson.dumps(doc).decode()


SECRET_KEYS = [
    "db_password", "passwd", "api_key", "apikey", "x-api-key", "X-API-Key", "access_token",
    "client_secret", "clientSecret", "cookie", "Set-Cookie", "credentials", "private_key",
    "proxy-authorization", "Proxy-Authorization", "auth", "session", "sessionid", "mysql_pwd",
    "connect.sid", "user.auth",
]  # fmt: skip
PLAIN_KEYS = ["author", "session_count", "tokens_used", "keyboard", "user", "pwdx", "sessions"]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_common_secret_keys_are_redacted_by_default(key: str) -> None:
    doc = _doc(_record(extra={"ctx": {key: "hunter2"}, key: "hunter2"}))
    assert doc["ctx"] == {key: "[REDACTED]"}
    assert "hunter2" not in orjson.dumps(doc).decode()
    assert "[REDACTED]" in orjson.dumps(doc[key.split(".", maxsplit=1)[0]]).decode()


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_ordinary_keys_are_kept(key: str) -> None:
    assert _doc(_record(extra={"ctx": {key: "v"}}))["ctx"] == {key: "v"}


def test_dicts_inside_lists_are_searched_and_the_record_left_alone() -> None:
    users: list[Any] = [{"name": "a", "password": "hunter2"}, ({"token": "t"},), "plain"]
    record = _record(extra={"users": users})
    doc = _doc(record)
    assert doc["users"] == [
        {"name": "a", "password": "[REDACTED]"},
        [{"token": "[REDACTED]"}],
        "plain",
    ]
    assert users[0]["password"] == "hunter2", "the caller's objects are never changed"


def test_redacted_keys_are_configurable() -> None:
    doc = _doc(_record(extra={"card": "4111", "password": "p"}), redact={"card"})
    assert doc["card"] == "[REDACTED]"
    assert doc["password"] == "p"


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_values_that_are_not_json_are_made_safe() -> None:
    doc = _doc(
        _record(
            extra={
                "blob": b"\xff\xfeok",
                "when": object(),
                "huge": 2**80,
                "keys": {1: "one", (1, 2): "pair"},
                "broken": _Unprintable(),
                "bad_text": "caf\udce9",
            }
        )
    )
    assert doc["blob"] == "\ufffd\ufffdok"
    assert doc["when"].startswith("<object object")
    assert doc["huge"] == str(2**80)
    assert doc["broken"].startswith("<tests.logs.test_formatter._Unprintable")
    assert doc["bad_text"] == "caf?"


def test_a_format_string_with_wrong_arguments_still_logs() -> None:
    doc = _doc(_record("%d items", ("x",)))
    assert doc["message"] == "'%d items' % ('x',)"


def test_trace_ids_from_the_sdk_context_variable() -> None:
    token = current_trace.set(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
    try:
        doc = _doc(_record())
    finally:
        current_trace.reset(token)
    assert doc["trace"] == {"id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    assert doc["span"] == {"id": "00f067aa0ba902b7"}
    assert "trace" not in _doc(_record())


def test_the_record_is_left_untouched() -> None:
    record = _record(extra={"a.b": 1})
    before = dict(vars(record))
    EcsFormatter(CONTEXT).format(record)
    assert vars(record) == before


def test_outside_kubernetes_there_are_no_kubernetes_fields() -> None:
    formatter = EcsFormatter(ServiceContext(app_id="cli-tool", host_name="laptop"))
    doc = orjson.loads(formatter.format(_record()))
    assert "kubernetes" not in doc
    assert doc["host"]["name"] == "laptop"


def test_extra_fields_under_a_shared_object_stay_with_their_record() -> None:
    formatter = EcsFormatter(CONTEXT)
    tagged = orjson.loads(formatter.format(_record(extra={"service.tier": "gold", "host.x": 1})))
    plain = orjson.loads(formatter.format(_record()))
    assert tagged["service"]["tier"] == "gold"
    assert tagged["service"]["name"] == "orders"
    assert tagged["host"]["x"] == 1
    assert "tier" not in plain["service"]
    assert "x" not in plain["host"]


@dataclasses.dataclass
class _Database:
    host: str
    password: str


def test_secrets_inside_a_dataclass_are_redacted() -> None:
    formatter = EcsFormatter(CONTEXT)
    record = _record(extra={"db": _Database("db-1", "hunter2"), "dbs": [_Database("db-2", "p")]})
    for line in (formatter.format_bytes(record), formatter.encode(formatter.to_document(record))):
        doc = orjson.loads(line)
        assert doc["db"] == {"host": "db-1", "password": "[REDACTED]"}
        assert doc["dbs"] == [{"host": "db-2", "password": "[REDACTED]"}]


def test_secrets_inside_a_pydantic_model_are_redacted() -> None:
    import pydantic

    class Settings(pydantic.BaseModel):
        host: str
        db_password: str
        token: pydantic.SecretStr

    formatter = EcsFormatter(CONTEXT)
    record = _record(
        extra={
            "settings": Settings(host="h", db_password="hunter2", token=pydantic.SecretStr("t0k"))
        }
    )
    for line in (formatter.format_bytes(record), formatter.encode(formatter.to_document(record))):
        assert b"hunter2" not in line
        assert b"t0k" not in line
        assert orjson.loads(line)["settings"]["host"] == "h"


@pytest.mark.parametrize("key", ["event", "error", "log", "service", "trace", "container"])
def test_a_plain_value_named_like_one_of_our_objects_becomes_a_label(key: str) -> None:
    doc = _doc(_record(extra={key: "login"}))
    assert doc["labels"] == {"cluster": "bj", key: "login"}
    assert key not in doc or isinstance(doc[key], dict)
    assert doc["event"]["id"]
    assert doc["log"]["level"] == "WARNING"


def test_a_dict_extra_nests_into_our_object_without_replacing_our_fields() -> None:
    doc = _doc(_record(extra={"event": {"action": "login", "id": "mine"}, "service.tier": "a"}))
    assert doc["event"]["action"] == "login"
    assert doc["event"]["id"] != "mine"
    assert doc["event"]["dataset"] == "orders.log"
    assert doc["labels"]["event_id"] == "mine"  # kept, where it replaces nothing
    assert doc["service"]["tier"] == "a"
    assert doc["service"]["name"] == "orders"


def test_a_secret_extra_key_is_redacted_every_time_it_is_seen() -> None:
    formatter = EcsFormatter(CONTEXT)
    for _ in range(3):
        doc = orjson.loads(formatter.format(_record(extra={"db.password": "hunter2", "db.n": 1})))
        assert doc["db"] == {"password": "[REDACTED]", "n": 1}


@pytest.mark.parametrize(
    "extra",
    [
        None,
        {"http.request.method": "POST", "order_id": 7},
        {"http.request.method": "GET", "http.request.id": "r1", "http.version": "1.1"},
        {"a.b": 1, "a": "scalar"},  # a later field replaces an earlier one at the same place
        {"a": "scalar", "a.b": 1},
        {"a": {"x": 1}, "a.b": 2},  # a field nested into another extra's dict
        {"50%": "half", "x%s.y": 2, 'quote"d': "q", "ünï.cødé": "ü"},
        {"db.password": "hunter2", "user": {"name": "a", "api_key": "k"}, "ids": [1, {"t": 2}]},
        {"blob": b"\xff", "when": {1, 2}, "huge": 2**80},  # not JSON as they are
        {"_private": 1, "order_id": None, "ratio": 0.5, "ok": True},
        {"service.tier": "gold"},  # reaches into a per-process part: the document is merged
        {"service": "replaced", "labels.team": "shop"},
        {"event.action": "order-placed"},
        {"log": "oops"},
        {"event": "login", "error": {"code": 7}, "container.id": "c1"},
        {"process.custom": 1, "trace.id": "mine"},
    ],
)
def test_the_spliced_line_is_the_document(extra: dict[str, Any] | None) -> None:
    """Most lines are written from pieces encoded once (per call site, per thread, per
    process) and the values of the record: the result has each key once and equals the
    document built as a whole, whatever the extra fields."""
    formatter = EcsFormatter(CONTEXT)
    for _ in range(2):  # the second time from the pieces kept
        record = _record(extra=extra)
        line = formatter.format_bytes(record, "id-1")
        assert line.count(b'"service":{') == 1
        assert line.count(b'"event":{') == 1
        assert line == formatter.encode(formatter.to_document(record, "id-1"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: _record("colour \x1b[32mgreen\x1b[0m", ()),
        lambda: _record("%d items", ("x",)),
        lambda: _record("caf\udce9 %s", ("\u2603",)),
        lambda: _record(stack_info=True),
        lambda: _record(exc_info=(None, None, None)),
    ],
)
def test_lines_of_unusual_records_are_their_documents(make: Any) -> None:
    formatter = EcsFormatter(CONTEXT)
    record = make()
    line = formatter.format_bytes(record, "id-1")
    assert line == formatter.encode(formatter.to_document(record, "id-1"))


def test_the_pieces_kept_follow_the_record() -> None:
    """The ``log`` part is kept per call site and level, the ``process`` part per thread and
    its name: a record never gets another one's."""
    formatter = EcsFormatter(CONTEXT)
    logger = logging.getLogger("shop.orders")
    seen = []
    for level, line, thread_name in [
        (logging.INFO, 1, "MainThread"),
        (logging.ERROR, 1, "MainThread"),
        (logging.INFO, 2, "MainThread"),
        (logging.INFO, 1, "worker-1"),
    ]:
        record = logger.makeRecord("shop.orders", level, "orders.py", line, "m", (), None)
        record.threadName = thread_name
        doc = orjson.loads(formatter.format_bytes(record))
        seen.append(
            (doc["log"]["level"], doc["log"]["origin"]["file"]["line"], doc["process"]["thread"])
        )
    thread = {"id": threading.get_ident()}
    assert seen == [
        ("INFO", 1, {**thread, "name": "MainThread"}),
        ("ERROR", 1, {**thread, "name": "MainThread"}),
        ("INFO", 2, {**thread, "name": "MainThread"}),
        ("INFO", 1, {**thread, "name": "worker-1"}),
    ]


def test_trace_ids_from_an_opentelemetry_span() -> None:
    """A service traced with OpenTelemetry: the active span's ids, before the SDK's own."""
    from opentelemetry import trace

    context = trace.SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736, span_id=0x00F067AA0BA902B7, is_remote=True
    )
    token = current_trace.set(("0" * 31 + "1", "0" * 15 + "1"))
    try:
        with trace.use_span(trace.NonRecordingSpan(context)):
            inside = _doc(_record())
        outside = _doc(_record())
    finally:
        current_trace.reset(token)
    assert inside["trace"] == {"id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    assert inside["span"] == {"id": "00f067aa0ba902b7"}
    assert outside["trace"] == {"id": "0" * 31 + "1"}


def test_attributes_a_record_factory_adds_are_fields_too() -> None:
    """A factory may set attributes before the ``extra=`` ones: they are found all the same."""
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = "r-42"
        return record

    logging.setLogRecordFactory(factory)
    try:
        record = _record(extra={"order_id": 7})
    finally:
        logging.setLogRecordFactory(previous)
    del record.__dict__["msg"]  # an own attribute set again after the others
    record.msg = "hello %s"
    doc = _doc(record)
    assert doc["request_id"] == "r-42"
    assert doc["order_id"] == 7
    assert doc["message"] == "hello world"
    assert "msg" not in doc
