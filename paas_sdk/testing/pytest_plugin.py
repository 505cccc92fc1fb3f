"""pytest fixtures for the real servers: `zookeeper`, `kafka`, `elasticsearch`, `prometheus`,
`kubernetes` (etcd and kube-apiserver), `coredns`.

Load with ``pytest_plugins = ["paas_sdk.testing.pytest_plugin"]``. Each fixture is session-scoped
and starts its server on first use, on free loopback ports in a temporary directory, and always
stops it. The directories are deleted after a passing session and kept (their path printed) after
a failing one, so the servers' logs can be read.

An endpoint in the environment is used instead of starting a server, for example
``PAAS_TEST_ZOOKEEPER=127.0.0.1:2181``, ``PAAS_TEST_KAFKA=127.0.0.1:9092``,
``PAAS_TEST_ELASTICSEARCH=http://127.0.0.1:9200``, ``PAAS_TEST_PROMETHEUS=http://127.0.0.1:9090``,
``PAAS_TEST_KUBECONFIG=~/.kube/config`` (a cluster with the prometheus-operator CRDs installed;
its current context needs rights to create namespaces, and the tests leave theirs behind).
Tests that need to stop or restart a server (`managed_zookeeper`, `managed_kafka`) always get one
of their own, and so do tests of clusters (`kafka_cluster`: three KRaft brokers;
`zookeeper_ensemble`: three ZooKeeper nodes). `kafka_sasl` is a broker with a SASL listener that
takes the users in `SASL_USERS` by PLAIN and SCRAM-SHA-256.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest
import yaml

from paas_sdk.testing.servers import (
    CoreDNSServer,
    ElasticsearchServer,
    KafkaCluster,
    KafkaServer,
    PrometheusServer,
    ZooKeeperEnsemble,
    ZooKeeperServer,
)
from paas_sdk.testing.servers._process import ServerProcess
from paas_sdk.testing.servers.cache import Cache
from paas_sdk.testing.servers.kubernetes import KubernetesCluster

if TYPE_CHECKING:
    from paas_sdk.dash.kube import KubeSession

S = TypeVar("S", bound=ServerProcess)
# Users (name: password) of the SASL listener of the session's own Kafka broker.
SASL_USERS = {"indexer": "indexer-secret", "admin": "admin-secret"}


class _Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass(frozen=True)
class Endpoint:
    """Where a server answers. `server` is None when the endpoint came from the environment."""

    address: str
    server: ServerProcess | None = None


class _ServerPool:
    """Owns the session's servers and their directories."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="paas-test-servers-"))
        self.root.chmod(0o755)  # servers that run unprivileged must reach their directories
        self.servers: list[_Stoppable] = []

    def start(self, factory: Callable[[Path], S], name: str) -> S:
        workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))
        server = factory(workdir)
        self.servers.append(server)
        server.start()
        return server

    def close(self, keep: bool) -> str | None:
        for server in reversed(self.servers):
            server.stop()
        if keep:
            return str(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        return None


_POOL_KEY = pytest.StashKey[_ServerPool]()


@pytest.fixture(scope="session")
def _server_pool(request: pytest.FixtureRequest) -> Iterator[_ServerPool]:
    pool = _ServerPool()
    request.session.stash[_POOL_KEY] = pool
    try:
        yield pool
    finally:
        failed = request.session.testsfailed > 0
        kept = pool.close(keep=failed)
        if kept:
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"paas-sdk test servers' logs kept in {kept}")


def _external(variable: str) -> str | None:
    value = os.environ.get(variable, "").strip()
    return value or None


@pytest.fixture(scope="session")
def zookeeper(_server_pool: _ServerPool) -> Endpoint:
    """A ZooKeeper connect string (``host:port``), shared by the session."""
    if external := _external("PAAS_TEST_ZOOKEEPER"):
        return Endpoint(external)
    server = _server_pool.start(ZooKeeperServer, "zookeeper")
    return Endpoint(server.hosts, server)


@pytest.fixture(scope="session")
def kafka(_server_pool: _ServerPool) -> Endpoint:
    """Kafka bootstrap servers (``host:port``), shared by the session."""
    if external := _external("PAAS_TEST_KAFKA"):
        return Endpoint(external)
    server = _server_pool.start(lambda d: KafkaServer(d, sasl_users=SASL_USERS), "kafka")
    return Endpoint(server.bootstrap_servers, server)


@pytest.fixture(scope="session")
def kafka_sasl(kafka: Endpoint, _server_pool: _ServerPool) -> KafkaServer:
    """A Kafka broker with a SASL_PLAINTEXT listener (`sasl_bootstrap_servers`) taking
    `SASL_USERS`: the session's own broker, or one started for it when `kafka` is external."""
    if isinstance(kafka.server, KafkaServer) and kafka.server.sasl_users:
        return kafka.server
    return _server_pool.start(lambda d: KafkaServer(d, sasl_users=SASL_USERS), "kafka-sasl")


