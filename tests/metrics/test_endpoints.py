"""`/healthz`, `/readyz` and `/metrics`, mounted and on their own port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry, Counter

from paas_sdk.errors import PaasError
from paas_sdk.metrics import HealthEndpoints, MetricsServer
from tests.metrics.conftest import build_service


def _raising() -> bool:
    raise ConnectionError("zookeeper session expired")


def test_readiness_flips_when_a_check_flips(registry: CollectorRegistry) -> None:
    state = {"config": True, "registry": True}
    endpoints = HealthEndpoints(
        registry=registry,
        readiness_checks={
            "config_loaded": lambda: state["config"],
            "registry_registered": lambda: state["registry"],
        },
    )
    with MetricsServer(endpoints, host="127.0.0.1", port=0) as server:
        url = f"http://127.0.0.1:{server.port}/readyz"
        assert httpx.get(url).status_code == 200
        state["registry"] = False
        answer = httpx.get(url)
        assert answer.status_code == 503
        assert answer.json() == {
            "status": "not ready",
            "checks": {"config_loaded": "ok", "registry_registered": "failed"},
        }
        state["registry"] = True
        assert httpx.get(url).status_code == 200


def test_a_check_added_later_takes_part(registry: CollectorRegistry) -> None:
    endpoints = HealthEndpoints(registry=registry)
    assert endpoints.readiness()[0] == 200
    endpoints.add_readiness_check("registry_registered", lambda: False)
    status, _, body = endpoints.readiness()
    endpoints.close()
    assert status == 503
    assert orjson.loads(body)["checks"] == {"registry_registered": "failed"}


def test_a_raising_check_is_reported_not_ready_with_its_name(registry: CollectorRegistry) -> None:
    endpoints = HealthEndpoints(
        registry=registry, readiness_checks={"registry": _raising, "config": lambda: True}
    )
    with MetricsServer(endpoints, host="127.0.0.1", port=0) as server:
        answer = httpx.get(f"http://127.0.0.1:{server.port}/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"] == {
        "registry": "error: ConnectionError",
        "config": "ok",
    }
    assert "Traceback" not in answer.text


def _leaking() -> bool:
    raise ConnectionError("could not connect to postgres://app:hunter2@db.internal:5432/orders")


def test_a_failing_check_shows_its_type_to_the_prober_and_its_detail_only_in_the_log(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    endpoints = HealthEndpoints(registry=registry, readiness_checks={"database": _leaking})
    with MetricsServer(endpoints, host="127.0.0.1", port=0) as server:
        answers = [httpx.get(f"http://127.0.0.1:{server.port}/readyz") for _ in range(3)]
    assert {answer.text for answer in answers} == {
        '{"status":"not ready","checks":{"database":"error: ConnectionError"}}\n'
    }
    logged = [r.getMessage() for r in caplog.records if r.name == "paas_sdk.metrics"]
    # the detail once, when the check started failing, not once per probe
    assert logged == [
        "readiness check database: ConnectionError: could not connect to "
        "postgres://app:hunter2@db.internal:5432/orders"
    ]


def test_a_hanging_check_times_out_instead_of_hanging_the_probe(
    registry: CollectorRegistry,
) -> None:
    release = threading.Event()
    endpoints = HealthEndpoints(
        registry=registry,
        readiness_checks={"slow": lambda: release.wait(5)},
        check_timeout=0.2,
    )
    started = time.monotonic()
    status, _, body = endpoints.readiness()
    release.set()
    endpoints.close()
    assert time.monotonic() - started < 2
    assert status == 503
    assert orjson.loads(body)["checks"] == {"slow": "timeout"}


def test_a_hung_check_is_not_run_again_while_it_hangs(registry: CollectorRegistry) -> None:
    release = threading.Event()
    runs: list[int] = []

    def hung() -> bool:
        runs.append(1)
        return release.wait(10)

    endpoints = HealthEndpoints(
        registry=registry,
        readiness_checks={"hung": hung, "healthy": lambda: True},
        check_timeout=0.1,
    )
    try:
        outcomes = [orjson.loads(endpoints.readiness()[2])["checks"] for _ in range(5)]
    finally:
        release.set()
        endpoints.close()
    assert outcomes == [{"hung": "timeout", "healthy": "ok"}] * 5
    assert len(runs) == 1


def test_liveness_and_metrics_on_their_own_port_in_a_named_thread(
    registry: CollectorRegistry,
) -> None:
    Counter("orders_placed", "Orders placed.", registry=registry).inc(3)
    server = MetricsServer(HealthEndpoints(registry=registry), host="127.0.0.1", port=0).start()
    try:
        assert "paas-metrics" in {thread.name for thread in threading.enumerate()}
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").text == "ok\n"
        assert "orders_placed_total 3.0" in httpx.get(f"{base}/metrics").text
        open_metrics = httpx.get(
            f"{base}/metrics", headers={"Accept": "application/openmetrics-text"}
        )
        assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
        assert open_metrics.text.endswith("# EOF\n")
        assert httpx.get(f"{base}/elsewhere").status_code == 404
        assert httpx.post(f"{base}/metrics").status_code == 405
    finally:
        server.close()
    assert "paas-metrics" not in {thread.name for thread in threading.enumerate()}


class _BrokenCollector:
    def collect(self) -> list[object]:
        raise OSError("cannot read /proc/self/stat")


def test_a_broken_collector_answers_500_with_the_reason(registry: CollectorRegistry) -> None:
    registry.register(_BrokenCollector())  # type: ignore[arg-type]
    with MetricsServer(HealthEndpoints(registry=registry), host="127.0.0.1", port=0) as server:
        answer = httpx.get(f"http://127.0.0.1:{server.port}/metrics")
        healthy = httpx.get(f"http://127.0.0.1:{server.port}/healthz")
    assert answer.status_code == 500
    assert answer.text == "cannot collect metrics: OSError\n"
    assert healthy.status_code == 200


def test_a_port_in_use_is_reported_with_the_address(registry: CollectorRegistry) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MetricsServer(HealthEndpoints(registry=registry), host="127.0.0.1", port=port)
        with pytest.raises(PaasError, match=rf"^127\.0\.0\.1:{port}: cannot serve the metrics"):
            server.start()


def test_a_slow_readiness_check_does_not_hold_the_asgi_apps_requests(
    registry: CollectorRegistry,
) -> None:
    """Mounted in an ASGI app, a probe waiting on a check must not stop the event loop: the
    check here returns only once a request to the app itself has been answered."""
    answered = threading.Event()

    def waits_for_the_app() -> bool:
        return answered.wait(timeout=10)

    app, _ = build_service(registry, {"database": waits_for_the_app})

    async def both() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            probe = asyncio.create_task(client.get("/readyz"))
            await asyncio.sleep(0.05)  # the probe is under way
            user = await asyncio.wait_for(client.get("/users/7"), timeout=5)
            answered.set()
            return user.status_code, (await asyncio.wait_for(probe, timeout=5)).status_code

    assert asyncio.run(both()) == (200, 200)
