"""deploy/ against a real API server: every manifest of the overlay is accepted by a server dry run
with strict field validation, and the workloads' ServiceAccounts can do nothing beyond what any
ServiceAccount bound to nothing can (SubjectAccessReview over every resource the server serves)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from paas_sdk.dash.kube import KubeSession, RequestRefusedError
from paas_sdk.testing.pytest_plugin import Kubernetes
from tests.deploy.test_manifests import DEPLOY, build

MANAGER = "paas-deploy-test"
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
# A ServiceAccount of another namespace, bound to nothing: what every ServiceAccount may do
# anyway (the bootstrap roles give it reviews of its own access, discovery, and the public
# ClusterTrustBundles that service accounts may read).
ANYONE = (
    "system:serviceaccount:paas-deploy-test-elsewhere:nobody",
    ["system:serviceaccounts", "system:serviceaccounts:paas-deploy-test-elsewhere",
     "system:authenticated"],
)  # fmt: skip


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return build(DEPLOY / "overlays" / "example")


@pytest.fixture(scope="module")
def api(kubernetes: Kubernetes) -> Iterator[KubeSession]:
    with kubernetes.session() as session:
        yield session


def path_of(api: KubeSession, obj: dict[str, Any]) -> str:
    """The object's URL path, from the server's discovery of its group version."""
    version = obj["apiVersion"]
    prefix = f"/api/{version}" if "/" not in version else f"/apis/{version}"
    served = api.request("GET", prefix)["resources"]
    resource = next(r for r in served if r["kind"] == obj["kind"] and "/" not in r["name"])
    namespace = obj["metadata"].get("namespace")
    scope = f"/namespaces/{namespace}" if resource["namespaced"] and namespace else ""
    return f"{prefix}{scope}/{resource['name']}/{obj['metadata']['name']}"


def server_apply(api: KubeSession, obj: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
    query = [("fieldManager", MANAGER), ("fieldValidation", "Strict")]
    if dry_run:
        query.append(("dryRun", "All"))
    return api.request(
        "PATCH", path_of(api, obj), obj, query=query, content_type="application/apply-patch+yaml"
    )


@pytest.fixture(scope="module")
def namespace(api: KubeSession, overlay: list[dict[str, Any]]) -> str:
    """The overlay's Namespace and ServiceAccounts, applied for real (the rest is dry-run)."""
    for obj in overlay:
        if obj["kind"] in ("Namespace", "ServiceAccount"):
            server_apply(api, obj, dry_run=False)
    names = {o["metadata"]["name"] for o in overlay if o["kind"] == "Namespace"}
    assert len(names) == 1
    return str(names.pop())


def test_every_manifest_passes_a_server_dry_run_with_strict_validation(
    api: KubeSession, overlay: list[dict[str, Any]], namespace: str
) -> None:
    refused = {}
    for obj in overlay:
        try:
            stored = server_apply(api, obj, dry_run=True)
        except RequestRefusedError as error:
            refused[f"{obj['kind']}/{obj['metadata']['name']}"] = str(error)
            continue
        assert stored["metadata"]["name"] == obj["metadata"]["name"]
        if obj["kind"] != "Namespace":
            assert stored["metadata"]["namespace"] == namespace
    assert not refused, refused
    kinds = {o["kind"] for o in overlay}
    assert {"Deployment", "ServiceMonitor", "PrometheusRule", "ServiceAccount"} <= kinds


def test_strict_validation_really_refuses_an_unknown_field(
    api: KubeSession, overlay: list[dict[str, Any]], namespace: str
) -> None:
    deployment = copy.deepcopy(next(o for o in overlay if o["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    # server-side apply refuses it while building the typed patch (the server answers 500)
    with pytest.raises(RequestRefusedError) as refused:
        server_apply(api, deployment, dry_run=True)
    assert "imagePullPolicyy: field not declared in schema" in refused.value.failure.message
    # a create (`kubectl create --dry-run=server --validate=strict`) gets the strict decoder's 400
    collection = path_of(api, deployment).rsplit("/", 1)[0]
    with pytest.raises(RequestRefusedError) as refused:
        api.request(
            "POST",
            collection,
            deployment,
            query=[("dryRun", "All"), ("fieldValidation", "Strict"), ("fieldManager", MANAGER)],
        )
    assert refused.value.failure.code == 400
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolicyy"' in (
        refused.value.failure.message
    )


def allowed(  # noqa: PLR0917 - the attributes of one review
    api: KubeSession,
    subject: tuple[str, list[str]],
    namespace: str,
    group: str,
    resource: str,
    verb: str,
    name: str = "",
) -> bool:
    """SubjectAccessReview: may `subject` (user, groups) do `verb` on the resource?"""
    user, groups = subject
    review = api.request(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": groups,
                "resourceAttributes": {"namespace": namespace, "group": group,
                                       "resource": resource.partition("/")[0],
                                       "subresource": resource.partition("/")[2],
                                       "verb": verb, "name": name},
            },
        },
    )  # fmt: skip
    return bool(review["status"].get("allowed"))


def granted(
    api: KubeSession, subject: tuple[str, list[str]], namespace: str
) -> set[tuple[str, ...]]:
    """Every (group, resource, verb) the server serves that `subject` is allowed."""
    asks = [(g, r, v) for g, r in served_resources(api) for v in VERBS]
    with ThreadPoolExecutor(4) as pool:
        answers = pool.map(lambda ask: allowed(api, subject, namespace, *ask), asks)
        return {ask for ask, yes in zip(asks, answers, strict=True) if yes}


def served_resources(api: KubeSession) -> list[tuple[str, str]]:
    """(group, resource) of everything the server serves, subresources included."""
    found = [("", r["name"]) for r in api.request("GET", "/api/v1")["resources"]]
    for group in api.request("GET", "/apis")["groups"]:
        version = group["preferredVersion"]["groupVersion"]
        found += [
            (group["name"], r["name"]) for r in api.request("GET", f"/apis/{version}")["resources"]
        ]
    return found


def test_the_workloads_run_as_their_own_service_accounts_without_a_token(
    overlay: list[dict[str, Any]],
) -> None:
    accounts = {o["metadata"]["name"] for o in overlay if o["kind"] == "ServiceAccount"}
    for deployment in (o for o in overlay if o["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] in accounts, deployment["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False


def test_the_service_accounts_can_do_nothing_beyond_any_service_account(
    api: KubeSession, overlay: list[dict[str, Any]], namespace: str
) -> None:
    anyone = granted(api, ANYONE, namespace)
    # the reviews say yes where it is due: anyone may review their own access
    assert ("authorization.k8s.io", "selfsubjectaccessreviews", "create") in anyone
    assert not any(resource == "secrets" for _, resource, _ in anyone)
    secret = next(o["metadata"]["name"] for o in overlay if o["kind"] == "Secret")
    for account in (o for o in overlay if o["kind"] == "ServiceAccount"):
        name = account["metadata"]["name"]
        subject = (
            f"system:serviceaccount:{namespace}:{name}",
            [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
        )
        extra = granted(api, subject, namespace) - anyone
        assert extra == set(), (name, extra)
        # what it needs from the API is nothing: not even the exporter's own Secret
        assert not allowed(api, subject, namespace, "", "secrets", "get", secret)
