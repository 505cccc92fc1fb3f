"""`paas-dash apply` against a real API server: server-side apply, conflicts, dry run, prune by
ownership label, and one clear error for each thing a user can get wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from paas_sdk.dash.apply import OWNER_LABEL
from paas_sdk.dash.catalog import builtin_dashboards_dir, load_dashboards
from paas_sdk.dash.cli import main
from paas_sdk.dash.kube import KubeSession, RequestRefusedError
from paas_sdk.testing.pytest_plugin import Kubernetes
from paas_sdk.testing.servers.kubernetes import KubernetesCluster
from tests.dash.conftest import write_team_dir

CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"
RULES = "/apis/monitoring.coreos.com/v1/namespaces/{ns}/prometheusrules"


def apply(
    kubernetes: Kubernetes, namespace: str, *args: str, kubeconfig: Path | None = None
) -> Result:
    return CliRunner().invoke(
        main,
        ["apply", "--kubeconfig", str(kubeconfig or kubernetes.kubeconfig),
         "--namespace", namespace, *args],
        env={"KUBECONFIG": ""},
    )  # fmt: skip


def listed(api: KubeSession, path: str, namespace: str) -> dict[str, dict[str, Any]]:
    items = api.request("GET", path.format(ns=namespace))["items"]
    return {i["metadata"]["name"]: i for i in items}


@pytest.fixture(scope="module")
def bare_kubernetes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cluster of its own without the prometheus-operator CRDs."""
    with KubernetesCluster(tmp_path_factory.mktemp("bare-kubernetes")) as cluster:
        yield cluster.kubeconfig


@pytest.fixture
def api(kubernetes: Kubernetes) -> Any:
    with kubernetes.session() as session:
        yield session


@pytest.fixture
def team_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "team-rules"
    rules.mkdir()
    (rules / "shop.yaml").write_text(
        "groups:\n  - name: shop\n    rules:\n"
        "      - record: job:shop_orders:rate5m\n"
        "        expr: sum by (job) (rate(shop_orders_total[5m]))\n"
    )
    return rules


def test_apply_creates_then_a_second_apply_changes_nothing(
    kubernetes: Kubernetes, api: KubeSession
) -> None:
    namespace = kubernetes.namespace("apply")
    first = apply(kubernetes, namespace)
    assert first.exit_code == 0, first.output
    boards = load_dashboards(builtin_dashboards_dir())
    configmaps = listed(api, CONFIGMAPS, namespace)
    assert {f"grafana-dashboard-{b.uid}" for b in boards} <= set(configmaps)
    board = boards[0]
    stored = configmaps[f"grafana-dashboard-{board.uid}"]
    assert json.loads(stored["data"][f"{board.uid}.json"]) == board.model
    assert stored["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert stored["metadata"]["labels"][OWNER_LABEL] == "paas-sdk"
    managers = {m["manager"] for m in stored["metadata"]["managedFields"]}
    assert managers == {"paas-dash"}
    rules = listed(api, RULES, namespace)
    assert rules, "the rule files became PrometheusRule objects"
    for rule in rules.values():
        assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert rule["spec"]["groups"]
    versions = {
        name: o["metadata"]["resourceVersion"] for name, o in {**configmaps, **rules}.items()
    }

    second = apply(kubernetes, namespace)
    assert second.exit_code == 0, second.output
    assert "0 created, 0 configured" in second.output
    after = {**listed(api, CONFIGMAPS, namespace), **listed(api, RULES, namespace)}
    assert {n: after[n]["metadata"]["resourceVersion"] for n in versions} == versions


def test_apply_takes_over_what_was_deployed_from_renders_output(
    kubernetes: Kubernetes, api: KubeSession, tmp_path: Path
) -> None:
    """deploy/monitoring is render's output: after `kubectl apply -k` of it, apply recognises
    every object as the catalog's own and has nothing to create (no rule loaded twice)."""
    namespace = kubernetes.namespace("rendered")
    out = tmp_path / "out"
    rendered = CliRunner().invoke(main, ["render", "--out", str(out), "--namespace", namespace])
    assert rendered.exit_code == 0, rendered.output
    for name in yaml.safe_load((out / "kustomization.yaml").read_text())["resources"]:
        obj = yaml.safe_load((out / name).read_text())
        plural = "configmaps" if obj["kind"] == "ConfigMap" else "prometheusrules"
        collection = CONFIGMAPS if plural == "configmaps" else RULES
        api.request(  # as `kubectl apply --server-side` writes it
            "PATCH", f"{collection.format(ns=namespace)}/{obj['metadata']['name']}", obj,
            query=[("fieldManager", "kubectl")], content_type="application/apply-patch+yaml",
        )  # fmt: skip
    deployed = set(listed(api, RULES, namespace))
    result = apply(kubernetes, namespace, "--prune")
    assert result.exit_code == 0, result.output
    assert "apply: 0 created, 0 configured," in result.output
    assert " 0 pruned " in result.output
    assert set(listed(api, RULES, namespace)) == deployed


def test_a_field_owned_by_another_manager_is_a_conflict_and_not_overwritten(
    kubernetes: Kubernetes, api: KubeSession, tmp_path: Path
) -> None:
    namespace = kubernetes.namespace("conflict")
    team = write_team_dir(tmp_path / "team", ["shop-orders"])
    assert (
        apply(kubernetes, namespace, "--dashboards", str(team), "--rules", str(tmp_path)).exit_code
        == 0
    )
    path = f"{CONFIGMAPS.format(ns=namespace)}/grafana-dashboard-paas-shop-orders"
    # someone edits the dashboard's JSON with their own tool, taking the field over
    edited = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "grafana-dashboard-paas-shop-orders"},
              "data": {"paas-shop-orders.json": '{"title": "edited by hand"}'}}  # fmt: skip
    api.request("PATCH", path, edited, query=[("fieldManager", "grafana-ui"), ("force", "true")],
                content_type="application/apply-patch+yaml")  # fmt: skip
    # a change in code makes ours differ from theirs
    module = team / "shop_orders.py"
    module.write_text(module.read_text().replace("Orders per second.", "Orders each second."))

    refused = apply(kubernetes, namespace, "--dashboards", str(team), "--rules", str(tmp_path))
    assert refused.exit_code == 1
    assert "configmap/grafana-dashboard-paas-shop-orders" in refused.output
    assert '"grafana-ui"' in refused.output
    assert ".data.paas-shop-orders.json" in refused.output
    assert "--force" in refused.output
    assert "Traceback" not in refused.output
    stored = api.request("GET", path)
    assert stored["data"]["paas-shop-orders.json"] == '{"title": "edited by hand"}'

    forced = apply(
        kubernetes, namespace, "--dashboards", str(team), "--rules", str(tmp_path), "--force"
    )
    assert forced.exit_code == 0, forced.output
    stored = api.request("GET", path)
    assert "Orders each second." in stored["data"]["paas-shop-orders.json"]


