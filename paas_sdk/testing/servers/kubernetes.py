"""A real Kubernetes control plane for tests: etcd and kube-apiserver, built from Go modules.

`KubernetesCluster` starts etcd and the API server on free loopback ports with a fresh
self-signed CA, a serving certificate for 127.0.0.1, an admin token in `system:masters` and RBAC
authorization, and writes a kubeconfig for it. There is no controller-manager, scheduler or
kubelet: objects are stored, validated and authorized, nothing runs (namespaces get no default
ServiceAccount, Deployments no Pods). Facts: `reference/kubernetes.md`.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import httpx
import yaml

from paas_sdk.errors import HarnessError
from paas_sdk.testing.servers._process import Running, ServerProcess, free_port, wait_for
from paas_sdk.testing.servers.cache import Cache

__all__ = ["APIServer", "EtcdServer", "KubernetesCluster"]

ADMIN_USER = "paas-admin"


class EtcdServer(ServerProcess):
    """One etcd member serving clients (and `/metrics`) over plain HTTP on loopback."""

    name = "etcd"
    start_timeout = 60.0

    def __init__(self, workdir: Path | None = None, *, binary: Path | None = None) -> None:
        super().__init__(workdir)
        self.binary = binary or Cache.default().kubernetes_bin / "etcd"
        self.port = free_port()
        self.peer_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        if not self.binary.exists():
            Cache.default().require("kubernetes")

    def command(self) -> Sequence[str]:
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [
            str(self.binary),
            "--name=harness",
            f"--data-dir={self.workdir / 'data'}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=harness={peer}",
            # a test's etcd is small: snapshot often and cap the database, keeping memory modest
            "--snapshot-count=10000",
            "--quota-backend-bytes=268435456",
            # the gRPC latency histogram the dashboards and etcdGRPCRequestsSlow read
            "--metrics=extensive",
            "--log-level=warn",
        ]

    def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            response = httpx.get(f"{self.url}/health", timeout=2)
            return bool(response.json().get("health") == "true")
        return False


class APIServer(ServerProcess):
    """kube-apiserver on a free loopback port, storing into `etcd`, RBAC authorizing."""

    name = "kube-apiserver"
    start_timeout = 90.0

    def __init__(
        self, etcd: EtcdServer, workdir: Path | None = None, *, binary: Path | None = None
    ) -> None:
        super().__init__(workdir)
        self.etcd = etcd
        self.binary = binary or Cache.default().kubernetes_bin / "kube-apiserver"
        self.port = free_port()
        self.token = secrets.token_urlsafe(24)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "ca.crt"

    def prepare(self) -> None:
        if not self.binary.exists():
            Cache.default().require("kubernetes")
        _write_pki(self.workdir)
        # token,user,uid,"group": the static token file's CSV format
        (self.workdir / "tokens.csv").write_text(
            f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
        )

    def command(self) -> Sequence[str]:
        pki = self.workdir
        return [
            str(self.binary),
            f"--etcd-servers={self.etcd.url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            # the default reconciler refuses 127.0.0.1 as the `kubernetes` Service's endpoint
            "--endpoint-reconciler-type=none",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={self.ca_file}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",
            "--v=1",
        ]

    @property
    def scrape_tls(self) -> dict[str, str]:
        """A Prometheus `tls_config` that scrapes `/metrics` as the admin's client certificate."""
        return {
            "ca_file": str(self.ca_file),
            "cert_file": str(self.workdir / "admin.crt"),
            "key_file": str(self.workdir / "admin.key"),
        }

    def client(self) -> httpx.Client:
        """An httpx client authenticated as the admin, trusting the cluster's CA."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.Client(
            base_url=self.url,
            verify=context,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )

    def ready(self) -> bool:
        if not self.ca_file.exists():
            return False
        with contextlib.suppress(httpx.HTTPError), self.client() as client:
            return client.get("/readyz").status_code == 200
        return False


class KubernetesCluster(Running):
    """etcd plus the API server, with a kubeconfig for the admin; stopped whatever happens.

    With `crds` (CRD YAML files), those CRDs are created once the server is up and the harness
    waits until they are served.
    """

    def __init__(self, workdir: Path, *, crds: Sequence[Path] = ()) -> None:
        self.workdir = workdir
        self.etcd = EtcdServer(workdir / "etcd")
        self.apiserver = APIServer(self.etcd, workdir / "apiserver")
        self.crds = list(crds)
        self.kubeconfig = workdir / "kubeconfig"

    @property
    def url(self) -> str:
        return self.apiserver.url

    def start(self) -> Self:
        try:
            self.etcd.start()
            self.apiserver.start()
            self.kubeconfig.write_text(
                kubeconfig(self.apiserver.url, self.apiserver.ca_file, self.apiserver.token)
            )
            if self.crds:
                self.install_crds(self.crds)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.apiserver.stop()
        self.etcd.stop()

    def install_crds(self, files: Sequence[Path], timeout: float = 30.0) -> list[str]:
        """Create the CRDs of `files` and wait until each is Established."""
        names = []
        with self.apiserver.client() as client:
            for path in files:
                for crd in yaml.safe_load_all(path.read_text()):
                    if not crd or crd.get("kind") != "CustomResourceDefinition":
                        continue
                    name = crd["metadata"]["name"]
                    response = client.patch(
                        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
                        params={"fieldManager": "paas-harness", "force": "true"},
                        headers={"Content-Type": "application/apply-patch+yaml"},
                        content=yaml.safe_dump(crd),
                    )
                    if response.status_code >= 400:
                        raise HarnessError(
                            f"CRD {name} refused: {response.text[:500]}", where=str(path)
                        )
                    names.append(name)
            for name in names:
                wait_for(f"CRD {name}", functools.partial(_established, client, name), timeout)
        return names


def _established(client: httpx.Client, name: str) -> bool:
    crd: dict[str, Any] = client.get(
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    ).json()
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def kubeconfig(server: str, ca_file: Path, token: str, name: str = "paas-harness") -> str:
    """A kubeconfig with one cluster, one token user and one current context, all `name`."""
    import base64

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_file.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return yaml.safe_dump(config, sort_keys=False)


def _write_pki(directory: Path) -> None:
    """A fresh CA; the API server's serving certificate for 127.0.0.1; the admin's client
    certificate (O=system:masters: Prometheus scrapes with it, so the API server's
    client-certificate expiry histogram sees one); the service-account signing key."""
    import trustme
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca = trustme.CA(organization_name="paas-harness")
    serving = ca.issue_cert("127.0.0.1", "localhost", "kubernetes.default.svc")
    admin = ca.issue_cert(
        f"{ADMIN_USER}.invalid", common_name=ADMIN_USER, organization_name="system:masters"
    )
    sa_key = ec.generate_private_key(ec.SECP256R1())
    files = {
        "ca.crt": ca.cert_pem.bytes(),
        "apiserver.crt": b"".join(blob.bytes() for blob in serving.cert_chain_pems),
        "apiserver.key": serving.private_key_pem.bytes(),
        "admin.crt": b"".join(blob.bytes() for blob in admin.cert_chain_pems),
        "admin.key": admin.private_key_pem.bytes(),
        "sa.key": sa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "sa.pub": sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
        (directory / name).chmod(0o600)
