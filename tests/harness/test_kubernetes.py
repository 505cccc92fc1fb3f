"""The Kubernetes harness is the real thing: the built API server reports its release, refuses
strangers, authorizes with RBAC, and serves the prometheus-operator CRDs it was given."""

from __future__ import annotations

import httpx
import yaml

from paas_sdk.testing.pytest_plugin import Kubernetes
from paas_sdk.testing.servers.cache import KUBERNETES_VERSION, Cache


def test_the_binaries_are_built_once_and_cached() -> None:
    cache = Cache.default()
    assert "kubernetes" not in cache.missing()
    assert "operator_crds" not in cache.missing()
    assert (cache.kubernetes_bin / "kube-apiserver").stat().st_size > 50_000_000
    assert all(path.is_file() for path in cache.operator_crd_files)


def test_the_api_server_is_real_and_authorizes(kubernetes: Kubernetes) -> None:
    with kubernetes.session() as api:
        version = api.request("GET", "/version")
        served = api.request("GET", "/apis/monitoring.coreos.com/v1")
        review = api.request(
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            {
                "spec": {
                    "user": "nobody",
                    "resourceAttributes": {"verb": "list", "resource": "secrets"},
                }
            },
        )
    if kubernetes.cluster is not None:
        assert version["gitVersion"] == KUBERNETES_VERSION
    assert {r["name"] for r in served["resources"]} >= {"prometheusrules", "servicemonitors"}
    assert review["status"]["allowed"] is False
    config = yaml.safe_load(kubernetes.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    # a wrong token is refused (401); no token is system:anonymous, whom RBAC forbids (403)
    wrong = {"Authorization": "Bearer not-a-token"}
    url = f"{server}/api/v1/namespaces"
    assert httpx.get(url, headers=wrong, verify=False, timeout=5).status_code == 401  # noqa: S501
    assert httpx.get(url, verify=False, timeout=5).status_code == 403  # noqa: S501
