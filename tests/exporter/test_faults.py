"""A failing upstream sets its target's up to 0 and counts the error; other targets carry on."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import Any

import pytest

from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator
from tests.exporter.conftest import harbor_target, jenkins_target, key, running_exporter, series

FAULTS: dict[str, dict[str, Any]] = {
    "server error": {"error_status": 503},
    "hang past the timeout": {"hang": 2.5},
    "malformed JSON": {"malformed_json": True},
    "truncated body": {"truncated": True},
    "wrong content type": {"wrong_content_type": True},
}
# What `paas_exporter_target_down_reason` says for each (a body cut short is a broken connection).
REASONS = {
    "server error": "http_5xx",
    "hang past the timeout": "timeout",
    "malformed JSON": "malformed",
    "truncated body": "connect",
    "wrong content type": "malformed",
}


def down_reasons(samples: Any, target: str, kind: str) -> dict[str, float]:
    found = series(samples, "paas_exporter_target_down_reason")
    return {
        dict(k)["reason"]: v
        for k, v in found.items()
        if dict(k)["target"] == target and dict(k)["kind"] == kind
    }


def down_reason(samples: Any, target: str, kind: str) -> str | None:
    reasons = down_reasons(samples, target, kind)
    assert len(reasons) == 7
    [*why] = [reason for reason, value in reasons.items() if value == 1]
    return why[0] if why else None


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failing_harbor_does_not_disturb_jenkins(
    fault: str, harbor: HarborSimulator, jenkins: JenkinsSimulator
) -> None:
    with running_exporter([harbor_target(harbor), jenkins_target(jenkins)]) as exporter:
        for name, value in FAULTS[fault].items():
            setattr(harbor.faults, name, value)
        harbor.faults.path_prefix = "/api/v2.0/quotas"
        failed_before = exporter.poller.targets["harbor"].errors
        exporter.poll_again(2, timeout=30)
        samples = exporter.samples()
        harbor_up = samples["paas_exporter_target_up", key(target="harbor", kind="harbor")]
        errors = samples["paas_exporter_upstream_errors_total", key(target="harbor", kind="harbor")]
        jenkins_up = samples["paas_exporter_target_up", key(target="jenkins", kind="jenkins")]

        harbor.faults.clear()
        exporter.poll_again(2, timeout=30)
        recovered = exporter.samples()

    assert harbor_up == 0
    assert down_reason(samples, "harbor", "harbor") == REASONS[fault]
    assert down_reason(recovered, "harbor", "harbor") is None
    assert down_reason(samples, "jenkins", "jenkins") is None
    assert errors >= failed_before + 1
    assert not series(samples, "harbor_project_total")  # no stale series from an earlier poll
    assert jenkins_up == 1
    assert series(samples, "jenkins_job_last_build_number")
    assert recovered["paas_exporter_target_up", key(target="harbor", kind="harbor")] == 1
    assert series(recovered, "harbor_project_total")


def test_wrong_credentials_mark_the_target_down(
    harbor: HarborSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HARBOR_PASSWORD", "wrong")
    with running_exporter([harbor_target(harbor)]) as exporter:
        samples = exporter.samples()
        error = exporter.poller.targets["harbor"].snapshot.error
    assert samples["paas_exporter_target_up", key(target="harbor", kind="harbor")] == 0
    assert down_reason(samples, "harbor", "harbor") == "auth"
    assert error is not None
    assert "401" in error
    assert "wrong" not in error


def test_a_redirect_names_where_it_leads() -> None:
    """`url: http://harbor...` for a Harbor that serves only HTTPS: its 308 is not followed
    (credentials would go with it) and the error says which address to configure."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(308)
            self.send_header("Location", f"https://harbor.example{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = {"name": "plain", "kind": "spinnaker", "url": f"http://127.0.0.1:{server.server_port}",
              "interval": 60, "timeout": 2}  # fmt: skip
    try:
        with running_exporter([target]) as exporter:
            error = exporter.poller.targets["plain"].snapshot.error
    finally:
        server.shutdown()
    assert error is not None
    assert "answered HTTP 308, a redirect to https://harbor.example/applications" in error
    assert "put that address in the target's url" in error


