"""The double answers as reference/apollo.md documents the config service and meta server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx

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
