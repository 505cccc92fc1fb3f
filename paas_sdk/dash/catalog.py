"""Finding and building dashboards and rule files: the built-in ones or a user's own directory.

A dashboard directory (a catalog) holds `catalog.yaml` (`owner: <name>`, the catalog's identity),
`folders.yaml` (folder uid -> title) and one Python module per dashboard. A module defines
`FOLDER` (a folder uid from folders.yaml) and `dashboard()`, which returns a
grafana-foundation-sdk `Dashboard` builder (or a plain dict). Modules whose name starts with `_`
are shared code, not dashboards.

Every dashboard of a catalog carries the tag `paas-owner:<owner>`: in a Grafana several teams
share, `paas-dash sync --prune` deletes only dashboards with its own catalog's tag, and refuses
to overwrite a dashboard another catalog owns.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from paas_sdk.errors import DashboardError

__all__ = [
    "MANAGED_PREFIX",
    "MANAGED_TAG",
    "OWNER_TAG_PREFIX",
    "Dashboard",
    "Folder",
    "RuleFile",
    "builtin_alert_rules_dir",
    "builtin_dashboards_dir",
    "fill_settings",
    "load_dashboards",
    "load_folders",
    "load_owner",
    "load_rule_files",
    "owner_of",
    "owner_tag",
    "rule_settings",
]

# The conventions of a dashboard built with paas-dash's helpers (uid prefix and tag), which
# `paas-dash lint` checks; ownership, and so `sync --prune`, goes by the owner tag below alone.
MANAGED_PREFIX = "paas-"
MANAGED_TAG = "paas-managed"
# The mark of the catalog a dashboard comes from: `paas-owner:<owner of catalog.yaml>`, put on
# every dashboard at load; `sync --prune` deletes only dashboards with its catalog's.
OWNER_TAG_PREFIX = "paas-owner:"
_OWNER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def owner_tag(owner: str) -> str:
    return OWNER_TAG_PREFIX + owner


def owner_of(tags: Iterable[Any]) -> str | None:
    """The owner named by a dashboard's tags, or None when it carries no owner tag."""
    for tag in tags:
        if isinstance(tag, str) and tag.startswith(OWNER_TAG_PREFIX):
            return tag[len(OWNER_TAG_PREFIX) :]
    return None


@dataclass(frozen=True)
class Folder:
    uid: str
    title: str


@dataclass(frozen=True)
class Dashboard:
    """One built dashboard: its JSON model and the folder it belongs in."""

    uid: str
    title: str
    folder: Folder
    model: dict[str, Any]
    source: Path
    owner: str | None = None

    @property
    def slug(self) -> str:
        return self.source.stem.replace("_", "-")


@dataclass(frozen=True)
class RuleFile:
    """One Prometheus rule file (the plain `groups:` form promtool reads)."""

    path: Path
    groups: list[dict[str, Any]]

    def rules(self) -> Iterator[dict[str, Any]]:
        for group in self.groups:
            yield from group.get("rules") or []


def _shipped(name: str) -> Path:
    # In a checkout the folders sit at the repository root; an installed wheel carries them as
    # data files under <prefix>/share/paas-sdk/.
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "paas-sdk" / name


def builtin_dashboards_dir() -> Path:
    return _shipped("dashboards")


def builtin_alert_rules_dir() -> Path:
    return _shipped("alert_rules")


def load_folders(directory: Path) -> dict[str, Folder]:
    path = directory / "folders.yaml"
    if not path.is_file():
        raise DashboardError("no folders.yaml (folder uid -> title) found", where=str(directory))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise DashboardError(f"not valid YAML: {error}", where=str(path)) from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise DashboardError("expected a mapping of folder uid to folder title", where=str(path))
    return {uid: Folder(uid, title) for uid, title in data.items()}


