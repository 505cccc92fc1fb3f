"""Fixtures for paas-dash: a Grafana (the double, or a real one from PAAS_TEST_GRAFANA_URL), a
user's own dashboard directory, and the exporter's live exposition against its simulators."""

from __future__ import annotations

import contextlib
import os
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from paas_sdk.testing.grafana import GrafanaDouble
from paas_sdk.testing.pytest_plugin import Endpoint
from paas_sdk.testing.simulators.delivery import DeliveryWorld, install


@dataclass
class Grafana:
    url: str
    token: str
    double: GrafanaDouble | None

    def api(self) -> Any:
        from grafana_client.api import GrafanaApi

        return GrafanaApi.from_url(self.url, credential=self.token, timeout=10)


TEST_FOLDERS = ("paas", "paas-delivery", "paas-platform", "team-shop")
# the platform components' folder and rule files (etcd, the API server, CoreDNS)
PLATFORM = "paas-platform"
PLATFORM_RULES = frozenset({"etcd.yaml", "kube_apiserver.yaml", "coredns.yaml"})
TEST_DASHBOARDS = ("mine",)


def _clean_real_grafana(grafana: Grafana) -> None:
    """A real Grafana keeps state between tests: remove what these tests create, nothing else."""
    api = grafana.api()
    for hit in api.search.search_dashboards(type_="dash-db", limit=5000):
        if str(hit["uid"]).startswith("paas-") or hit["uid"] in TEST_DASHBOARDS:
            api.dashboard.delete_dashboard(hit["uid"])
    for folder in api.folder.get_all_folders():
        if folder["uid"] in TEST_FOLDERS:
            api.folder.delete_folder(folder["uid"])


@pytest.fixture
def grafana() -> Iterator[Grafana]:
    real = os.environ.get("PAAS_TEST_GRAFANA_URL")
    if real:
        grafana = Grafana(real.rstrip("/"), os.environ.get("PAAS_TEST_GRAFANA_TOKEN", ""), None)
        _clean_real_grafana(grafana)
        yield grafana
        return
    with GrafanaDouble(token="secret-test-token") as double:
        yield Grafana(double.url, double.token, double)


TEAM_MODULE = '''
"""A team's own dashboard, built with the same helpers as the built-in ones."""

from paas_sdk.dash.panels import base_dashboard, timeseries_panel

FOLDER = "team-shop"


def dashboard():
    return base_dashboard(
        "Shop / Orders", "{slug}", selector_metric="paas_service_info", description="Orders."
    ).with_panel(
        timeseries_panel(
            "Orders",
            "Orders per second.",
            "reqps",
            [
                (
                    'sum(rate(http_server_request_duration_seconds_count'
                    '{{job=~"$job", route="/orders"}}[$__rate_interval]))',
                    "orders",
                )
            ],
        )
    )
'''


