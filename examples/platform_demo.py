"""The local demo of the whole platform on one machine.

It starts real ZooKeeper, Kafka, Elasticsearch and Prometheus, the Apollo double and the Harbor,
Jenkins and Spinnaker simulators; runs the example order service (config from Apollo, its Triple
endpoint registered in ZooKeeper, ECS logs to Kafka, metrics) and paas-exporter; drives traffic
and one config change; has a Java Dubbo consumer call the service through ZooKeeper;
indexes the shipped logs into Elasticsearch with a running `paas-logs index`; has Prometheus
scrape the service, the exporter and the indexer; renders the dashboards with `paas-dash` (or
syncs them when GRAFANA_URL is set); starts a real Kubernetes API server (with etcd), applies the
dashboards and rules to it with `paas-dash apply` and shows what it stored; draws a preview of
each dashboard from Prometheus' live data; and prints what happened and where the previews are.

    scripts/demo                          # run until Ctrl-C
    scripts/demo --once --summary s.json  # stop after the summary; exit 1 if a check failed
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
import yaml
from elasticsearch import Elasticsearch
from kazoo.client import KazooClient
from rich.console import Console
from rich.table import Table

from paas_sdk.errors import PaasError
from paas_sdk.registry import DubboURL
from paas_sdk.testing.apollo import ApolloDouble
from paas_sdk.testing.servers import (
    Cache,
    ElasticsearchServer,
    KafkaServer,
    KubernetesCluster,
    PrometheusServer,
    ZooKeeperServer,
    free_port,
)
from paas_sdk.testing.servers._process import ServerProcess
from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator
from paas_sdk.testing.simulators.delivery import DeliveryWorld, install

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
APP_ID = "order-service"
INTERFACE = "com.example.order.v1.OrderService"  # proto/order.proto's OrderService in Dubbo
JAVA_CALLS = 20
LOG_TOPIC = "paas-logs"
ORDERS = 300

console = Console()


class Demo:
    """Owns every process and server it starts; `close()` stops them in reverse order."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.summary: dict[str, Any] = {"checks": {}}
        self._stops: list[tuple[str, Callable[[], None]]] = []
        # Two weeks of a delivery chain to link: commits built by Jenkins, pushed to Harbor,
        # deployed by Spinnaker to staging and production (the Delivery dashboard's data).
        self.world = DeliveryWorld.generate(12, 14, now_ms=int(time.time() * 1000) - 60_000)

    # -- bookkeeping -------------------------------------------------------------------------
    def owns(self, name: str, stop: Callable[[], None]) -> None:
        self._stops.append((name, stop))

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.summary["checks"][name] = {"ok": ok, "detail": detail}
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        console.print(f"{mark} {name}: {detail}")

    def close(self) -> None:
        for name, stop in reversed(self._stops):
            with console.status(f"stopping {name} ..."), contextlib.suppress(Exception):
                stop()
        self._stops.clear()

    def start_server(self, server: ServerProcess) -> None:
        began = time.monotonic()
        with console.status(f"starting {server.name} ..."):
            server.start()
        self.owns(server.name, server.stop)
        console.print(f"  {server.name} up in {time.monotonic() - began:.1f} s")

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

        def stop() -> None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
            log.close()

        self.owns(name, stop)
        return process

    # -- the steps ---------------------------------------------------------------------------
    def run(self) -> None:
        console.rule("paas-sdk: the platform on one machine")
        zookeeper = ZooKeeperServer(self.root / "zookeeper")
        kafka = KafkaServer(self.root / "kafka")
        elasticsearch = ElasticsearchServer(self.root / "elasticsearch")
        prometheus = PrometheusServer(self.root / "prometheus", scrape_interval="1s")
        for server in (zookeeper, kafka, elasticsearch, prometheus):
            self.start_server(server)
        apollo = ApolloDouble(hold_seconds=5.0).start()
        self.owns("apollo", apollo.stop)
        apollo.publish(APP_ID, "application", {"greeting": "hello", "orders.max_items": "5"})
        harbor = HarborSimulator(projects=40)
        jenkins = JenkinsSimulator(jobs=300, folders=10, depth=3)
        spinnaker = SpinnakerSimulator(applications=6)
        simulators = [harbor, jenkins, spinnaker]
        for simulator in simulators:
            simulator.start()
            self.owns(simulator.name, simulator.stop)
        # The delivery chain's history for the simulators to serve.
        install(self.world, harbor=harbor, jenkins=jenkins, spinnaker=spinnaker)
        self.summary["services"] = {
            "zookeeper": zookeeper.hosts,
            "kafka": kafka.bootstrap_servers,
            "elasticsearch": elasticsearch.url,
            "prometheus": prometheus.url,
            "apollo": apollo.url,
            **{simulator.name: simulator.url for simulator in simulators},
        }

        service, exporter = self.start_workloads(zookeeper, kafka, apollo, simulators)
        prometheus.scrape(APP_ID, [f"127.0.0.1:{service['metrics_port']}"])
        prometheus.scrape("paas-exporter", [f"127.0.0.1:{exporter['port']}"])

        self.drive_traffic(service["url"])
        self.change_config(apollo, service["url"])
        self.show_registration(zookeeper.hosts)
        self.call_from_java(zookeeper.hosts)
        self.index_logs(kafka.bootstrap_servers, elasticsearch.url, prometheus)
        self.show_prometheus(prometheus)
        self.release(harbor, jenkins, spinnaker)
        self.dashboards()
        self.apply_to_kubernetes(prometheus)  # before the previews: etcd's and the API server's too
        self.previews(prometheus, service["url"], service["triple"])

    def start_workloads(
        self,
        zookeeper: ZooKeeperServer,
        kafka: KafkaServer,
        apollo: ApolloDouble,
        simulators: list[Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        port, metrics_port, triple_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APOLLO_", "PAAS_"))}
        service_env = dict(
            env,
            PAAS_APP_ID=APP_ID,
            PAAS_VERSION="1.0.0",
            POD_IP="127.0.0.1",
            APOLLO_CONFIG_SERVICE=apollo.url,
            APOLLO_CACHE_DIR=str(self.root / "apollo-cache"),
            PAAS_ZOOKEEPER=zookeeper.hosts,
            PAAS_KAFKA_BOOTSTRAP=kafka.bootstrap_servers,
            PAAS_LOG_TOPIC=LOG_TOPIC,
            PAAS_METRICS_PORT=str(metrics_port),
            PAAS_DRAIN_SECONDS="1",
            PAAS_TRIPLE_PORT=str(triple_port),
        )
        self.spawn(
            APP_ID,
            [sys.executable, "-m", "examples.order_service.asgi_app", "--port", str(port)],
            service_env,
        )
        harbor, jenkins, spinnaker = simulators
        exporter_port = free_port()
        config = {
            "listen": {"host": "127.0.0.1", "port": exporter_port},
            "targets": [
                {"name": "harbor", "kind": "harbor", "url": harbor.url, "interval": 5,
                 "repository_pulls": True,
                 "auth": {"username": "admin", "password_env": "DEMO_HARBOR_PASSWORD"}},
                {"name": "jenkins", "kind": "jenkins", "url": jenkins.url, "interval": 5,
                 "auth": {"username": "exporter", "password_env": "DEMO_JENKINS_TOKEN"}},
                {"name": "spinnaker", "kind": "spinnaker", "url": spinnaker.url, "interval": 5},
            ],
            "delivery": {
                "spinnaker": "spinnaker", "harbor": "harbor", "jenkins": "jenkins",
                "registry": "harbor.example", "interval": 5,
                "environments": {"staging": ["staging-k8s"], "production": ["prod-k8s"]},
                # the first start counts the whole history once (lead-time histograms too)
                "state_file": str(self.root / "delivery-state.json"),
            },
        }  # fmt: skip
        config_path = self.root / "exporter.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.spawn(
            "paas-exporter",
            [str(BIN / "paas-exporter"), "--config", str(config_path)],
            dict(
                env,
                DEMO_HARBOR_PASSWORD=harbor.credentials[1],
                DEMO_JENKINS_TOKEN=jenkins.credentials[1],
            ),
        )
        service = {
            "url": f"http://127.0.0.1:{port}",
            "metrics_port": metrics_port,
            "triple": f"127.0.0.1:{triple_port}",
        }
        exporter = {"url": f"http://127.0.0.1:{exporter_port}", "port": exporter_port}
        with console.status("waiting for the order service and the exporter to be ready ..."):
            for name, url in (
                (APP_ID, f"http://127.0.0.1:{metrics_port}/readyz"),
                ("paas-exporter", f"{exporter['url']}/readyz"),
            ):
                ready = _wait(functools.partial(_answers_ok, url), timeout=60)
                self.check(f"{name} ready", ready, url)
                if not ready:
                    raise PaasError(f"not ready; see {self.root / (name + '.log')}", where=name)
        self.summary["services"][APP_ID] = service["url"]
        self.summary["services"]["paas-exporter"] = exporter["url"]
        return service, exporter

    def drive_traffic(self, url: str) -> None:
        def order(i: int) -> int:
            items = ["book"] * (1 + i % 7)  # every 7th order has too many items: a 422
            return httpx.post(f"{url}/orders", json={"items": items}, timeout=10).status_code

        with console.status(f"placing {ORDERS} orders ..."), ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(order, range(ORDERS)))
        placed = statuses.count(201)
        self.summary["traffic"] = {"orders": ORDERS, "placed": placed, "rejected": ORDERS - placed}
        self.check("traffic", placed > 0, f"{placed} orders placed, {ORDERS - placed} rejected")

    def change_config(self, apollo: ApolloDouble, url: str) -> None:
        before = httpx.get(f"{url}/greeting").json()["greeting"]
        published = time.monotonic()
        apollo.publish(APP_ID, "application", {"greeting": "bonjour", "orders.max_items": "5"})
        changed = _wait(lambda: httpx.get(f"{url}/greeting").json()["greeting"] == "bonjour", 15)
        seconds = time.monotonic() - published
        self.summary["config"] = {"before": before, "after": "bonjour", "reload_seconds": seconds}
        self.check(
            "config hot reload",
            before == "hello" and changed,
            f"greeting {before!r} -> 'bonjour' {seconds * 1000:.0f} ms after publishing",
        )

    def show_registration(self, hosts: str) -> None:
        client = KazooClient(hosts=hosts)
        client.start(timeout=15)
        try:
            path = f"/dubbo/{INTERFACE}/providers"
            children = client.get_children(path) if client.exists(path) else []
        finally:
            client.stop()
        urls = [DubboURL.decode(child) for child in children]
        self.summary["registry"] = {"path": path, "providers": [str(u) for u in urls]}
        detail = f"{path}: " + (f"{urls[0].host}:{urls[0].port}" if urls else "nothing")
        self.check("registered in ZooKeeper", len(urls) == 1 and urls[0].protocol == "tri", detail)

    def call_from_java(self, hosts: str) -> None:
        """A Java Dubbo 3.3 consumer finds the service in ZooKeeper and calls it over Triple."""
        with console.status("building and running a Java Dubbo consumer ..."):
            run = subprocess.run(
                [sys.executable, "-m", "examples.order_service.java_dubbo", hosts,
                 "--calls", str(JAVA_CALLS)],
                cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
            )  # fmt: skip
        lines = run.stdout.splitlines()
        answers = [line.split() for line in lines if line.startswith("OK ")]
        placed = [line for line in lines if line.startswith("PLACED ")]
        self.summary["java"] = {
            "calls": JAVA_CALLS,
            "answered": len(answers),
            "served_by": sorted({a[2] for a in answers}),
            "placed": len(placed),
            "done": lines[-1] if lines else "",
        }
        self.check(
            "Java Dubbo consumer over Triple",
            len(answers) == JAVA_CALLS and len(placed) == 1,
            f"{len(answers)} of {JAVA_CALLS} GetOrder answered by "
            f"{', '.join(self.summary['java']['served_by']) or 'nobody'}; {placed[:1]}",
        )

    def index_logs(self, bootstrap: str, es_url: str, prometheus: PrometheusServer) -> None:
        # The indexer runs as it does on the platform: a long-lived consumer with its metrics
        # scraped, so the log pipeline dashboard's indexer panels have data too.
        logs = str(BIN / "paas-logs")
        indexer_port = free_port()
        subprocess.run([logs, "setup", "--es", es_url], check=True, capture_output=True)
        self.spawn(
            "paas-logs-index",
            [logs, "index", "--es", es_url, "--bootstrap", bootstrap, "--topic", LOG_TOPIC,
             "--metrics-host", "127.0.0.1", "--metrics-port", str(indexer_port),
             "--progress-every", "5"],
            dict(os.environ),
        )  # fmt: skip
        prometheus.scrape("paas-logs-index", [f"127.0.0.1:{indexer_port}"])
        expected = self.summary["traffic"]["placed"] + self.summary.get("java", {}).get("placed", 0)
        es = Elasticsearch(es_url, request_timeout=30)
        placed_query = {"bool": {"filter": [
            {"term": {"service.name": APP_ID}}, {"match_phrase": {"message": "order placed"}},
        ]}}  # fmt: skip

        def placed_indexed() -> int:
            es.indices.refresh(index=f"{LOG_TOPIC}*")
            return int(es.count(index=f"{LOG_TOPIC}*", query=placed_query)["count"])

        with console.status("indexing the shipped logs into Elasticsearch ..."):
            _wait(lambda: placed_indexed() >= expected, timeout=120)
        placed = placed_indexed()
        total = es.count(index=f"{LOG_TOPIC}*")["count"]
        self.summary["logs"] = {"indexed": total, "order_placed": placed, "expected": expected}
        self.check(
            "logs shipped and indexed",
            placed == expected,
            f"{total} ECS documents in Elasticsearch, {placed} of {expected} 'order placed'",
        )

    def show_prometheus(self, prometheus: PrometheusServer) -> None:
        with console.status("waiting for Prometheus to scrape ..."):
            _wait(lambda: bool(prometheus.query("paas_exporter_target_up")), timeout=30)
            _wait(lambda: bool(prometheus.query(f'paas_service_info{{job="{APP_ID}"}}')), 30)
        queries = {
            "targets up": 'sum(up{job=~"order-service|paas-exporter"})',
            "order-service requests": (
                f'sum(http_server_request_duration_seconds_count{{job="{APP_ID}"}})'
            ),
            "exporter targets up": "sum(paas_exporter_target_up)",
            "harbor projects": "sum(harbor_project_total)",
            "jenkins jobs": "count(jenkins_job_last_build_number)",
            "spinnaker pipelines": (
                "count(spinnaker_pipeline_last_execution_start_timestamp_seconds)"
            ),
        }  # fmt: skip
        values: dict[str, float | None] = {}
        for name, expr in queries.items():
            result = prometheus.query(expr)
            values[name] = float(result[0]["value"][1]) if result else None
        self.summary["prometheus"] = values
        table = Table(title="live values from Prometheus")
        table.add_column("what")
        table.add_column("value", justify="right")
        for name, value in values.items():
            table.add_row(name, "—" if value is None else f"{value:g}")
        console.print(table)
        self.check(
            "Prometheus scraping",
            values["targets up"] == 2 and values["exporter targets up"] == 4,
            f"{values['targets up']:g} targets up, exporter sees {values['exporter targets up']:g}"
            " of 3 upstreams and the delivery view",
        )

    def release(
        self, harbor: HarborSimulator, jenkins: JenkinsSimulator, spinnaker: SpinnakerSimulator
    ) -> None:
        """Three applications ship a new release while the demo runs: commits, a build, an
        image, deploys to staging and production, which the delivery view links and counts."""
        now = int(time.time() * 1000)
        for app in self.world.applications[:3]:
            self.world.add_release(app, now)
        install(self.world, harbor=harbor, jenkins=jenkins, spinnaker=spinnaker)
        console.print(f"released {', '.join(self.world.applications[:3])}: built, pushed, deployed")

    def dashboards(self) -> None:
        dash = str(BIN / "paas-dash")
        if os.environ.get("GRAFANA_URL"):
            run = subprocess.run([dash, "sync"], capture_output=True, text=True, check=False)
            self.summary["dashboards"] = {"synced_to": os.environ["GRAFANA_URL"]}
            self.check("dashboards synced", run.returncode == 0, run.stdout.strip()[-200:])
            return
        out = self.root / "rendered"
        run = subprocess.run(
            [dash, "render", "--out", str(out)], capture_output=True, text=True, check=False
        )
        files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
        self.summary["dashboards"] = {"rendered_to": str(out), "files": len(files)}
        self.check(
            "dashboards rendered",
            run.returncode == 0 and bool(files),
            f"{len(files)} files in {out}",
        )

    def previews(self, prometheus: PrometheusServer, url: str, triple: str) -> None:
        # A live service has traffic: keep a trickle of requests going while the panels that read
        # the last few seconds ("now") are queried, HTTP and Triple alike.
        stop = threading.Event()
        channel = grpc.insecure_channel(triple)
        get_order: Any = channel.unary_unary("/paas.example.order.v1.OrderService/GetOrder")
        self.owns("triple channel", channel.close)

        def trickle() -> None:
            while not stop.wait(0.1):
                with contextlib.suppress(httpx.HTTPError):
                    httpx.get(f"{url}/greeting", timeout=5)
                with contextlib.suppress(grpc.RpcError):
                    get_order(b"\x08\x01", timeout=5)  # GetOrderRequest(id=1), encoded

        threading.Thread(target=trickle, name="demo-traffic", daemon=True).start()
        self.owns("traffic", stop.set)
        time.sleep(3)  # a few scrapes into the trickle
        out = self.root / "previews"
        began = time.monotonic()
        with console.status("drawing dashboard previews from Prometheus ..."):
            run = subprocess.run(
                [str(BIN / "paas-dash"), "preview", "--prometheus", prometheus.url,
                 "--out", str(out), "--range", "5m", "--scrape-interval", "1s"],
                capture_output=True, text=True, check=False, timeout=300,
            )  # fmt: skip
        seconds = time.monotonic() - began
        stop.set()
        for line in run.stdout.splitlines():
            console.print(f"  {line}")
        listed = out / "preview.json"
        drawn = json.loads(listed.read_text()) if run.returncode == 0 and listed.is_file() else {}
        self.summary["previews"] = {
            uid: {"image": str(out / entry["image"]), "panels": entry["panels"],
                  "empty": entry["empty"]}
            for uid, entry in drawn.items()
        }  # fmt: skip
        panels = sum(entry["panels"] for entry in drawn.values())
        empty = sum(len(entry["empty"]) for entry in drawn.values())
        self.check(
            "dashboards previewed",
            run.returncode == 0 and bool(drawn),
            f"{len(drawn)} dashboards, {panels} panels ({empty} without data) drawn in "
            f"{seconds:.1f} s into {out}"
            if drawn
            else (run.stderr.strip() or run.stdout.strip())[-300:],
        )

    def apply_to_kubernetes(self, prometheus: PrometheusServer) -> None:
        """A real API server: `paas-dash apply`, then what the server stored, read back."""
        cache = Cache.default()
        cluster = KubernetesCluster(self.root / "kubernetes", crds=cache.operator_crd_files)
        cluster.start()
        self.owns("kubernetes", cluster.stop)
        prometheus.scrape("etcd", [cluster.etcd.url.removeprefix("http://")])
        prometheus.scrape(
            "apiserver",
            [cluster.apiserver.url.removeprefix("https://")],
            scheme="https",
            tls_config=cluster.apiserver.scrape_tls,
        )
        with cluster.apiserver.client() as api:
            api.post("/api/v1/namespaces", json={"metadata": {"name": "monitoring"}})
            run = subprocess.run(
                [str(BIN / "paas-dash"), "apply", "--kubeconfig", str(cluster.kubeconfig),
                 "--namespace", "monitoring"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            selector = {"labelSelector": "app.kubernetes.io/managed-by=paas-dash"}
            base = "/namespaces/monitoring"
            maps = api.get(f"/api/v1{base}/configmaps", params=selector).json()["items"]
            rules = api.get(
                f"/apis/monitoring.coreos.com/v1{base}/prometheusrules", params=selector
            ).json()["items"]
        table = Table(title=f"stored by the API server at {cluster.url}")
        for column in ("kind", "name", "content", "field manager"):
            table.add_column(column)
        # list items carry no kind of their own: the list says it
        for kind, item in [("ConfigMap", m) for m in maps] + [("PrometheusRule", r) for r in rules]:
            meta = item["metadata"]
            if kind == "ConfigMap":
                content = f"{sum(len(v) for v in item['data'].values())} bytes of dashboard JSON"
            else:
                groups = item["spec"]["groups"]
                content = f"{len(groups)} groups, {sum(len(g['rules']) for g in groups)} rules"
            managers = ", ".join(sorted({m["manager"] for m in meta["managedFields"]}))
            table.add_row(kind, meta["name"], content, managers)
        console.print(table)
        self.summary["kubernetes"] = {
            "server": cluster.url,
            "configmaps": sorted(m["metadata"]["name"] for m in maps),
            "prometheusrules": sorted(r["metadata"]["name"] for r in rules),
        }
        self.check(
            "applied to Kubernetes",
            run.returncode == 0 and bool(maps) and bool(rules),
            run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-300:],
        )


def _answers_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            if check():
                return True
        time.sleep(0.2)
    return False


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The platform demo on one machine.")
    parser.add_argument("--once", action="store_true", help="stop after the summary")
    parser.add_argument("--summary", type=Path, help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="paas-demo-"))
    root.chmod(0o755)  # Elasticsearch runs unprivileged when the demo runs as root
    demo = Demo(root)
    started = time.monotonic()
    failed = False
    with _sigterm_as_interrupt():
        try:
            demo.run()
            demo.summary["seconds"] = round(time.monotonic() - started, 1)
            failed = not all(c["ok"] for c in demo.summary["checks"].values())
            console.rule(f"{'some checks failed' if failed else 'all checks passed'} "
                         f"in {demo.summary['seconds']} s; logs in {root}")  # fmt: skip
            if args.summary:
                args.summary.write_text(json.dumps(demo.summary, indent=2))
            if not args.once:
                console.print("running; press Ctrl-C to stop")
                threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopping ...")
        except (PaasError, subprocess.SubprocessError) as exc:
            console.print(f"[red]demo: {exc}[/]  (logs in {root})")
            failed = True
        finally:
            demo.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
