"""Dashboards and alert rules as code: build, lint, render and sync them (`paas-dash`).

- `catalog`: load dashboard modules (built-in or a user's directory) and rule files.
- `panels`: builders for managed dashboards (needs the `grafana` extra).
- `lint`, `render`, `sync`, `references` (the no-dead-panels check).

Importing this package does not import grafana-foundation-sdk or grafana-client.
"""

from paas_sdk.dash.catalog import (
    MANAGED_PREFIX,
    MANAGED_TAG,
    Dashboard,
    Folder,
    RuleFile,
    builtin_alert_rules_dir,
    builtin_dashboards_dir,
    load_dashboards,
    load_rule_files,
)
from paas_sdk.dash.lint import Problem, lint_dashboards, lint_rules, promql_problems
from paas_sdk.dash.references import SDK_METRICS, DeadReference, dead_references, metric_names
from paas_sdk.dash.render import RenderOptions, render
from paas_sdk.dash.sync import GrafanaTarget, Syncer, SyncReport, normalise

__all__ = [
    "MANAGED_PREFIX",
    "MANAGED_TAG",
    "SDK_METRICS",
    "Dashboard",
    "DeadReference",
    "Folder",
    "GrafanaTarget",
    "Problem",
    "RenderOptions",
    "RuleFile",
    "SyncReport",
    "Syncer",
    "builtin_alert_rules_dir",
    "builtin_dashboards_dir",
    "dead_references",
    "lint_dashboards",
    "lint_rules",
    "load_dashboards",
    "load_rule_files",
    "metric_names",
    "normalise",
    "promql_problems",
    "render",
]