def write_team_dir(
    directory: Path,
    slugs: list[str],
    folder: str = "team-shop",
    *,
    owner: str = "shop",
    folder_title: str = "Shop team",
) -> Path:
    """A user's dashboard directory: catalog.yaml, folders.yaml, one module per slug."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "catalog.yaml").write_text(f"owner: {owner}\n")
    (directory / "folders.yaml").write_text(f"{folder}: {folder_title}\n")
    for slug in slugs:
        module = TEAM_MODULE.format(slug=slug).replace("team-shop", folder)
        (directory / f"{slug.replace('-', '_')}.py").write_text(textwrap.dedent(module))
    return directory


@pytest.fixture
def team_dir(tmp_path: Path) -> Path:
    return write_team_dir(tmp_path / "team", ["shop-orders"])


@dataclass
class LiveExporter:
    address: str  # host:port

    def exposition(self) -> str:
        return httpx.get(f"http://{self.address}/metrics", timeout=10).text


@pytest.fixture(scope="module")
def live_exporter() -> Iterator[LiveExporter]:
    """A real paas-exporter polling the Harbor, Jenkins and Spinnaker simulators."""
    from paas_exporter.config import parse_config
    from paas_exporter.poller import Poller
    from paas_exporter.server import MetricsServer

    from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator

    env = {"TEST_HARBOR_PASSWORD": "Harbor12345", "TEST_JENKINS_TOKEN": "api-token"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    with contextlib.ExitStack() as stack:
        harbor = stack.enter_context(HarborSimulator(projects=20))
        jenkins = stack.enter_context(JenkinsSimulator(jobs=40, folders=2, depth=2))
        spinnaker = stack.enter_context(SpinnakerSimulator(applications=3))
        # The delivery view too, over a small correlated history (counters kept in a state file
        # so they carry the history as well).
        world = DeliveryWorld.generate(4, 10, now_ms=int(time.time() * 1000) - 60_000)
        install(world, harbor=harbor, jenkins=jenkins, spinnaker=spinnaker)
        state = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "delivery.json"
        base = {"interval": 0.5, "timeout": 5}
        config = parse_config(
            {
                "targets": [
                    {"name": "harbor", "kind": "harbor", "url": harbor.url,
                     "auth": {"username": "admin", "password_env": "TEST_HARBOR_PASSWORD"},
                     "repository_pulls": True, **base},
                    {"name": "jenkins", "kind": "jenkins", "url": jenkins.url,
                     "auth": {"username": "exporter", "password_env": "TEST_JENKINS_TOKEN"},
                     **base},
                    {"name": "spinnaker", "kind": "spinnaker", "url": spinnaker.url, **base},
                ],
                "delivery": {"spinnaker": "spinnaker", "harbor": "harbor", "jenkins": "jenkins",
                             "registry": "harbor.example", "interval": 0.5,
                             "state_file": str(state),
                             "environments": {"staging": ["staging-k8s"],
                                              "production": ["prod-k8s"]}},
            },
            "dash-test-config.yaml",
        )  # fmt: skip
        poller = Poller(config)
        server = MetricsServer(poller, "127.0.0.1", 0)
        poller.start()
        server.start()
        try:
            assert poller.wait_for_polls(1, timeout=30)
            yield LiveExporter(f"127.0.0.1:{server.port}")
        finally:
            server.close()
            poller.close()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def live_order_service_exposition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zookeeper: Endpoint, kafka: Endpoint
) -> Iterator[str]:
    """/metrics of the example order service with config, logs, registry all wired, after a
    little traffic: what the SDK really exposes."""
    import logging

    import httpx
    from prometheus_client import CollectorRegistry

    import paas_sdk
    from examples.order_service.asgi_app import create_app
    from examples.order_service.orders import OrderBook
    from examples.order_service.triple import serve_triple
    from paas_sdk.context import ServiceContext
    from paas_sdk.platform import PlatformSettings
    from paas_sdk.testing.apollo import ApolloDouble
    from paas_sdk.testing.servers import free_port

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with ApolloDouble(hold_seconds=1.0) as apollo:
        apollo.publish("order-service", "application", {"greeting": "hi"})
        monkeypatch.setenv("APOLLO_CONFIG_SERVICE", apollo.url)
        monkeypatch.setenv("APOLLO_CACHE_DIR", str(tmp_path / "cache"))
        platform = paas_sdk.init(
            context=ServiceContext(app_id="order-service", pod_ip="127.0.0.1"),
            settings=PlatformSettings(
                zookeeper=zookeeper.address,
                kafka_bootstrap=kafka.address,
                log_topic="dead-panels",
                metrics_port=0,
                drain_seconds=0,
            ),
            metrics_registry=CollectorRegistry(),
            install_signal_handlers=False,
        )
        try:
            book = OrderBook()
            triple = serve_triple(platform, book, port=free_port())
            app = create_app(platform, book)
            transport = httpx.ASGITransport(app=app)

            async def traffic() -> None:
                async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                    await client.post("/orders", json={"items": ["a"]})
                    await client.get("/orders/1")
                    await client.get("/greeting")

            import asyncio

            asyncio.run(traffic())
            import grpc

            from examples.order_service.proto import order_pb2, order_pb2_grpc

            with grpc.insecure_channel(triple.address) as channel:  # the Dubbo face, over Triple
                stub = order_pb2_grpc.OrderServiceStub(channel)
                stub.GetOrder(order_pb2.GetOrderRequest(id=1), timeout=5)
                with contextlib.suppress(grpc.RpcError):
                    stub.GetOrder(order_pb2.GetOrderRequest(id=404), timeout=5)
            port = platform.metrics_server.port  # type: ignore[union-attr]
            yield httpx.get(f"http://127.0.0.1:{port}/metrics").text
        finally:
            platform.shutdown()
            for handler in list(root.handlers):
                if handler not in handlers:
                    root.removeHandler(handler)
            root.setLevel(level)