def load_owner(directory: Path) -> str | None:
    """The owner `catalog.yaml` declares, or None when the directory has no catalog.yaml."""
    path = directory / "catalog.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise DashboardError(f"not valid YAML: {error}", where=str(path)) from None
    owner = data.get("owner") if isinstance(data, dict) else None
    if not isinstance(owner, str) or not _OWNER_RE.match(owner):
        raise DashboardError(
            "needs `owner: <name>` (lower case letters, digits, '.', '_', '-'; up to 63): "
            "the tag that tells this catalog's dashboards from everybody else's",
            where=str(path),
        )
    return owner


def _build_model(module_path: Path) -> tuple[str, Any]:
    """Import a dashboard module and call its dashboard(); every failure names the module."""
    name = f"paas_dash_module_{module_path.stem}_{abs(hash(module_path))}"
    spec = importlib.util.spec_from_file_location(name, module_path)
    if spec is None or spec.loader is None:
        raise DashboardError("cannot be imported", where=str(module_path))
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        folder = getattr(module, "FOLDER", None)
        build = getattr(module, "dashboard", None)
        if not callable(build):
            raise DashboardError("defines no dashboard() function", where=str(module_path))
        if not isinstance(folder, str):
            raise DashboardError("defines no FOLDER (a folder uid)", where=str(module_path))
        built = build()
    except DashboardError:
        raise
    except Exception as error:
        # A user's module raised: show where in their code, not our loader's frames.
        frames = traceback.extract_tb(error.__traceback__)
        own = [f for f in frames if Path(f.filename).resolve() == module_path.resolve()]
        line = f" (line {own[-1].lineno})" if own else ""
        raise DashboardError(
            f"raised {type(error).__name__}: {error}{line}", where=str(module_path)
        ) from None
    return folder, built


def _to_model(built: Any, where: Path) -> dict[str, Any]:
    if isinstance(built, dict):
        return json.loads(json.dumps(built))  # type: ignore[no-any-return]
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    if hasattr(built, "build"):
        built = built.build()
    try:
        model = json.loads(json.dumps(built, cls=JSONEncoder))
    except (TypeError, ValueError) as error:
        raise DashboardError(
            f"dashboard() result cannot be serialised: {error}", where=str(where)
        ) from None
    if not isinstance(model, dict):
        raise DashboardError(
            "dashboard() must return a Dashboard builder or a dict", where=str(where)
        )
    return model


def _number_panels(model: dict[str, Any]) -> None:
    """Give every panel a stable id (the builders leave them unset): its position, from 1."""
    next_id = 1
    for panel in model.get("panels") or []:
        panel["id"] = next_id
        next_id += 1
        for inner in panel.get("panels") or []:
            inner["id"] = next_id
            next_id += 1


_GRID_COLUMNS = 24


def _fit_grid(model: dict[str, Any]) -> None:
    """Move a panel that sticks out past Grafana's 24 columns (the builders' auto-layout places a
    full-width panel after a half-width one at x=12) to the start of a row of its own, below
    every panel before it, where Grafana's layout would put it."""
    bottom = 0
    for panel in model.get("panels") or []:
        grid = panel.get("gridPos")
        if not isinstance(grid, dict):
            continue
        x, y, w, h = (int(grid.get(k) or 0) for k in ("x", "y", "w", "h"))
        if x + w > _GRID_COLUMNS:
            grid.update(x=0, y=bottom)
            y = bottom
        bottom = max(bottom, y + h)