def test_dry_run_is_a_server_dry_run_with_a_diff_and_writes_nothing(
    kubernetes: Kubernetes, api: KubeSession, tmp_path: Path, team_rules: Path
) -> None:
    namespace = kubernetes.namespace("dry")
    team = write_team_dir(tmp_path / "team", ["shop-orders"])
    args = ("--dashboards", str(team), "--rules", str(team_rules))
    planned = apply(kubernetes, namespace, *args, "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "would create configmap/grafana-dashboard-paas-shop-orders" in planned.output
    assert "would create prometheusrule/shop-shop" in planned.output
    assert "nothing written" in planned.output
    assert not listed(api, CONFIGMAPS, namespace)
    assert not listed(api, RULES, namespace)

    assert apply(kubernetes, namespace, *args).exit_code == 0
    (team_rules / "shop.yaml").write_text(
        (team_rules / "shop.yaml").read_text().replace("[5m]", "[10m]")
    )
    before = listed(api, RULES, namespace)["shop-shop"]["metadata"]["resourceVersion"]
    planned = apply(kubernetes, namespace, *args, "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "would configure prometheusrule/shop-shop" in planned.output
    assert "-    - expr: sum by (job) (rate(shop_orders_total[5m]))" in planned.output
    assert "+    - expr: sum by (job) (rate(shop_orders_total[10m]))" in planned.output
    assert "configmap/grafana-dashboard-paas-shop-orders unchanged" in planned.output
    after = listed(api, RULES, namespace)["shop-shop"]["metadata"]["resourceVersion"]
    assert after == before


def test_prune_deletes_only_this_catalogs_objects(
    kubernetes: Kubernetes, api: KubeSession, tmp_path: Path, team_rules: Path
) -> None:
    namespace = kubernetes.namespace("prune")
    assert apply(kubernetes, namespace).exit_code == 0  # the built-in catalog
    team = write_team_dir(tmp_path / "team", ["shop-orders", "shop-stock"])
    args = ("--dashboards", str(team), "--rules", str(team_rules))
    assert apply(kubernetes, namespace, *args).exit_code == 0
    builtin = set(listed(api, CONFIGMAPS, namespace)) - {
        "grafana-dashboard-paas-shop-orders", "grafana-dashboard-paas-shop-stock"
    }  # fmt: skip
    (team / "shop_stock.py").unlink()
    (team_rules / "shop.yaml").unlink()

    planned = apply(kubernetes, namespace, *args, "--prune", "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "would delete configmap/grafana-dashboard-paas-shop-stock" in planned.output
    assert "would delete prometheusrule/shop-shop" in planned.output
    assert "grafana-dashboard-paas-shop-stock" in listed(api, CONFIGMAPS, namespace)

    pruned = apply(kubernetes, namespace, *args, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "2 pruned" in pruned.output
    left = set(listed(api, CONFIGMAPS, namespace))
    assert "grafana-dashboard-paas-shop-stock" not in left
    assert "grafana-dashboard-paas-shop-orders" in left
    assert builtin <= left, "the built-in catalog's dashboards are another catalog's"
    assert "shop-shop" not in listed(api, RULES, namespace)
    assert any(n.startswith("paas-sdk-") for n in listed(api, RULES, namespace))


def test_an_object_of_another_catalog_is_not_overwritten(
    kubernetes: Kubernetes, api: KubeSession, tmp_path: Path
) -> None:
    namespace = kubernetes.namespace("owner")
    team = write_team_dir(tmp_path / "team", ["shop-orders"])
    assert (
        apply(kubernetes, namespace, "--dashboards", str(team), "--rules", str(tmp_path)).exit_code
        == 0
    )
    other = write_team_dir(tmp_path / "other", ["shop-orders"], folder="other", owner="other")
    result = apply(kubernetes, namespace, "--dashboards", str(other), "--rules", str(tmp_path))
    assert result.exit_code == 1
    assert "belongs to catalog 'shop', not 'other'" in result.output
    assert "not overwritten" in result.output
    stored = listed(api, CONFIGMAPS, namespace)["grafana-dashboard-paas-shop-orders"]
    assert stored["metadata"]["labels"][OWNER_LABEL] == "shop"


def test_a_broken_rule_expression_is_refused_before_anything_is_sent(
    kubernetes: Kubernetes, api: KubeSession, tmp_path: Path, team_rules: Path
) -> None:
    namespace = kubernetes.namespace("broken")
    (team_rules / "broken.yaml").write_text(
        "groups:\n  - name: broken\n    rules:\n"
        "      - alert: Broken\n        expr: sum(rate(x_total[5m]) > \n"
    )
    team = write_team_dir(tmp_path / "team", ["shop-orders"])
    result = apply(kubernetes, namespace, "--dashboards", str(team), "--rules", str(team_rules))
    assert result.exit_code == 2
    assert "broken.yaml" in result.output
    assert "nothing was sent" in result.output
    assert "Traceback" not in result.output
    assert not listed(api, CONFIGMAPS, namespace)
    assert not listed(api, RULES, namespace)


def test_the_crd_schema_refuses_a_rule_promtool_cannot_see(
    kubernetes: Kubernetes, api: KubeSession
) -> None:
    namespace = kubernetes.namespace("schema")
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "bad"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0",
                                                            "for": "ten minutes"}]}]}}  # fmt: skip
    with pytest.raises(RequestRefusedError) as refused:
        api.request("PATCH", f"{RULES.format(ns=namespace)}/bad", rule,
                    query=[("fieldManager", "t"), ("dryRun", "All")],
                    content_type="application/apply-patch+yaml")  # fmt: skip
    assert refused.value.failure.code == 422
    assert "spec.groups[0].rules[0].for" in refused.value.failure.message