def test_an_unreachable_target_is_down_and_counted() -> None:
    target = {
        "name": "gone",
        "kind": "jenkins",
        "url": "http://127.0.0.1:9",
        "interval": 0.3,
        "timeout": 1,
    }
    with running_exporter([target]) as exporter:
        exporter.poll_again(1)
        samples = exporter.samples()
    assert samples["paas_exporter_target_up", key(target="gone", kind="jenkins")] == 0
    assert down_reason(samples, "gone", "jenkins") == "connect"
    assert samples["paas_exporter_upstream_errors_total", key(target="gone", kind="jenkins")] >= 2
    assert samples["paas_exporter_upstream_requests_total", key(target="gone", kind="jenkins")] >= 2


def test_an_unreadable_client_certificate_marks_only_that_target_down(
    jenkins: JenkinsSimulator, tmp_path: Path
) -> None:
    broken = {
        "name": "secure",
        "kind": "harbor",
        "url": "https://127.0.0.1:9",
        "timeout": 1,
        "tls": {"cert_file": str(tmp_path / "missing.crt")},
    }
    with running_exporter([broken, jenkins_target(jenkins)]) as exporter:
        samples = exporter.samples()
        error = exporter.poller.targets["secure"].snapshot.error
    assert samples["paas_exporter_target_up", key(target="secure", kind="harbor")] == 0
    assert samples["paas_exporter_target_up", key(target="jenkins", kind="jenkins")] == 1
    assert error is not None
    assert "No such file" in error


def test_a_rotated_password_file_is_picked_up_after_a_refused_poll(
    harbor: HarborSimulator, tmp_path: Path
) -> None:
    """A failed poll starts the next one with a new client, which reads the secret again."""
    secret = tmp_path / "harbor-password"
    secret.write_text("an-old-password\n")
    target = harbor_target(harbor, auth={"username": "admin", "password_file": str(secret)})
    with running_exporter([target]) as exporter:
        refused = exporter.samples()
        secret.write_text("Harbor12345\n")
        exporter.poll_again(2, timeout=30)
        accepted = exporter.samples()
    assert refused["paas_exporter_target_up", key(target="harbor", kind="harbor")] == 0
    assert accepted["paas_exporter_target_up", key(target="harbor", kind="harbor")] == 1
    assert series(accepted, "harbor_project_total")


def test_harbor_leaving_zero_fields_out_is_not_a_failure(harbor: HarborSimulator) -> None:
    """A full disk (`free` 0), no vulnerabilities, an empty queue: Harbor omits those fields."""
    harbor.state.storage = [{"total": 500 * 1024**3, "free": 0}]
    harbor.state.security_summary = dict.fromkeys(harbor.state.security_summary, 0)
    for queue in harbor.state.queues:
        queue.update(count=0, latency=0)
    with running_exporter([harbor_target(harbor)]) as exporter:
        samples = exporter.samples()
    assert samples["paas_exporter_target_up", key(target="harbor", kind="harbor")] == 1
    assert samples["harbor_storage_free_bytes", key()] == 0
    assert set(series(samples, "harbor_vulnerabilities").values()) == {0}
    assert set(series(samples, "harbor_task_queue_size").values()) == {0}


def test_a_jenkins_api_token_with_a_username_is_sent_as_basic_auth(
    jenkins: JenkinsSimulator,
) -> None:
    # Jenkins takes an API token only as Basic username:token, as the simulator does.
    target = jenkins_target(
        jenkins, auth={"username": "exporter", "token_env": "TEST_JENKINS_TOKEN"}
    )
    with running_exporter([target]) as exporter:
        samples = exporter.samples()
        error = exporter.poller.targets["jenkins"].snapshot.error
    assert samples["paas_exporter_target_up", key(target="jenkins", kind="jenkins")] == 1, error
