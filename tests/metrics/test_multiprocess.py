"""Multiprocess mode: two worker processes, one aggregated `/metrics`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from paas_sdk.metrics import HealthEndpoints, mark_worker_exited
from tests.metrics.conftest import promtool_check, samples

# A worker: the instrumented service on the default registry, answering `requests` calls
# in-process, exactly as a gunicorn worker would with PROMETHEUS_MULTIPROC_DIR set.
WORKER = """
import asyncio, sys
import httpx
from prometheus_client import CollectorRegistry
from paas_sdk.context import ServiceContext
from paas_sdk.metrics import register_service_info
from prometheus_client import REGISTRY
from tests.metrics.conftest import build_service

app, _ = build_service(REGISTRY)
register_service_info(ServiceContext.from_env({"PAAS_APP_ID": "orders"}))

async def main(count: int) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for n in range(count):
            assert (await client.get(f"/users/{n}")).status_code == 200

asyncio.run(main(int(sys.argv[1])))
"""


def test_two_workers_are_aggregated(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[2]
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(count)], env=env, cwd=root)
        for count in (7, 5)
    ]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    for worker in workers:
        mark_worker_exited(worker.pid, str(tmp_path))

    endpoints = HealthEndpoints(registry=CollectorRegistry(), multiprocess_dir=str(tmp_path))
    status, _, body = endpoints.metrics()
    assert status == 200
    text = body.decode()
    counts = samples(text, "http_server_request_duration_seconds_count")
    labels = (("method", "GET"), ("route", "/users/{user_id:int}"), ("status", "200"))
    assert counts[labels] == 12
    info = samples(text, "paas_service_info")
    assert list(info.values()) == [1.0]
    assert dict(next(iter(info)))["app"] == "orders"
    assert promtool_check(body).returncode == 0
