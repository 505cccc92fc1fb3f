"""ApolloClient against the double over loopback HTTP."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from paas_sdk.config import ApolloClient, ChangeType, ConfigSource, TypedSettings, open_config
from paas_sdk.errors import (
    ConfigAuthError,
    ConfigError,
    ConfigSourceError,
    NamespaceNotFoundError,
)
from paas_sdk.testing.apollo import ApolloDouble
from tests.config.conftest import APP, SECRET, Events, sample, wait_until

MakeClient = Callable[..., ApolloClient]


def test_publish_reaches_listener_with_each_kind_of_change(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"kept": "1", "changed": "a", "removed": "x"})
    client = make_client().start()
    events = Events()
    client.add_change_listener(events)
    apollo.publish(APP, "application", {"kept": "1", "changed": "b", "added": "y"})
    [event] = events.wait_for(1)
    assert event.namespace == "application"
    assert {(c.key, c.old_value, c.new_value, c.change_type) for c in event} == {
        ("changed", "a", "b", ChangeType.MODIFIED),
        ("added", None, "y", ChangeType.ADDED),
        ("removed", "x", None, ChangeType.DELETED),
    }
    assert events.threads[0].startswith("paas-config-events")
    assert client.get("changed") == "b"


def test_republishing_the_same_values_raises_no_event(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    client = make_client().start()
    events = Events()
    client.add_change_listener(events)
    apollo.publish(APP, "application", {"a": "1"})
    apollo.publish(APP, "application", {"a": "2"})
    [event] = events.wait_for(1)
    assert [c.new_value for c in event] == ["2"]
    time.sleep(0.3)
    assert len(events.items) == 1


def test_only_the_changed_namespace_is_fetched_again(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    apollo.publish(APP, "db.yaml", "url: pg://one\n")
    apollo.scan()  # released before the client starts: its first long poll answers at once
    client = make_client(namespaces=["application", "db.yaml"]).start()
    events = Events()
    client.add_change_listener(events)
    time.sleep(0.3)  # let the first long poll (ids -1) settle
    before = len(apollo.requests)
    apollo.publish(APP, "db.yaml", "url: pg://two\n")
    events.wait_for(1)
    fetched = [r.path for r in apollo.requests[before:] if r.path.startswith("/configs/")]
    assert all("/db.yaml?" in path for path in fetched), fetched
    assert client.properties("db.yaml")["url"] == "pg://two"


def test_a_failing_listener_does_not_stop_the_others(
    apollo: ApolloDouble, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    client = make_client().start()

    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    events = Events()
    client.add_change_listener(broken)
    client.add_change_listener(events)
    apollo.publish(APP, "application", {"a": "2"})
    events.wait_for(1)
    apollo.publish(APP, "application", {"a": "3"})
    assert len(events.wait_for(2)) == 2
    assert "listener" in caplog.text


def test_every_request_passes_the_strict_signature_check(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    apollo.publish(APP, "extra.json", '{"x": 1}')
    client = make_client(
        namespaces=["application", "extra.json"], label="canary", ip="10.0.0.7"
    ).start()
    events = Events()
    client.add_change_listener(events)
    apollo.publish(APP, "extra.json", '{"x": 2}')
    events.wait_for(1)
    signed = [r for r in apollo.requests if not r.path.startswith("/services/")]
    assert len(signed) >= 4
    assert all(r.signed and r.status in (200, 304) for r in signed)
    assert apollo.signature_failures == 0


def test_wrong_secret_is_a_clear_401_error(apollo: ApolloDouble, make_client: MakeClient) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    with pytest.raises(ConfigAuthError, match="401") as caught:
        make_client(secret="not-the-secret").start()
    assert "not-the-secret" not in str(caught.value)
    assert apollo.signature_failures == 1


def test_server_down_at_startup_serves_the_cache_and_says_so(
    apollo: ApolloDouble,
    make_client: MakeClient,
    metrics: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    apollo.publish(APP, "application", {"db.url": "pg://cached"})
    apollo.publish(APP, "pool.json", '{"size": 4}')
    namespaces = ["application", "pool.json"]
    make_client(namespaces=namespaces).start().close()
    apollo.stop()
    caplog.set_level(logging.WARNING, "paas_sdk.config")
    client = make_client(namespaces=namespaces, startup_timeout=2.0).start()
    assert client.loaded
    assert client.source is ConfigSource.CACHE
    assert client.get("db.url") == "pg://cached"
    assert sample(metrics, "paas_config_source", namespace="application", source="cache") == 1
    assert client.properties("pool.json")["size"] == "4"
    degraded = [r.getMessage() for r in caplog.records if "degraded" in r.getMessage()]
    assert len(degraded) == 1
    assert "application (" in degraded[0]
    assert "pool.json (" in degraded[0]
    # Back to remote once the service returns.
    apollo.publish(APP, "application", {"db.url": "pg://live"})
    apollo.start()
    wait_until(lambda: client.get("db.url") == "pg://live", timeout=8)
    wait_until(lambda: client.source is ConfigSource.REMOTE)


def test_nothing_reachable_and_no_cache_fails_start(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.stop()
    started = time.monotonic()
    with pytest.raises(ConfigSourceError, match="meta"):
        make_client(startup_timeout=2.0).start()
    assert time.monotonic() - started < 4


def test_a_failed_start_can_be_retried_once_the_server_is_back(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"db.url": "pg://live"})
    apollo.stop()
    client = make_client(startup_timeout=1.0, cache_dir=None)
    with pytest.raises(ConfigSourceError):
        client.start()
    with pytest.raises(ConfigSourceError):  # the same error again, not a closed HTTP client
        client.start()
    apollo.start()
    assert client.start() is client
    assert client.get("db.url") == "pg://live"
    client.close()
    with pytest.raises(ConfigError, match="closed"):
        client.start()


def test_server_killed_during_long_poll_recovers(
    apollo: ApolloDouble, make_client: MakeClient, metrics: CollectorRegistry
) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    client = make_client().start()
    time.sleep(0.3)  # the client is now inside a held long poll
    apollo.kill()
    wait_until(
        lambda: (sample(metrics, "paas_config_sync_errors_total", namespace="application") or 0) > 0
    )
    assert client.get("a") == "1"  # last good values stay
    apollo.publish(APP, "application", {"a": "2"})
    apollo.start()
    wait_until(lambda: client.get("a") == "2", timeout=10)


@pytest.fixture
def silent_service() -> Iterator[str]:
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_a_config_service_that_never_answers_is_a_bounded_wait(
    make_client: MakeClient, silent_service: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigSourceError, match="timed out"):
        make_client(meta_servers=(), config_service=silent_service, startup_timeout=1.0).start()
    assert time.monotonic() - started < 2.5


@pytest.fixture
def garbage_meta() -> Iterator[str]:
    """A meta server answering 200 with HTML instead of the service list."""

    class Garbage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>gateway says hello</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_meta_server_answering_garbage_fails_over_to_the_next(
    apollo: ApolloDouble, make_client: MakeClient, garbage_meta: str
) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    client = make_client(meta_servers=[garbage_meta, apollo.meta_url]).start()
    assert client.get("a") == "1"


def test_only_garbage_meta_servers_is_a_clear_error(
    make_client: MakeClient, garbage_meta: str
) -> None:
    with pytest.raises(ConfigSourceError, match=r"services/config: JSONDecodeError"):
        make_client(meta_servers=[garbage_meta]).start()


def test_missing_namespace_is_a_404_error(apollo: ApolloDouble, make_client: MakeClient) -> None:
    with pytest.raises(NamespaceNotFoundError, match=r"orders/default/ghost.*404"):
        make_client(namespaces=["ghost"]).start()


def test_invalid_content_keeps_the_last_good_values(
    apollo: ApolloDouble, make_client: MakeClient, metrics: CollectorRegistry
) -> None:
    apollo.publish(APP, "feature.json", '{"on": true}')
    client = make_client(namespaces=["feature.json"]).start()
    apollo.publish(APP, "feature.json", '{"on": tru')
    wait_until(
        lambda: (
            (sample(metrics, "paas_config_sync_errors_total", namespace="feature.json") or 0) >= 1
        )
    )
    assert client.properties("feature.json")["on"] == "true"


def test_incremental_sync_answers_are_merged(tmp_path: Path, metrics: CollectorRegistry) -> None:
    with ApolloDouble(hold_seconds=1.0, incremental_sync=True) as double:
        double.publish(APP, "application", {"a": "1", "b": "2"})
        client = ApolloClient(
            APP, config_service=double.url, cache_dir=tmp_path, metrics=metrics
        ).start()
        try:
            events = Events()
            client.add_change_listener(events)
            double.publish(APP, "application", {"a": "1", "c": "3"})
            events.wait_for(1)
            assert dict(client.properties()) == {"a": "1", "c": "3"}
        finally:
            client.close()


def test_cluster_falls_back_to_default(apollo: ApolloDouble, make_client: MakeClient) -> None:
    apollo.publish(APP, "application", {"where": "default"})
    client = make_client(cluster="shanghai").start()
    assert client.get("where") == "default"
    apollo.publish(APP, "application", {"where": "shanghai"}, cluster="shanghai")
    wait_until(lambda: client.get("where") == "shanghai")


def test_secret_is_not_in_repr(make_client: MakeClient) -> None:
    assert SECRET not in repr(make_client())


def test_close_during_a_held_long_poll_returns_at_once(
    tmp_path: Path, metrics: CollectorRegistry
) -> None:
    with ApolloDouble(hold_seconds=60.0) as double:
        double.publish(APP, "application", {"a": "1"})
        client = ApolloClient(
            APP, config_service=double.url, cache_dir=tmp_path, metrics=metrics
        ).start()
        time.sleep(0.3)  # past the first (immediate) poll, into a held one
        started = time.monotonic()
        client.close()
        assert time.monotonic() - started < 1.0
        assert not any(t.is_alive() for t in threading.enumerate() if t.name == "paas-config-poll")


def test_a_forked_worker_keeps_receiving_updates(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    client = make_client().start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, on purpose
        child = os.fork()
    if child == 0:  # the worker: exit 0 once it sees the parent's publish
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            if client.get("a") == "2":
                os._exit(0)
            time.sleep(0.02)
        os._exit(1)
    apollo.publish(APP, "application", {"a": "2"})
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_release_whose_fetch_fails_once_still_arrives(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    """The held poll answers, the `/configs` GET after it gets a 500, the fault clears 0.3 s
    later: the release arrives without waiting for the 5-minute periodic refresh."""
    apollo.publish(APP, "application", {"a": "1"})
    apollo.scan()
    client = make_client().start()
    time.sleep(0.3)  # inside a held long poll
    apollo.faults.error_status, apollo.faults.path_prefix = 500, "/configs/"
    apollo.publish(APP, "application", {"a": "2"})
    wait_until(lambda: any(r.status == 500 for r in apollo.requests), timeout=3)
    time.sleep(0.3)
    apollo.faults.clear()
    wait_until(lambda: client.get("a") == "2", timeout=4)


def test_a_namespace_configured_with_its_properties_suffix_answers_by_that_name(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    apollo.publish(APP, "extra", {"pool.size": "4"})
    client = make_client(namespaces=["application", "extra.properties"]).start()
    assert client.get("pool.size", namespace="extra.properties") == "4"
    assert client.properties("extra.properties")["pool.size"] == "4"
    events = Events()
    client.add_change_listener(events, namespaces=["extra.properties"])
    apollo.publish(APP, "extra", {"pool.size": "8"})
    [event] = events.wait_for(1)
    assert event.namespace == "extra.properties"
    assert client.get("pool.size") == "8"

    class Pool(BaseModel):
        size: int

    class Settings(BaseModel):
        pool: Pool

    settings = TypedSettings(Settings, client, namespaces=["extra.properties"])
    assert settings.current.pool.size == 8


def test_the_data_centre_picks_the_cluster_when_none_is_set(
    apollo: ApolloDouble, make_client: MakeClient, tmp_path: Path
) -> None:
    apollo.publish(APP, "application", {"where": "default"})
    apollo.publish(APP, "application", {"where": "shaoxing"}, cluster="shaoxing")
    client = make_client(data_centre="shaoxing").start()
    assert client.cluster == "shaoxing"
    assert client.get("where") == "shaoxing"
    assert (
        tmp_path / "cache" / APP / "config-cache" / f"{APP}+shaoxing+application.properties"
    ).exists()
    environ = {"PAAS_APP_ID": APP, "APOLLO_CONFIG_SERVICE": apollo.url, "IDC": "shaoxing"}
    opened = open_config(environ=environ, metrics=CollectorRegistry())
    assert isinstance(opened, ApolloClient)
    assert opened.cluster == "shaoxing"
    explicit = open_config(environ={**environ, "APOLLO_CLUSTER": "hz"}, metrics=CollectorRegistry())
    assert isinstance(explicit, ApolloClient)
    assert explicit.cluster == "hz"


def two_namespaces_held(apollo: ApolloDouble, make_client: MakeClient) -> ApolloClient:
    """A client of `application` (a=1) and `db.json` (url one), inside a held long poll."""
    apollo.publish(APP, "application", {"a": "1"})
    apollo.publish(APP, "db.json", '{"url": "one"}')
    apollo.scan()
    client = make_client(namespaces=["application", "db.json"]).start()
    time.sleep(0.3)
    return client


def test_messages_of_held_answers_are_merged_into_later_fetches(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    """A held answer names only the changed key; the client keeps the others it knew."""
    client = two_namespaces_held(apollo, make_client)
    events = Events()
    client.add_change_listener(events)
    apollo.publish(APP, "db.json", '{"url": "two"}')
    events.wait_for(1)
    apollo.publish(APP, "application", {"a": "2"})
    events.wait_for(2)
    [last] = [r for r in apollo.requests if r.path.startswith("/configs/")][-1:]
    details = json.loads(last.query["messages"])["details"]
    assert set(details) == {f"{APP}+default+application", f"{APP}+default+db.json"}


def test_a_namespace_whose_fetch_keeps_failing_does_not_hold_back_the_others(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    client = two_namespaces_held(apollo, make_client)
    apollo.faults.error_status = 500
    apollo.faults.path_prefix = f"/configs/{APP}/default/application"
    apollo.publish(APP, "application", {"a": "2"})
    apollo.publish(APP, "db.json", '{"url": "two"}')
    apollo.scan()  # one answer names both namespaces
    wait_until(lambda: client.properties("db.json")["url"] == "two", timeout=4)
    assert client.get("a") == "1"
    apollo.faults.clear()
    wait_until(lambda: client.get("a") == "2", timeout=6)
