"""`paas-dash render`: dashboard JSON, file provisioning, and the objects `paas-dash apply`
applies (sidecar ConfigMaps, a PrometheusRule per rule file) with their kustomization."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from click.testing import CliRunner

from paas_sdk.dash.apply import ApplyOptions, desired_objects
from paas_sdk.dash.catalog import (
    builtin_alert_rules_dir,
    builtin_dashboards_dir,
    load_dashboards,
    load_owner,
    load_rule_files,
    rule_settings,
)
from paas_sdk.dash.cli import main
from paas_sdk.dash.render import CONFIGMAP_LIMIT
from paas_sdk.testing.servers import promtool


def _render(out: Path, *args: str) -> None:
    result = CliRunner().invoke(main, ["render", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    assert f"written under {out}" in result.output


def test_render_writes_dashboard_json_per_folder(tmp_path: Path) -> None:
    _render(tmp_path)
    files = sorted(
        p.relative_to(tmp_path).as_posix() for p in (tmp_path / "dashboards").rglob("*.json")
    )
    boards = load_dashboards(builtin_dashboards_dir())
    assert files == sorted(f"dashboards/{b.folder.uid}/{b.uid}.json" for b in boards)
    assert {
        "dashboards/paas-delivery/paas-harbor.json", "dashboards/paas-delivery/paas-jenkins.json",
        "dashboards/paas-delivery/paas-spinnaker.json", "dashboards/paas/paas-log-pipeline.json",
        "dashboards/paas/paas-platform-overview.json", "dashboards/paas/paas-service-overview.json",
    } <= set(files)  # fmt: skip
    model = json.loads((tmp_path / "dashboards/paas/paas-service-overview.json").read_text())
    assert model["uid"] == "paas-service-overview"
    assert "id" not in model
    assert "version" not in model
    assert all(
        p["datasource"]["uid"] == "${datasource}" for p in model["panels"] if p["type"] != "row"
    )


def test_render_writes_file_provisioning_for_each_folder(tmp_path: Path) -> None:
    _render(tmp_path, "--provisioning-path", "/etc/dash")
    config = yaml.safe_load((tmp_path / "provisioning/dashboards/paas.yaml").read_text())
    assert config["apiVersion"] == 1
    providers = {p["folderUid"]: p for p in config["providers"]}
    assert set(providers) == {"paas", "paas-delivery", "paas-platform"}
    assert providers["paas-delivery"]["folder"] == "PaaS delivery"
    assert providers["paas-delivery"]["type"] == "file"
    assert providers["paas-delivery"]["options"]["path"] == "/etc/dash/paas-delivery"


def test_render_writes_one_sidecar_configmap_per_dashboard(tmp_path: Path) -> None:
    _render(tmp_path, "--namespace", "grafana")
    maps = sorted((tmp_path / "configmaps").glob("*.yaml"))
    assert len(maps) == len(load_dashboards(builtin_dashboards_dir()))
    for path in maps:
        assert path.stat().st_size < CONFIGMAP_LIMIT
        configmap = yaml.safe_load(path.read_text())
        assert configmap["kind"] == "ConfigMap"
        assert configmap["metadata"]["namespace"] == "grafana"
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        # apply's owner labels: apply takes over a ConfigMap deployed from render's output
        assert configmap["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "paas-dash"
        assert configmap["metadata"]["labels"]["paas-sdk.dev/owner"] == "paas-sdk"
        assert configmap["metadata"]["annotations"]["grafana_folder"] in (
            "PaaS",
            "PaaS delivery",
            "PaaS platform",
        )
        ((name, text),) = configmap["data"].items()
        uid = json.loads(text)["uid"]
        assert uid == name.removesuffix(".json")
        assert configmap["metadata"]["name"] == path.stem == f"grafana-dashboard-{uid}"


def test_configmaps_are_valid_kubernetes_objects(tmp_path: Path) -> None:
    import kubernetes_validate

    _render(tmp_path)
    for path in (tmp_path / "configmaps").glob("*.yaml"):
        kubernetes_validate.validate(yaml.safe_load(path.read_text()), "1.29", strict=True)


def test_render_writes_a_prometheusrule_per_rule_file_with_the_release_label(
    tmp_path: Path,
) -> None:
    _render(tmp_path, "--release", "monitoring-stack")
    stems = sorted(p.stem for p in builtin_alert_rules_dir().glob("*.yaml") if not
                   p.stem.endswith("_test"))  # fmt: skip
    paths = sorted((tmp_path / "prometheusrules").glob("*.yaml"))
    assert [p.stem for p in paths] == [f"paas-sdk-{s.replace('_', '-')}" for s in stems]
    names, groups = [], []
    for path in paths:
        rule = yaml.safe_load(path.read_text())
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        assert rule["kind"] == "PrometheusRule"
        assert rule["metadata"]["name"] == path.stem
        assert rule["metadata"]["labels"]["release"] == "monitoring-stack"
        assert rule["metadata"]["labels"]["paas-sdk.dev/owner"] == "paas-sdk"
        groups += [g["name"] for g in rule["spec"]["groups"]]
        names += [r.get("alert") or r.get("record") for g in rule["spec"]["groups"]
                  for r in g["rules"]]  # fmt: skip
        # The spec's groups are a rule file promtool accepts as it is.
        plain = tmp_path / "plain.yaml"
        plain.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
        check = subprocess.run(
            [str(promtool()), "check", "rules", str(plain)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    assert "HarborUnhealthy" in names
    assert "job:http_server_requests:rate5m" in names
    assert len(groups) == len(set(groups)), "every group is loaded once"


def test_render_writes_exactly_what_apply_applies(tmp_path: Path) -> None:
    """A cluster deployed from render's output (deploy/monitoring) is one `paas-dash apply`
    recognises as the catalog's own: same names, labels and content, nothing under a second
    name."""
    _render(tmp_path, "--namespace", "grafana", "--release", "stack")
    kustomization = yaml.safe_load((tmp_path / "kustomization.yaml").read_text())
    rendered = [yaml.safe_load((tmp_path / name).read_text()) for name in
                kustomization["resources"]]  # fmt: skip
    assert sorted((tmp_path / "configmaps").glob("*")) + sorted(
        (tmp_path / "prometheusrules").glob("*")
    ) == sorted(tmp_path / name for name in kustomization["resources"])
    dash_dir = builtin_dashboards_dir()
    owner = load_owner(dash_dir)
    assert owner == "paas-sdk"
    applied = desired_objects(
        load_dashboards(dash_dir),
        load_rule_files(builtin_alert_rules_dir(), rule_settings({})),
        ApplyOptions("grafana", owner, "stack"),
    )

    def keyed(objects: list[dict[str, object]]) -> dict[tuple[object, object], object]:
        return {(o["kind"], o["metadata"]["name"]): o for o in objects}  # type: ignore[index]

    assert len(rendered) == len(applied)
    assert keyed(rendered) == keyed(applied)


def test_render_of_a_catalog_without_an_owner_exits_2_with_one_line(
    tmp_path: Path, team_dir: Path
) -> None:
    (team_dir / "catalog.yaml").unlink()
    result = CliRunner().invoke(
        main, ["render", "--out", str(tmp_path / "o"), "--dashboards", str(team_dir)]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {team_dir}: render needs the catalog's owner: add catalog.yaml with"
        " `owner: <team>` (the label that tells this catalog's objects from other teams')"
    ]
    assert not (tmp_path / "o").exists()


def test_render_of_a_user_directory(tmp_path: Path, team_dir: Path) -> None:
    (no_rules := tmp_path / "no-rules").mkdir()
    _render(tmp_path / "out", "--dashboards", str(team_dir), "--rules", str(no_rules))
    assert (tmp_path / "out/dashboards/team-shop/paas-shop-orders.json").is_file()
    assert not (tmp_path / "out/prometheusrules").exists()
    (configmap,) = (tmp_path / "out/configmaps").glob("*.yaml")
    labels = yaml.safe_load(configmap.read_text())["metadata"]["labels"]
    assert labels["paas-sdk.dev/owner"] == "shop"


def test_render_of_a_broken_module_exits_2_with_one_line(tmp_path: Path, team_dir: Path) -> None:
    module = team_dir / "shop_orders.py"
    module.write_text(
        module.read_text().replace("FOLDER =", "raise RuntimeError('boom')\nFOLDER =")
    )
    result = CliRunner().invoke(
        main, ["render", "--out", str(tmp_path / "o"), "--dashboards", str(team_dir)]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {module}: raised RuntimeError: boom (line 6)"
    ]
    assert not (tmp_path / "o").exists()