def test_a_forbidden_namespace_is_one_clear_error(kubernetes: Kubernetes, tmp_path: Path) -> None:
    allowed = kubernetes.namespace("mine")
    forbidden = kubernetes.namespace("theirs")
    rules = [{"apiGroups": [""], "resources": ["configmaps"],
              "verbs": ["get", "list", "create", "patch", "delete"]}]  # fmt: skip
    user = kubernetes.service_account(allowed, "dash-deployer", rules, tmp_path)
    team = write_team_dir(tmp_path / "team", ["shop-orders"])
    args = ("--dashboards", str(team), "--rules", str(tmp_path))
    ok = apply(kubernetes, allowed, *args, kubeconfig=user)
    assert ok.exit_code == 0, ok.output
    result = apply(kubernetes, forbidden, *args, kubeconfig=user)
    assert result.exit_code == 1
    assert result.output.count("error:") == 1
    assert "forbidden" in result.output
    assert f'namespace "{forbidden}"' in result.output
    assert "system:serviceaccount:" in result.output
    assert "Traceback" not in result.output


def test_a_missing_namespace_is_one_clear_error(kubernetes: Kubernetes, tmp_path: Path) -> None:
    team = write_team_dir(tmp_path / "team", ["shop-orders"])
    result = apply(
        kubernetes, "no-such-namespace", "--dashboards", str(team), "--rules", str(tmp_path)
    )
    assert result.exit_code == 1
    assert "namespace 'no-such-namespace' does not exist" in result.output
    assert "Traceback" not in result.output


