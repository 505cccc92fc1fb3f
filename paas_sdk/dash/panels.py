"""Building blocks for dashboards as code: the managed uid, the standard variables, RED panels.

The built-in dashboards in `dashboards/` and a user's own dashboard modules use the same pieces,
so every dashboard `paas-dash` manages carries the `datasource`, `job` and `instance` variables,
the templated datasource on every panel, and a uid with the managed prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)

from paas_sdk.dash.catalog import MANAGED_PREFIX, MANAGED_TAG

__all__ = [
    "DATASOURCE",
    "GOOD_WHEN_ZERO",
    "MANAGED_PREFIX",
    "MANAGED_TAG",
    "RECORDS_PER_SECOND",
    "base_dashboard",
    "error_ratio",
    "managed_uid",
    "or_none",
    "query_variable",
    "stat_panel",
    "timeseries_panel",
]

_UID_MAX = 40
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Threshold steps: (from value, colour), the first from minus infinity (None).
Steps = Sequence[tuple[float | None, str]]
GOOD_WHEN_ZERO: Steps = ((None, "green"), (1, "red"))
# Grafana's per-second unit for things that are neither requests nor operations (log records).
RECORDS_PER_SECOND = "cps"


def _thresholds(steps: Steps) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


def managed_uid(slug: str) -> str:
    """The deterministic uid of the dashboard named `slug`: the managed prefix plus the slug."""
    clean = re.sub(r"[^a-z0-9-]+", "-", slug.lower()).strip("-")
    uid = MANAGED_PREFIX + clean
    if not clean or len(uid) > _UID_MAX:
        raise ValueError(f"dashboard slug {slug!r} gives uid {uid!r}: need 1-{_UID_MAX} chars")
    return uid


def query_variable(name: str, query: str) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .label(name)
        .datasource(DATASOURCE)
        .query(query)
        .multi(True)
        .include_all(True)
        .all_value(".+")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def base_dashboard(
    title: str, slug: str, *, selector_metric: str, description: str, tags: list[str] | None = None
) -> dash.Dashboard:
    """A dashboard with the managed uid and tag, and datasource/job/instance variables.

    `selector_metric` is the metric whose labels fill the `job` and `instance` drop-downs.
    """
    return (
        dash.Dashboard(title)
        .uid(managed_uid(slug))
        .description(description)
        .tags([MANAGED_TAG, *(tags or [])])
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .editable()
        .link(
            dash.DashboardLink("PaaS dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([MANAGED_TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(
            dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(query_variable("job", f"label_values({selector_metric}, job)"))
        .with_variable(
            query_variable("instance", f'label_values({selector_metric}{{job=~"$job"}}, instance)')
        )
    )


def error_ratio(
    counter: str,
    selector: str,
    *,
    by: str = "",
    errors: str = 'status=~"5.."',
    window: str = "$__rate_interval",
) -> str:
    """The share of `counter`'s rate whose series match `errors`, from summed numerators and
    denominators (an average of per-series ratios would weigh a quiet instance like a busy one),
    and 0 rather than "No data" while nothing fails."""
    grouping = f" by ({by})" if by else ""
    total = f"sum{grouping} (rate({counter}{{{selector}}}[{window}]))"
    failed = f"sum{grouping} (rate({counter}{{{selector}, {errors}}}[{window}]))"
    return f"({failed} or 0 * {total}) / {total}"


def or_none(expr: str, label: str, text: str = "none") -> str:
    """`expr`, or a single 0 labelled `label="none"` while it selects nothing (no calls made, no
    interface subscribed, nothing dropped): the panel then says so instead of "No data", which
    would also be what a broken scrape looks like."""
    return f'{expr} or label_replace(vector(0), "{label}", "{text}", "", "")'


def _target(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
        .datasource(DATASOURCE)
    )


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    queries: list[tuple[str, str]],
    *,
    width: int = 12,
    height: int = 8,
    steps: Steps | None = None,
) -> timeseries.Panel:
    """A time series panel: `queries` are (PromQL, legend) pairs, all in one `unit` (mixing
    units in a panel makes one of them unreadable: split the panel). `steps` draws thresholds
    as dashed lines."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
    )
    if steps is not None:
        panel = panel.thresholds(_thresholds(steps)).thresholds_style(
            GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED)
        )
    if unit not in ("short", "none"):
        panel = panel.min(0)
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_target(expr, legend, chr(ord("A") + index)))
    return panel


def stat_panel(
    title: str,
    description: str,
    unit: str,
    expr: str,
    *,
    steps: Steps,
    states: Mapping[int, tuple[str, str]] | None = None,
    legend: str = "",
    width: int = 6,
) -> stat.Panel:
    """A single-value panel for one PromQL expression, coloured by its threshold `steps`.

    A value that is a state (healthy or not) gets `states`: value -> (text, colour), so a 0
    reads "Unhealthy" in red instead of a green 0.
    """
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(4)
        .thresholds(_thresholds(steps))
        .with_target(_target(expr, legend).instant())
    )
    if states:
        options = {
            str(value): ValueMappingResult(text=text, color=color, index=index)
            for index, (value, (text, color)) in enumerate(sorted(states.items()))
        }
        panel = panel.mappings([ValueMap(options=options)])
    return panel