def load_dashboards(directory: Path) -> list[Dashboard]:
    """Build every dashboard of `directory`, sorted by uid; duplicate uids are an error."""
    if not directory.is_dir():
        raise DashboardError("dashboard directory does not exist", where=str(directory))
    folders = load_folders(directory)
    owner = load_owner(directory)
    out: dict[str, Dashboard] = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        folder_uid, built = _build_model(path)
        if folder_uid not in folders:
            known = ", ".join(sorted(folders)) or "none"
            raise DashboardError(
                f"FOLDER {folder_uid!r} is not declared in folders.yaml (known: {known})",
                where=str(path),
            )
        model = _to_model(built, path)
        model.pop("id", None)
        model.pop("version", None)
        _number_panels(model)
        _fit_grid(model)
        if owner is not None:
            tags = [t for t in model.get("tags") or [] if owner_of([t]) is None]
            model["tags"] = [*tags, owner_tag(owner)]
        uid = model.get("uid")
        if not isinstance(uid, str) or not uid:
            raise DashboardError("dashboard has no uid", where=str(path))
        if uid in out:
            raise DashboardError(
                f"uid {uid!r} is also used by {out[uid].source.name}", where=str(path)
            )
        out[uid] = Dashboard(
            uid, str(model.get("title", "")), folders[folder_uid], model, path, owner
        )
    if not out:
        raise DashboardError("no dashboard modules (*.py) found", where=str(directory))
    return [out[uid] for uid in sorted(out)]


# The settings of the rule files, as a mixin's `_config`: `${name}` in a rule file (or its promtool
# test) is replaced by the value. Selectors keep the alerts to the services and exporters of this
# platform (an OpenTelemetry service exposing the same histogram is not one of them).
RULE_SETTINGS: dict[str, str] = {
    # Label matchers of the services' scrape jobs (narrow it: `namespace="shop"`, say); the alerts
    # also require the SDK's paas_service_info from the same job.
    "service_selector": 'job!=""',
    # Label matchers of paas-exporter's scrape job.
    "exporter_selector": 'job="paas-exporter"',
    # Label matchers of the log indexers' scrape job (`paas-logs index --metrics-port`).
    "indexer_selector": 'job="paas-logs-indexer"',
    # Consumer lag (records) below which a growing lag is no alert yet.
    "indexer_lag_records": "10000",
    # The error-ratio alert stays silent below this many requests per second: 1 failure in 3
    # requests is no incident.
    "error_ratio_min_requests_per_second": "0.5",
    # Label matchers of the platform components' scrape jobs, as their upstream mixins default
    # them (etcd's mixin) or kube-prometheus-stack names the jobs (the API server, CoreDNS).
    "etcd_selector": 'job=~".*etcd.*"',
    "kube_apiserver_selector": 'job="apiserver"',
    "coredns_selector": 'job="coredns"',
    # Where runbook.md (shipped beside the rules, copied by `paas-dash render`) is served.
    "runbook_url_base": "https://example.invalid/paas-sdk/alert_rules/runbook.md",
}
_SETTING_RE = re.compile(r"\$\{(\w+)\}")


def rule_settings(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The default rule settings with `overrides`; an unknown name is an error."""
    unknown = sorted(set(overrides or {}) - set(RULE_SETTINGS))
    if unknown:
        raise DashboardError(
            f"unknown rule setting {unknown[0]!r} (known: {', '.join(sorted(RULE_SETTINGS))})"
        )
    return {**RULE_SETTINGS, **(overrides or {})}


def fill_settings(text: str, settings: dict[str, str], where: Path) -> str:
    """`text` with every `${name}` replaced by its setting; an unknown name names the file."""

    def value(match: re.Match[str]) -> str:
        if match[1] not in settings:
            raise DashboardError(f"unknown setting ${{{match[1]}}}", where=str(where))
        return settings[match[1]]

    return _SETTING_RE.sub(value, text)


def load_rule_files(directory: Path, settings: dict[str, str] | None = None) -> list[RuleFile]:
    """Every rule file of `directory` (`*.yaml` except the `*_test.yaml` promtool tests), with
    its `${name}` settings filled in (the defaults of RULE_SETTINGS unless given)."""
    settings = settings or rule_settings()
    files = []
    for path in sorted(directory.glob("*.y*ml")):
        if path.stem.endswith("_test"):
            continue
        try:
            text = fill_settings(path.read_text(encoding="utf-8"), settings, path)
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise DashboardError(f"not valid YAML: {error}", where=str(path)) from None
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            raise DashboardError("a rule file needs a top-level `groups:` list", where=str(path))
        files.append(RuleFile(path, data["groups"]))
    return files