@pytest.fixture(scope="session")
def elasticsearch(_server_pool: _ServerPool) -> Endpoint:
    """An Elasticsearch base URL, shared by the session."""
    if external := _external("PAAS_TEST_ELASTICSEARCH"):
        return Endpoint(external.rstrip("/"))
    server = _server_pool.start(ElasticsearchServer, "elasticsearch")
    return Endpoint(server.url, server)


@pytest.fixture(scope="session")
def prometheus(_server_pool: _ServerPool) -> PrometheusServer:
    """A Prometheus server of the session's own; point it at targets with `scrape()`."""
    return _server_pool.start(PrometheusServer, "prometheus")


@dataclass(frozen=True)
class Kubernetes:
    """A cluster's kubeconfig; `cluster` is None when it came from `PAAS_TEST_KUBECONFIG`."""

    kubeconfig: Path
    cluster: KubernetesCluster | None = None

    def session(self) -> KubeSession:
        """An API session as the kubeconfig's (admin) user."""
        from paas_sdk.dash.kube import KubeSession

        return KubeSession(self.kubeconfig)

    def namespace(self, prefix: str = "t") -> str:
        """A new namespace of a unique name (namespaces are never deleted: no controller runs)."""
        name = f"{prefix}-{secrets.token_hex(4)}"
        with self.session() as api:
            api.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        return name

    def service_account(
        self, namespace: str, name: str, rules: list[dict[str, Any]], directory: Path
    ) -> Path:
        """A ServiceAccount granted `rules` in `namespace` by a Role; returns a kubeconfig
        authenticating as it (a token from the TokenRequest API), written under `directory`."""
        with self.session() as api:
            api.request(
                "POST",
                f"/api/v1/namespaces/{namespace}/serviceaccounts",
                {"metadata": {"name": name}},
            )
            rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
            api.request("POST", f"{rbac}/roles", {"metadata": {"name": name}, "rules": rules})
            api.request(
                "POST",
                f"{rbac}/rolebindings",
                {
                    "metadata": {"name": name},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": name,
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
                },
            )
            token = api.request(
                "POST",
                f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                {"spec": {"expirationSeconds": 3600}},
            )["status"]["token"]
        config = yaml.safe_load(self.kubeconfig.read_text())
        for user in config["users"]:
            user["user"] = {"token": token}
        path = directory / f"kubeconfig-{namespace}-{name}"
        path.write_text(yaml.safe_dump(config))
        return path


@pytest.fixture(scope="session")
def kubernetes(_server_pool: _ServerPool) -> Kubernetes:
    """A real API server (with etcd and the prometheus-operator CRDs), shared by the session."""
    if external := _external("PAAS_TEST_KUBECONFIG"):
        return Kubernetes(Path(external).expanduser())
    cache = Cache.default()
    cache.require("kubernetes")
    cache.require("operator_crds")
    workdir = Path(tempfile.mkdtemp(prefix="kubernetes-", dir=_server_pool.root))
    cluster = KubernetesCluster(workdir, crds=cache.operator_crd_files)
    # the pool stops them in reverse: the API server first, then its etcd
    _server_pool.servers += [cluster.etcd, cluster.apiserver]
    cluster.start()
    return Kubernetes(cluster.kubeconfig, cluster)


@pytest.fixture(scope="session")
def coredns(_server_pool: _ServerPool) -> CoreDNSServer:
    """A CoreDNS of the session's own: a resolver, its upstream and a broken upstream."""
    Cache.default().require("coredns")
    return _server_pool.start(CoreDNSServer, "coredns")


@pytest.fixture
def managed_zookeeper(_server_pool: _ServerPool) -> Iterator[ZooKeeperServer]:
    """A ZooKeeper of this test's own, to stop, kill or restart."""
    server = _server_pool.start(ZooKeeperServer, "zookeeper-own")
    yield server
    server.stop()


@pytest.fixture
def managed_kafka(_server_pool: _ServerPool) -> Iterator[KafkaServer]:
    """A Kafka broker of this test's own, to stop, kill or restart."""
    server = _server_pool.start(KafkaServer, "kafka-own")
    yield server
    server.stop()


@pytest.fixture
def kafka_cluster(_server_pool: _ServerPool) -> Iterator[KafkaCluster]:
    """Three KRaft brokers (each also a controller) of this test's own, replication factor 3."""
    cluster = KafkaCluster(
        3, Path(tempfile.mkdtemp(prefix="kafka-cluster-", dir=_server_pool.root))
    )
    _server_pool.servers.append(cluster)
    cluster.start()
    yield cluster
    for node in cluster.nodes:  # its data dies with it: no controlled shutdown to wait for
        node.kill()


@pytest.fixture
def zookeeper_ensemble(_server_pool: _ServerPool) -> Iterator[ZooKeeperEnsemble]:
    """Three ZooKeeper nodes in one ensemble, of this test's own."""
    ensemble = ZooKeeperEnsemble(
        3, Path(tempfile.mkdtemp(prefix="zookeeper-ensemble-", dir=_server_pool.root))
    )
    _server_pool.servers.append(ensemble)
    ensemble.start()
    yield ensemble
    ensemble.stop()
