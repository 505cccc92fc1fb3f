"""deploy/ builds with kustomize, every object passes the Kubernetes schemas, and the workloads
follow the platform's rules (non-root, read-only root, probes, limits, drain within grace)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from paas_exporter.config import load_config

from paas_sdk.dash.apply import ApplyOptions, desired_objects
from paas_sdk.dash.catalog import load_dashboards, load_owner, load_rule_files
from paas_sdk.testing.servers.cache import Cache

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_VERSION = "1.31"
# Custom resources of the Prometheus operator: no schema in the Kubernetes OpenAPI, checked below.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}


def build(path: Path) -> list[dict[str, Any]]:
    kustomize = Cache.default().kustomize
    result = subprocess.run(
        [str(kustomize), "build", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return build(DEPLOY / "overlays" / "example")


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_the_base_builds_on_its_own() -> None:
    kinds = {o["kind"] for o in build(DEPLOY / "base")}
    assert {"Deployment", "Service", "ServiceMonitor", "ConfigMap"} <= kinds


def test_every_object_passes_the_kubernetes_schema(overlay: list[dict[str, Any]]) -> None:
    validated = 0
    for obj in overlay:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        validated += 1
    assert validated >= 6


def test_custom_resources_have_the_operator_shape(overlay: list[dict[str, Any]]) -> None:
    monitors = by_kind(overlay, "ServiceMonitor")
    assert monitors, "the exporter needs a ServiceMonitor"
    services = by_kind(overlay, "Service")
    for monitor in monitors.values():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [
            s for s in services.values() if selector.items() <= s["metadata"]["labels"].items()
        ]
        assert matched, f"ServiceMonitor {monitor['metadata']['name']} selects no Service"
        ports = {p["name"] for s in matched for p in s["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


def test_workloads_are_locked_down(overlay: list[dict[str, Any]]) -> None:
    for name, deployment in by_kind(overlay, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name


def test_the_overlay_pins_images_and_namespace(overlay: list[dict[str, Any]]) -> None:
    for deployment in by_kind(overlay, "Deployment").values():
        assert deployment["metadata"]["namespace"] == "paas-example"
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["image"].startswith("registry.example.com/")
            assert re.fullmatch(r"[^@:]+@sha256:[0-9a-f]{64}", container["image"])


def test_the_drain_fits_in_the_grace_period(overlay: list[dict[str, Any]]) -> None:
    pod = by_kind(overlay, "Deployment")["order-service"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    drain = int(env["PAAS_DRAIN_SECONDS"]["value"])
    # the drain, then a bounded log flush and server stop must end before Kubernetes' SIGKILL
    assert pod["terminationGracePeriodSeconds"] >= drain + 10
    for field in ("POD_NAME", "POD_NAMESPACE", "NODE_NAME", "POD_IP"):
        assert "fieldRef" in env[field]["valueFrom"], field


def test_the_exporter_config_is_valid_and_its_credentials_are_files_of_the_secret(
    overlay: list[dict[str, Any]], tmp_path: Path
) -> None:
    pod = by_kind(overlay, "Deployment")["paas-exporter"]["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if "secret" in v)
    secret = by_kind(overlay, "Secret")[volume["secret"]["secretName"]]
    directory = mounts[volume["name"]]
    config_text = (DEPLOY / "exporter" / "config.yaml").read_text()
    files = re.findall(r"(?:password|token)_file: (\S+)", config_text)
    assert len(files) == 3
    assert "_env:" not in config_text  # secrets never in environment variables
    for path in files:
        assert path.startswith(directory + "/")
        assert path.removeprefix(directory + "/") in secret["stringData"]
        local = tmp_path / path.removeprefix("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text("from-the-secret\n")
    for path in set(re.findall(r"(?:ca|cert|key)_file: (\S+)", config_text)):  # TLS mounts
        local = tmp_path / path.removeprefix("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text("a certificate\n")
    (tmp_path / "config.yaml").write_text(config_text.replace("/etc/", f"{tmp_path}/etc/"))
    config = load_config(tmp_path / "config.yaml", check_files=True)  # as --check reads it
    assert {t.kind for t in config.targets} == {"harbor", "jenkins", "spinnaker"}
    assert all(t.url.startswith("https://") and t.tls.ca_file for t in config.targets)


def test_the_rendered_monitoring_objects_are_up_to_date(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(Path(sys.executable).parent / "paas-dash"), "render", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    committed = DEPLOY / "monitoring"
    rendered = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert rendered
    stale = [
        str(p) for p in rendered if (committed / p).read_bytes() != (tmp_path / p).read_bytes()
    ]
    assert stale == [], "run `paas-dash render --out deploy/monitoring` and commit the result"


def test_the_prometheus_rules_and_dashboard_config_maps_are_deployed_as_apply_owns_them(
    overlay: list[dict[str, Any]],
) -> None:
    """One PrometheusRule per rule file and one ConfigMap per dashboard, named and labelled as
    `paas-dash apply` names and labels them: apply takes the deployed objects over instead of
    refusing them or loading every alert a second time under another name."""
    owner = load_owner(DEPLOY.parent / "dashboards")
    assert owner is not None
    wanted = {
        (o["kind"], o["metadata"]["name"]): o
        for o in desired_objects(
            load_dashboards(DEPLOY.parent / "dashboards"),
            load_rule_files(DEPLOY.parent / "alert_rules"),
            ApplyOptions(owner=owner),
        )
    }
    rules = by_kind(overlay, "PrometheusRule")
    assert {("PrometheusRule", name) for name in rules} == {
        key for key in wanted if key[0] == "PrometheusRule"
    }
    for name, rule in rules.items():
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        assert rule["spec"] == wanted["PrometheusRule", name]["spec"]
        assert all(group["rules"] for group in rule["spec"]["groups"])
    dashboards = {
        name: cm for name, cm in by_kind(overlay, "ConfigMap").items()
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    }  # fmt: skip
    assert {("ConfigMap", name) for name in dashboards} == {
        key for key in wanted if key[0] == "ConfigMap"
    }
    for name, configmap in dashboards.items():
        assert configmap["data"] == wanted["ConfigMap", name]["data"]
    for obj in [*rules.values(), *dashboards.values()]:
        # exactly apply's labels: one kustomize added would be a field apply then fights over
        wanted_labels = wanted[obj["kind"], obj["metadata"]["name"]]["metadata"]["labels"]
        assert obj["metadata"]["labels"] == wanted_labels
