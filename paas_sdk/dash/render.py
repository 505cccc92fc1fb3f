"""Rendering dashboards and rules to files: dashboard JSON, Grafana file provisioning, the
objects `paas-dash apply` applies (one ConfigMap per dashboard for the Grafana sidecar, one
PrometheusRule per rule file, labelled with the catalog's owner), a kustomization naming those
objects, and the plain rule files with their promtool tests and runbook, settings filled in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from paas_sdk.dash.catalog import Dashboard, RuleFile, fill_settings, rule_settings
from paas_sdk.errors import DashboardError

__all__ = [
    "CONFIGMAP_LIMIT",
    "RENDERED_LIST",
    "RenderOptions",
    "dashboard_configmap",
    "prometheus_rule",
    "remove_stale",
    "render",
]

# What a render wrote, relative to its output directory, one per line: the next render removes
# what it no longer writes, and never touches a file it did not write.
RENDERED_LIST = ".paas-dash-rendered"
# The API server refuses a ConfigMap over 1 MiB.
CONFIGMAP_LIMIT = 1024 * 1024
FOLDER_ANNOTATION = "grafana_folder"


@dataclass(frozen=True)
class RenderOptions:
    release: str = "kube-prometheus-stack"
    namespace: str = "monitoring"
    provisioning_path: str = "/var/lib/grafana/dashboards"
    # The catalog's owner (catalog.yaml): the objects carry it as apply's do.
    owner: str = "paas-sdk"
    # The rule settings (RULE_SETTINGS with overrides): selectors, guards, the runbook URL base.
    settings: dict[str, str] | None = None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def dashboard_configmap(
    board: Dashboard, namespace: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """The ConfigMap Grafana's sidecar loads `board` from (label `grafana_dashboard: "1"`)."""
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"grafana-dashboard-{board.uid}",
            "namespace": namespace,
            "labels": {
                "grafana_dashboard": "1",
                "app.kubernetes.io/part-of": "paas-sdk",
                **(labels or {}),
            },
            "annotations": {FOLDER_ANNOTATION: board.folder.title},
        },
        "data": {f"{board.uid}.json": json.dumps(board.model, sort_keys=True)},
    }
    size = len(_dump(configmap).encode())
    if size >= CONFIGMAP_LIMIT:
        raise DashboardError(
            f"ConfigMap would be {size} bytes, over the 1 MiB limit", where=str(board.source)
        )
    return configmap


def prometheus_rule(
    name: str,
    namespace: str,
    release: str,
    groups: list[dict[str, Any]],
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A PrometheusRule holding `groups`, labelled for kube-prometheus-stack's rule selector."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "release": release,
                "app.kubernetes.io/part-of": "paas-sdk",
                **(labels or {}),
            },
        },
        "spec": {"groups": groups},
    }


def render(
    dashboards: list[Dashboard], rule_files: list[RuleFile], out: Path, options: RenderOptions
) -> list[Path]:
    """Write everything under `out`; returns the files written."""
    # The very objects apply builds: a cluster deployed from this directory is one apply (and
    # apply --prune) recognises as the catalog's own, with no object under a second name. Built
    # before anything is written, so a dashboard too big for a ConfigMap writes nothing.
    # Imported here because apply imports this module.
    from paas_sdk.dash.apply import KINDS, ApplyOptions, desired_objects

    applied = desired_objects(
        dashboards, rule_files, ApplyOptions(options.namespace, options.owner, options.release)
    )
    written: list[Path] = []
    resources: list[str] = []  # what the kustomization names, relative to `out`
    folders = {d.folder.uid: d.folder for d in dashboards}
    for board in dashboards:
        text = json.dumps(board.model, indent=2, sort_keys=True) + "\n"
        path = out / "dashboards" / board.folder.uid / f"{board.uid}.json"
        _write(path, text)
        written.append(path)
    provisioning = {
        "apiVersion": 1,
        "providers": [
            {
                "name": f"paas-{folder.uid}",
                "orgId": 1,
                "folder": folder.title,
                "folderUid": folder.uid,
                "type": "file",
                "disableDeletion": False,
                "updateIntervalSeconds": 60,
                "allowUiUpdates": False,
                "options": {
                    "path": f"{options.provisioning_path}/{folder.uid}",
                    "foldersFromFilesStructure": False,
                },
            }
            for folder in folders.values()
        ],
    }
    path = out / "provisioning" / "dashboards" / "paas.yaml"
    _write(path, _dump(provisioning))
    written.append(path)
    if rule_files:
        written += _rule_directory(rule_files, out / "rules", rule_settings(options.settings))
    for obj in applied:  # one file per object, named as the object is
        name = f"{KINDS[obj['kind']].plural}/{obj['metadata']['name']}.yaml"
        _write(out / name, _dump(obj))
        written.append(out / name)
        resources.append(name)
    # Written with the objects, so a dashboard added to the catalog is deployed with them.
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    path = out / "kustomization.yaml"
    _write(
        path,
        f"# Written by `paas-dash render`; render again rather than edit.\n{_dump(kustomization)}",
    )
    written.append(path)
    return written


def _rule_directory(rule_files: list[RuleFile], out: Path, settings: dict[str, str]) -> list[Path]:
    """The plain rule files promtool reads, their `*_test.yaml` and the runbook shipped beside
    them, with the settings filled in: `promtool test rules out/rules/*_test.yaml` works."""
    written = []
    extras: dict[str, Path] = {}
    for rule_file in rule_files:
        path = out / rule_file.path.name
        _write(path, _dump({"groups": rule_file.groups}))
        written.append(path)
        directory = rule_file.path.parent
        for extra in (directory / f"{rule_file.path.stem}_test.yaml", directory / "runbook.md"):
            if extra.is_file():
                extras.setdefault(extra.name, extra)
    for name, extra in sorted(extras.items()):
        _write(out / name, fill_settings(extra.read_text(encoding="utf-8"), settings, extra))
        written.append(out / name)
    return written


def remove_stale(out: Path, written: list[Path]) -> list[Path]:
    """Delete the files an earlier render under `out` wrote and this one did not; returns them.

    A dashboard or rule taken out of the catalog must not live on in a provisioning directory or
    a ConfigMap folder applied from `out`. Only files named in `RENDERED_LIST` are removed.
    """
    listing = out / RENDERED_LIST
    now = {path.relative_to(out).as_posix() for path in written}
    before = set(listing.read_text(encoding="utf-8").splitlines()) if listing.is_file() else set()
    removed = []
    for name in sorted(before - now):
        path = out / name
        if path.is_file() and path.resolve().is_relative_to(out.resolve()):
            path.unlink()
            removed.append(path)
            for parent in path.parents:  # folders left empty go too, up to `out`
                if parent == out or any(parent.iterdir()):
                    break
                parent.rmdir()
    listing.write_text("".join(f"{name}\n" for name in sorted(now)), encoding="utf-8")
    return removed
