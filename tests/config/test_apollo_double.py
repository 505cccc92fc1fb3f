"""The double answers as reference/apollo.md documents the config service and meta server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest

from paas_sdk.testing.apollo import ApolloDouble
from tests.config.conftest import APP, SECRET


def signed_get(
    double: ApolloDouble,
    path: str,
    params: dict[str, str],
    *,
    secret: str = SECRET,
    skew_ms: int = 0,
    encode: str = "base64",
) -> httpx.Response:
    with httpx.Client() as client:
        request = client.build_request("GET", double.url + path, params=params)
        millis = int(time.time() * 1000) + skew_ms
        digest = hmac.new(
            secret.encode(), f"{millis}\n{request.url.raw_path.decode()}".encode(), hashlib.sha1
        ).digest()
        signature = base64.b64encode(digest).decode() if encode == "base64" else digest.hex()
        request.headers["Authorization"] = f"Apollo {APP}:{signature}"
        request.headers["Timestamp"] = str(millis)
        return client.send(request)


def test_release_key_current_answers_304(apollo: ApolloDouble) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    first = signed_get(apollo, f"/configs/{APP}/default/application", {"releaseKey": "-1"})
    assert first.status_code == 200
    assert first.json()["configurations"] == {"a": "1"}
    again = signed_get(
        apollo, f"/configs/{APP}/default/application", {"releaseKey": first.json()["releaseKey"]}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_signature_must_be_base64_hmac_within_clock_tolerance(apollo: ApolloDouble) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    path = f"/configs/{APP}/default/application"
    assert signed_get(apollo, path, {}).status_code == 200
    assert signed_get(apollo, path, {}, encode="hex").status_code == 401
    assert signed_get(apollo, path, {}, secret="wrong").status_code == 401
    assert signed_get(apollo, path, {}, skew_ms=-61_000).status_code == 401
    assert httpx.get(apollo.url + path).status_code == 401


def test_long_poll_is_held_then_304(apollo: ApolloDouble) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    notifications = json.dumps([{"namespaceName": "application", "notificationId": -1}])
    behind = signed_get(
        apollo,
        "/notifications/v2",
        {"appId": APP, "cluster": "default", "notifications": notifications},
    )
    assert behind.status_code == 200
    [item] = behind.json()
    assert item["namespaceName"] == "application"
    assert item["messages"]["details"] == {f"{APP}+default+application": item["notificationId"]}
    current = json.dumps(
        [{"namespaceName": "application", "notificationId": item["notificationId"]}]
    )
    started = time.monotonic()
    held = signed_get(
        apollo, "/notifications/v2", {"appId": APP, "cluster": "default", "notifications": current}
    )
    assert held.status_code == 304
    assert 0.9 <= time.monotonic() - started < 3


def test_cluster_falls_back_to_default_and_content_carries_other_formats(
    apollo: ApolloDouble,
) -> None:
    apollo.publish(APP, "db.json", '{"url": "pg://x"}')
    answer = signed_get(apollo, f"/configs/{APP}/beijing/db.json", {})
    assert answer.json()["cluster"] == "default"
    assert answer.json()["configurations"] == {"content": '{"url": "pg://x"}'}
    apollo.publish(APP, "db.json", '{"url": "pg://y"}', cluster="beijing")
    assert signed_get(apollo, f"/configs/{APP}/beijing/db.json", {}).json()["cluster"] == "beijing"
    assert signed_get(apollo, f"/configs/{APP}/default/nothing", {}).status_code == 404


def test_incremental_sync_answers_changes_against_the_client_release() -> None:
    with ApolloDouble(hold_seconds=1.0, incremental_sync=True) as double:
        old = double.publish(APP, "application", {"a": "1", "b": "2"})
        double.publish(APP, "application", {"a": "1", "b": "3", "c": "4"})
        body = httpx.get(
            f"{double.url}/configs/{APP}/default/application", params={"releaseKey": old}
        ).json()
    assert body["configSyncType"] == "IncrementalSync"
    assert "configurations" not in body
    changes = {c["key"]: c["configurationChangeType"] for c in body["configurationChanges"]}
    assert changes == {"b": "MODIFIED", "c": "ADDED"}


def test_meta_server_lists_the_config_service(apollo: ApolloDouble) -> None:
    [service] = httpx.get(f"{apollo.meta_url}/services/config", params={"appId": APP}).json()
    assert service["homepageUrl"].rstrip("/") == apollo.url


def poll(double: ApolloDouble, notifications: object, **params: str) -> httpx.Response:
    query = {"appId": APP, "cluster": "default", **params}
    if notifications is not None:
        query["notifications"] = (
            notifications if isinstance(notifications, str) else json.dumps(notifications)
        )
    return signed_get(double, "/notifications/v2", query)


def test_polls_without_cluster_or_usable_notifications_are_400(apollo: ApolloDouble) -> None:
    current = [{"namespaceName": "application", "notificationId": -1}]
    without_cluster = signed_get(
        apollo, "/notifications/v2", {"appId": APP, "notifications": json.dumps(current)}
    )
    assert without_cluster.status_code == 400
    assert poll(apollo, []).status_code == 400
    assert poll(apollo, "not json").status_code == 400
    assert poll(apollo, [{"namespaceName": "", "notificationId": 1}]).status_code == 400
    assert poll(apollo, None).status_code == 400


def test_a_release_reaches_polls_only_when_its_message_is_scanned() -> None:
    with ApolloDouble(hold_seconds=0.5, scan_interval_seconds=3600) as double:
        key = double.publish(APP, "application", {"a": "1"})
        served = httpx.get(f"{double.url}/configs/{APP}/default/application").json()
        assert served["releaseKey"] == key  # the release itself is read at once
        behind = [{"namespaceName": "application", "notificationId": -1}]
        assert poll(double, behind).status_code == 304
        double.scan()
        assert poll(double, behind).status_code == 200


def test_a_deleted_key_has_no_new_value_field() -> None:
    with ApolloDouble(hold_seconds=1.0, incremental_sync=True) as double:
        old = double.publish(APP, "application", {"a": "1", "gone": "x"})
        double.publish(APP, "application", {"a": "1"})
        body = httpx.get(
            f"{double.url}/configs/{APP}/default/application", params={"releaseKey": old}
        ).json()
    assert body["configurationChanges"] == [{"key": "gone", "configurationChangeType": "DELETED"}]


def test_the_answer_names_the_namespace_as_requested(apollo: ApolloDouble) -> None:
    apollo.publish(APP, "extra", {"a": "1"})
    body = signed_get(apollo, f"/configs/{APP}/default/extra.properties", {}).json()
    assert body["namespaceName"] == "extra.properties"
    assert body["configurations"] == {"a": "1"}


def test_gray_release_is_served_by_ip_or_label() -> None:
    with ApolloDouble(hold_seconds=1.0) as double:
        double.publish(APP, "application", {"a": "1", "b": "1"})
        gray = double.gray_release(
            APP, "application", {"b": "gray"}, ips=["10.0.0.7"], labels=["canary"]
        )
        path = f"{double.url}/configs/{APP}/default/application"

        def served(**params: str) -> dict[str, object]:
            body: dict[str, object] = httpx.get(path, params=params).json()
            return body

        assert served(ip="10.0.0.7")["configurations"] == {"a": "1", "b": "gray"}
        assert served(ip="10.0.0.7")["releaseKey"] == gray
        assert served(ip="10.0.0.8", label="canary")["configurations"] == {"a": "1", "b": "gray"}
        assert served(ip="10.0.0.8")["configurations"] == {"a": "1", "b": "1"}
        assert served()["configurations"] == {"a": "1", "b": "1"}  # the caller's own address
        double.abandon_gray(APP, "application")
        assert served(ip="10.0.0.7")["configurations"] == {"a": "1", "b": "1"}


def test_public_namespaces_are_merged_under_the_apps_override() -> None:
    with ApolloDouble(hold_seconds=1.0, scan_interval_seconds=3600) as double:
        shared = double.publish(
            "platform", "common.db", {"url": "pg://shared", "pool": "4"}, public=True
        )
        path = f"{double.url}/configs/{APP}/default/common.db"
        body = httpx.get(path).json()
        assert body["configurations"] == {"url": "pg://shared", "pool": "4"}
        assert body["releaseKey"] == shared
        own = double.publish(APP, "common.db", {"pool": "16"})
        body = httpx.get(path).json()
        assert body["configurations"] == {"url": "pg://shared", "pool": "16"}
        assert body["releaseKey"] == f"{own}+{shared}"
        double.publish("platform", "private.db", {"x": "1"})
        assert httpx.get(f"{double.url}/configs/{APP}/default/private.db").status_code == 404
        double.scan()
        [item] = poll(double, [{"namespaceName": "common.db", "notificationId": -1}]).json()
        assert set(item["messages"]["details"]) == {
            f"{APP}+default+common.db",
            "platform+default+common.db",
        }


def test_faults_answer_500_garbage_and_slowly(apollo: ApolloDouble) -> None:
    apollo.publish(APP, "application", {"a": "1"})
    path = f"/configs/{APP}/default/application"
    apollo.faults.error_status = 500
    assert signed_get(apollo, path, {}).status_code == 500
    apollo.faults.clear()
    apollo.faults.malformed_json = True
    garbage = signed_get(apollo, path, {})
    assert garbage.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        garbage.json()
    apollo.faults.clear()
    apollo.faults.latency = 0.5
    started = time.monotonic()
    assert signed_get(apollo, path, {}).status_code == 200
    assert time.monotonic() - started >= 0.5
