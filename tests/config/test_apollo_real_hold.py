"""Long-poll behaviours at Apollo's real 60 s hold (`NotificationControllerV2`, `bizConfig`
`longPollingTimeoutInMilli`). The scenarios start together when the module does and run side by
side, so the whole module costs one hold."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from paas_sdk.config import ApolloClient
from paas_sdk.testing.apollo import LONG_POLL_HOLD_SECONDS, ApolloDouble
from tests.config.conftest import wait_until

Outcome = tuple[int, Any, float]


def _current(double: ApolloDouble, app: str, namespaces: list[str]) -> list[dict[str, Any]]:
    """The ids a client holds once it is up to date (the first poll answers at once)."""
    behind = [{"namespaceName": ns, "notificationId": -1} for ns in namespaces]
    answer = _poll(double, app, behind)[1]
    return [
        {"namespaceName": i["namespaceName"], "notificationId": i["notificationId"]} for i in answer
    ]


def _poll(double: ApolloDouble, app: str, notifications: list[dict[str, Any]]) -> Outcome:
    started = time.monotonic()
    response = httpx.get(
        f"{double.url}/notifications/v2",
        params={"appId": app, "cluster": "default", "notifications": json.dumps(notifications)},
        timeout=LONG_POLL_HOLD_SECONDS + 30,
    )
    body = response.json() if response.content else None
    return response.status_code, body, time.monotonic() - started


def held_until_the_hold_ends(double: ApolloDouble) -> Outcome:
    return _poll(double, "quiet", _current(double, "quiet", ["application"]))


def held_until_a_release_names_only_it(double: ApolloDouble) -> Outcome:
    current = _current(double, "watcher", ["application", "db.json"])
    threading.Timer(5, double.publish, ("watcher", "db.json", '{"url": "two"}')).start()
    return _poll(double, "watcher", current)


def _client_sees(
    double: ApolloDouble, app: str, cache: Path, change: Callable[[], object]
) -> float:
    client = ApolloClient(
        app, config_service=double.url, cache_dir=cache, metrics=CollectorRegistry()
    )
    client.start()
    try:
        time.sleep(5)  # the client is inside a held poll
        started = time.monotonic()
        change()
        wait_until(lambda: client.get("a") == "2", timeout=15)
        return time.monotonic() - started
    finally:
        client.close()


def a_client_receives_a_release_while_held(double: ApolloDouble, cache: Path) -> float:
    return _client_sees(
        double, "client", cache, lambda: double.publish("client", "application", {"a": "2"})
    )


def a_client_retries_the_fetch_that_failed(double: ApolloDouble, cache: Path) -> float:
    def change() -> None:
        double.faults.error_status, double.faults.path_prefix = 500, "/configs/"
        double.publish("client", "application", {"a": "2"})
        wait_until(lambda: any(r.status == 500 for r in double.requests), timeout=5)
        time.sleep(0.3)
        double.faults.clear()

    return _client_sees(double, "client", cache, change)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Any]]]:
    cache = tmp_path_factory.mktemp("apollo-cache")
    with ApolloDouble() as double, ApolloDouble() as faulty, ThreadPoolExecutor(4) as pool:
        assert double.hold_seconds == LONG_POLL_HOLD_SECONDS == 60
        double.publish("quiet", "application", {"a": "1"})
        double.publish("watcher", "application", {"a": "1"})
        double.publish("watcher", "db.json", '{"url": "one"}')
        double.publish("client", "application", {"a": "1"})
        faulty.publish("client", "application", {"a": "1"})
        double.scan()
        faulty.scan()
        futures: dict[str, Future[Any]] = {
            "timeout": pool.submit(held_until_the_hold_ends, double),
            "only_changed": pool.submit(held_until_a_release_names_only_it, double),
            "client": pool.submit(a_client_receives_a_release_while_held, double, cache / "a"),
            "retry": pool.submit(a_client_retries_the_fetch_that_failed, faulty, cache / "b"),
        }
        yield futures
        for future in futures.values():
            future.result(timeout=LONG_POLL_HOLD_SECONDS + 30)


def test_a_current_poll_is_held_the_full_minute_then_304(outcomes: dict[str, Future[Any]]) -> None:
    status, body, elapsed = outcomes["timeout"].result(timeout=90)
    assert status == 304
    assert body is None
    assert 59.5 <= elapsed < 65


def test_a_held_poll_answers_with_only_the_changed_namespace_and_key(
    outcomes: dict[str, Future[Any]],
) -> None:
    status, body, elapsed = outcomes["only_changed"].result(timeout=90)
    assert status == 200
    [item] = body
    assert item["namespaceName"] == "db.json"
    assert item["messages"]["details"] == {"watcher+default+db.json": item["notificationId"]}
    assert 5 <= elapsed < 5 + 2.5  # published after 5 s, seen at the next scan (every 1 s)


def test_a_client_receives_a_release_during_a_held_poll(outcomes: dict[str, Future[Any]]) -> None:
    assert outcomes["client"].result(timeout=90) < 3


def test_a_client_retries_a_failed_fetch_instead_of_waiting_for_the_refresh(
    outcomes: dict[str, Future[Any]],
) -> None:
    assert outcomes["retry"].result(timeout=90) < 5
