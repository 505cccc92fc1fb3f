"""Lint of PromQL in panels and rules: every selector seen, with braces or without."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from paas_sdk.dash.catalog import RuleFile
from paas_sdk.dash.lint import counter_problems, lint_rules
from paas_sdk.dash.promql import selectors
from paas_sdk.dash.references import metric_names

from .conftest import write_team_dir


def _lint_query(tmp_path: Path, expr: str) -> list[str]:
    from paas_sdk.dash.catalog import load_dashboards
    from paas_sdk.dash.lint import lint_dashboards

    directory = write_team_dir(tmp_path / "t", ["shop-orders"])
    module = directory / "shop_orders.py"
    text = module.read_text()
    start = text.index("'sum(rate(")
    end = text.index('"orders",')
    module.write_text(text[:start] + repr(expr) + ",\n" + text[end:])
    return [str(p) for p in lint_dashboards(load_dashboards(directory))]


@pytest.mark.parametrize(
    ("expr", "selector"),
    [
        ("up", "up"),
        ("sum(rate(http_server_request_duration_seconds_count[$__rate_interval]))",
         "http_server_request_duration_seconds_count"),
        ('sum(x{route="/a"}) / sum(y{job=~"$job"})', "x"),
        ("count(paas_service_info) by (job)", "paas_service_info"),
    ],
)  # fmt: skip
def test_a_selector_without_job_is_reported_with_or_without_braces(
    tmp_path: Path, expr: str, selector: str
) -> None:
    messages = _lint_query(tmp_path, expr)
    assert (
        f"warning: shop_orders.py: panel 'Orders': selector {selector} lacks job=~\"$job\""
        in messages
    )


def test_scoped_selectors_pass(tmp_path: Path) -> None:
    expr = (
        'sum by (route) (rate(http_server_request_duration_seconds_count{job=~"$job"}'
        '[$__rate_interval])) / on () group_left sum(up{job="paas-exporter"})'
    )
    assert [m for m in _lint_query(tmp_path, expr) if "lacks" in m] == []


@pytest.mark.parametrize(
    "expr",
    [
        "paas_log_records_emitted_total",
        "sum(http_server_request_duration_seconds_count)",
        "http_server_request_duration_seconds_sum / 2",
        "histogram_quantile(0.9, sum by (le) (http_server_request_duration_seconds_bucket))",
        "max_over_time(paas_config_reloads_total[5m])",
        "rate(sum(paas_config_reloads_total)[5m:])",
    ],
)
def test_a_counter_read_raw_is_an_error(expr: str) -> None:
    assert [p.message for p in counter_problems("q", expr)] != []
    assert all("used outside rate()/irate()/increase()" in p.message
               for p in counter_problems("q", expr))  # fmt: skip


@pytest.mark.parametrize(
    "expr",
    [
        "sum(rate(http_server_request_duration_seconds_count[5m]))",
        "increase(paas_config_reloads_total[$__range])",
        "histogram_quantile(0.9, sum by (le) (rate(h_seconds_bucket[5m])))",
        "harbor_project_total",  # a gauge Harbor names _total
        "job:http_server_requests:rate5m",
    ],
)
def test_counters_through_rate_or_increase_pass(expr: str) -> None:
    assert list(counter_problems("q", expr)) == []


def test_a_rule_reading_a_counter_raw_is_reported() -> None:
    rule_file = RuleFile(
        Path("r.yaml"),
        [{"name": "g", "rules": [{"record": "job:x:sum", "expr": "sum(x_total) by (job)"}]}],
    )
    assert "error: r.yaml: job:x:sum: counter x_total used outside rate()/irate()/increase()" in [
        str(p) for p in lint_rules([rule_file])
    ]


def test_the_scanner_reads_strings_grouping_and_variables() -> None:
    found = selectors('sum by (le) (rate(a_bucket{l="}[x]"}[$__rate_interval])) or vector(0)')
    assert [(s.metric, s.range, s.function) for s in found] == [
        ("a_bucket", "$__rate_interval", "rate")
    ]
    assert metric_names('label_replace(up, "dst", "$1", "src", "(.*)") * on (job) b') == {
        "up",
        "b",
    }


def _alert(name: str, severity: str, threshold: int) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": f"rate(errors_total[5m]) > {threshold}",
        "labels": {"severity": severity},
        "annotations": {
            "summary": "Errors are high.",
            "description": "{{ $value }} errors per second.",
            "runbook_url": "https://runbooks.example/errors",
        },
    }


def test_one_alert_at_two_severities_is_one_name_but_another_files_alert_is_not() -> None:
    """The mixins' way: `ErrorsHigh` warning at 1/s and critical at 5/s in one file. The same
    name in another component's file is a clash (silences and routes would catch both)."""
    shop = RuleFile(
        Path("shop.yaml"),
        [
            {
                "name": "g",
                "rules": [_alert("ErrorsHigh", "warning", 1), _alert("ErrorsHigh", "critical", 5)],
            }
        ],
    )
    other = RuleFile(
        Path("other.yaml"), [{"name": "g", "rules": [_alert("ErrorsHigh", "warning", 2)]}]
    )
    assert [str(p) for p in lint_rules([shop])] == []
    assert [str(p) for p in lint_rules([shop, other])] == [
        "warning: other.yaml: ErrorsHigh: alert name also used in shop.yaml"
    ]
