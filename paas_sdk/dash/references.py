"""No dead panels: the metric names dashboards and alerts reference, checked against exposed ones.

`metric_names(expr)` reads the metric names out of a PromQL expression (Grafana variables
included) with the selector scanner of `promql`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from paas_sdk.dash.catalog import Dashboard, RuleFile
from paas_sdk.dash.promql import selectors

__all__ = [
    "INDEXER_METRICS",
    "SDK_METRICS",
    "DeadReference",
    "dashboard_expressions",
    "dead_references",
    "metric_names",
    "rule_expressions",
]

# The SDK's metric names as CONTRACT.md fixes them (histograms by family name), with the
# prometheus_client default collectors' process_* and python_gc_* families.
SDK_METRICS: frozenset[str] = frozenset(
    {
        "paas_service_info",
        "http_server_request_duration_seconds",
        "http_server_requests_in_flight",
        "rpc_server_duration_seconds",
        "rpc_client_duration_seconds",
        "paas_config_last_sync_timestamp_seconds",
        "paas_config_reloads_total",
        "paas_config_rejected_updates_total",
        "paas_config_sync_errors_total",
        "paas_config_source",
        "paas_log_records_emitted_total",
        "paas_log_records_delivered_total",
        "paas_log_records_dropped_total",
        "paas_log_records_failed_total",
        "paas_log_records_in_flight",
        "paas_log_records_truncated_total",
        "paas_registry_connected",
        "paas_registry_registered",
        "paas_registry_sessions_reestablished_total",
        "paas_registry_providers",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
        "python_gc_objects_collected_total",
        "python_gc_objects_uncollectable_total",
        "python_gc_collections_total",
        "python_info",
    }
)

# What `paas-logs index --metrics-port` serves (paas_sdk.logs._metrics.IndexerMetrics).
INDEXER_METRICS: frozenset[str] = frozenset(
    {
        "paas_logs_indexer_records_consumed_total",
        "paas_logs_indexer_records_indexed_total",
        "paas_logs_indexer_records_already_present_total",
        "paas_logs_indexer_records_dead_lettered_total",
        "paas_logs_indexer_retries_total",
        "paas_logs_indexer_consumer_lag",
        "paas_logs_indexer_bulk_duration_seconds",
        "paas_logs_indexer_waiting",
    }
)

_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects."""
    return {s.metric for s in selectors(expr) if s.metric and s.metric != "__name__"}


def dashboard_expressions(dashboards: Iterable[Dashboard]) -> Iterator[tuple[str, str]]:
    """(where, expr) for every panel target and every query variable."""
    for board in dashboards:
        for panel in _panels(board.model):
            for target in panel.get("targets") or []:
                if target.get("expr"):
                    yield f"{board.source.name}: panel {panel.get('title')!r}", target["expr"]
        for variable in (board.model.get("templating") or {}).get("list") or []:
            query = variable.get("query")
            if variable.get("type") == "query" and isinstance(query, str):
                inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query.strip())
                expr = inner[1] if inner else query
                yield f"{board.source.name}: variable {variable.get('name')}", expr


def rule_expressions(rule_files: Iterable[RuleFile]) -> Iterator[tuple[str, str, str | None]]:
    """(where, expr, recorded name or None) for every rule."""
    for rule_file in rule_files:
        for rule in rule_file.rules():
            name = rule.get("alert") or rule.get("record")
            yield f"{rule_file.path.name}: {name}", str(rule.get("expr", "")), rule.get("record")


def _panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


@dataclass(frozen=True)
class DeadReference:
    where: str
    metric: str

    def __str__(self) -> str:
        return f"{self.where}: {self.metric} is not exposed by the SDK or the exporter"


def _exposed(name: str, exposed: set[str]) -> bool:
    if name in exposed:
        return True
    return any(name.endswith(s) and name[: -len(s)] in exposed for s in _HISTOGRAM_SUFFIXES)


def dead_references(
    dashboards: Iterable[Dashboard], rule_files: Iterable[RuleFile], exposed: Iterable[str]
) -> list[DeadReference]:
    """Every metric a panel, variable or rule references that nothing exposes.

    Names produced by a recording rule count as exposed when the rule itself is alive.
    """
    exposed_set = set(exposed)
    rules = list(rule_expressions(rule_files))
    recorded = {record for _, _, record in rules if record}
    dead = []
    for where, expr, _ in rules:
        dead += [
            DeadReference(where, n)
            for n in sorted(metric_names(expr))
            if not _exposed(n, exposed_set) and n not in recorded
        ]
    for where, expr in dashboard_expressions(dashboards):
        dead += [
            DeadReference(where, n)
            for n in sorted(metric_names(expr))
            if not _exposed(n, exposed_set) and n not in recorded
        ]
    return dead