def test_a_missing_crd_is_one_clear_error(
    bare_kubernetes: Path, tmp_path: Path, team_rules: Path
) -> None:
    team = write_team_dir(tmp_path / "team", ["shop-orders"])
    result = CliRunner().invoke(
        main,
        ["apply", "--kubeconfig", str(bare_kubernetes), "--namespace", "default",
         "--dashboards", str(team), "--rules", str(team_rules)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "PrometheusRule CRD (monitoring.coreos.com/v1) is not installed" in result.output
    assert "Traceback" not in result.output
    # nothing was written, not even the dashboards that needed no CRD
    with KubeSession(bare_kubernetes) as api:
        assert not listed(api, CONFIGMAPS, "default")


def test_bad_kubeconfig_and_unreachable_server_are_clear_errors(tmp_path: Path) -> None:
    missing = CliRunner().invoke(main, ["apply", "--kubeconfig", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    assert "cannot load the kubeconfig" in missing.output
    assert "Traceback" not in missing.output
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: c, user: {token: abc}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: c}}]\n"
    )
    unreachable = CliRunner().invoke(main, ["apply", "--kubeconfig", str(config), "--timeout", "2"])
    assert unreachable.exit_code == 1
    assert "cannot reach the API server" in unreachable.output
    assert "abc" not in unreachable.output


def test_a_catalog_without_an_owner_is_a_usage_error(
    kubernetes: Kubernetes, tmp_path: Path
) -> None:
    team = write_team_dir(tmp_path / "team", ["shop-orders"])
    (team / "catalog.yaml").unlink()
    result = apply(kubernetes, "default", "--dashboards", str(team), "--rules", str(tmp_path))
    assert result.exit_code == 2
    assert "apply needs the catalog's owner: add catalog.yaml" in result.output
    assert str(team) in result.output


def _kubeconfig_with_namespaces(
    kubernetes: Kubernetes, path: Path, namespaces: dict[str, str | None]
) -> Path:
    """The cluster's kubeconfig with one context per entry (the first is current), each
    naming the namespace given (or none)."""
    import yaml

    config = yaml.safe_load(kubernetes.kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    config["contexts"] = []
    for name, namespace in namespaces.items():
        context = dict(current["context"])
        context.pop("namespace", None)
        if namespace is not None:
            context["namespace"] = namespace
        config["contexts"].append({"name": name, "context": context})
    config["current-context"] = next(iter(namespaces))
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_namespace_defaults_to_the_contexts_as_kubectl_does(
    kubernetes: Kubernetes, api: KubeSession, tmp_path: Path
) -> None:
    current, other = kubernetes.namespace("ctx"), kubernetes.namespace("ctx-other")
    config = _kubeconfig_with_namespaces(
        kubernetes, tmp_path / "kubeconfig", {"current": current, "other": other, "bare": None}
    )
    team = write_team_dir(tmp_path / "team", ["shop-orders"])
    base = [
        "apply",
        "--kubeconfig",
        str(config),
        "--dashboards",
        str(team),
        "--rules",
        str(tmp_path),
    ]

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [*base, *args], env={"KUBECONFIG": ""})

    result = run()
    assert result.exit_code == 0, result.output
    assert f"(namespace {current}, owner shop)" in result.output
    assert "grafana-dashboard-paas-shop-orders" in listed(api, CONFIGMAPS, current)
    result = run("--context", "other")
    assert result.exit_code == 0, result.output
    assert "grafana-dashboard-paas-shop-orders" in listed(api, CONFIGMAPS, other)
    # --namespace wins over the context's
    explicit = kubernetes.namespace("ctx-flag")
    result = run("--namespace", explicit, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"changes in namespace {explicit}, nothing written" in result.output
    # a context that names no namespace: the default, monitoring
    result = run("--context", "bare", "--dry-run")
    assert "namespace 'monitoring'" in result.output or "namespace monitoring" in result.output
