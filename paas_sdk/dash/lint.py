"""Lint dashboards (the useful grafana/dashboard-linter rules) and alert rules (mixin conventions).

Each problem names the file, the panel or alert, and what to change. `promql_problems` asks
promtool whether every panel query parses, when a promtool binary is at hand.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from paas_sdk.dash.catalog import MANAGED_PREFIX, MANAGED_TAG, Dashboard, RuleFile
from paas_sdk.dash.promql import selectors
from paas_sdk.dash.references import dashboard_expressions
from paas_sdk.errors import DashboardError

__all__ = ["Problem", "lint_dashboards", "lint_rules", "promql_problems", "rule_syntax_problems"]

_TEMPLATED_DATASOURCE = "${datasource}"
# Gauges whose names end in _total by contract (Harbor's built-in exporter names).
GAUGES_NAMED_TOTAL = frozenset({"harbor_project_total", "harbor_project_repo_total"})
_UNITS = frozenset(
    {"short", "none", "percent", "percentunit", "s", "ms", "bytes", "decbytes", "reqps", "ops",
     "dateTimeAsIso", "dateTimeFromNow", "bool", "cps", "Bps"}
)  # fmt: skip
_SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Problem:
    where: str
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def _panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model.get("panels") or []:
        if panel.get("type") != "row":
            yield panel
        yield from (p for p in panel.get("panels") or [] if p.get("type") != "row")


def _variables(board: Dashboard) -> Iterator[Problem]:
    where = board.source.name
    variables = {v.get("name"): v for v in (board.model.get("templating") or {}).get("list") or []}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        yield Problem(where, "needs a Prometheus datasource variable named `datasource`")
    for name in ("job", "instance"):
        var = variables.get(name)
        if not var or var.get("type") != "query":
            yield Problem(where, f"needs a `{name}` query variable")
            continue
        if not (var.get("multi") and var.get("includeAll") and var.get("allValue") == ".+"):
            yield Problem(where, f"variable `{name}` must be multi-value with All = `.+`")
        if var.get("refresh") != 2:
            yield Problem(where, f"variable `{name}` must refresh on time range change")
        if (var.get("datasource") or {}).get("uid") != _TEMPLATED_DATASOURCE:
            yield Problem(where, f"variable `{name}` must use the `$datasource` variable")


_COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
_COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase"})
JOB_MATCHER = 'job=~"$job"'
_JOB_SCOPED = re.compile(r"(?<![\w])job\s*(=~|!~|!=|=)")


def counter_problems(where: str, expr: str) -> Iterator[Problem]:
    """A counter (or a histogram's counter series) read raw: its value only ever grows, so it
    means something only through rate(), irate() or increase() over a range."""
    for selector in selectors(expr):
        name = selector.metric or ""
        if (
            name.endswith(_COUNTER_SUFFIXES)
            and name not in GAUGES_NAMED_TOTAL
            and ":" not in name
            and not (selector.range and selector.function in _COUNTER_FUNCTIONS)
        ):
            yield Problem(where, f"counter {name} used outside rate()/irate()/increase()")


def _expr_problems(where: str, expr: str) -> Iterator[Problem]:
    for selector in selectors(expr):
        if selector.function in ("rate", "irate") and selector.range not in (
            None,
            "$__rate_interval",
        ):
            yield Problem(
                where,
                f"{selector.function}() should use [$__rate_interval], not [{selector.range}]",
            )
        if not _JOB_SCOPED.search(selector.matchers):
            # `$job`, or a fixed job selector from the settings (the exporter's, say).
            name = selector.metric or "{...}"
            yield Problem(where, f"selector {name} lacks {JOB_MATCHER}", "warning")
    yield from counter_problems(where, expr)


def _panel_problems(name: str, panel: dict[str, Any]) -> Iterator[Problem]:
    if not panel.get("title"):
        yield Problem(name, "panel has no title")
    if not panel.get("description"):
        yield Problem(name, "panel has no description")
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    unit = defaults.get("unit")
    if unit not in _UNITS:
        yield Problem(name, f"unit {unit!r} is missing or unknown")
    if panel.get("type") == "stat" and not (defaults.get("thresholds") or {}).get("steps"):
        yield Problem(name, "stat panel has no thresholds to colour its value")
    if (panel.get("datasource") or {}).get("uid") != _TEMPLATED_DATASOURCE:
        yield Problem(name, "panel must use the `$datasource` variable")
    targets = panel.get("targets") or []
    if not targets:
        yield Problem(name, "panel has no query")
    for target in targets:
        if (target.get("datasource") or {}).get("uid") != _TEMPLATED_DATASOURCE:
            yield Problem(name, "query must use the `$datasource` variable")
        yield from _expr_problems(name, str(target.get("expr") or ""))


def lint_dashboards(dashboards: Iterable[Dashboard]) -> list[Problem]:
    problems: list[Problem] = []
    for board in dashboards:
        where = board.source.name
        if not board.uid.startswith(MANAGED_PREFIX):
            problems.append(
                Problem(where, f"uid {board.uid!r} lacks the managed prefix {MANAGED_PREFIX!r}")
            )
        if MANAGED_TAG not in (board.model.get("tags") or []):
            problems.append(Problem(where, f"missing the {MANAGED_TAG!r} tag"))
        if not board.title:
            problems.append(Problem(where, "dashboard has no title"))
        problems.extend(_variables(board))
        for panel in _panels(board.model):
            problems.extend(
                _panel_problems(f"{where}: panel {panel.get('title') or panel.get('id')!r}", panel)
            )
    return problems


def lint_rules(rule_files: Iterable[RuleFile]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for rule_file in rule_files:
        for rule in rule_file.rules():
            name = rule.get("alert") or rule.get("record")
            problems.extend(
                counter_problems(f"{rule_file.path.name}: {name}", str(rule.get("expr", "")))
            )
            alert = rule.get("alert")
            if not alert:
                record = str(rule.get("record", ""))
                if record.count(":") < 2:
                    problems.append(
                        Problem(
                            f"{rule_file.path.name}: {record}",
                            "record name should be level:metric:operations",
                            "warning",
                        )
                    )
                continue
            where = f"{rule_file.path.name}: {alert}"
            # CamelCase, or a lowercase component prefix as etcd's own mixin names its alerts
            if not re.fullmatch(r"[A-Z][A-Za-z0-9]+|[a-z]+[A-Z][A-Za-z0-9]+", alert):
                problems.append(Problem(where, "alert names are CamelCase"))
            # One alert at two severities shares its name within its file; another component's
            # alert of the same name would be silenced and routed with this one.
            if seen.get(alert, rule_file.path.name) != rule_file.path.name:
                problems.append(Problem(where, f"alert name also used in {seen[alert]}", "warning"))
            seen.setdefault(alert, rule_file.path.name)
            labels = rule.get("labels") or {}
            annotations = rule.get("annotations") or {}
            if labels.get("severity") not in _SEVERITIES:
                problems.append(
                    Problem(where, f"severity label must be one of {', '.join(_SEVERITIES)}")
                )
            summary = str(annotations.get("summary") or "")
            if not summary:
                problems.append(Problem(where, "missing summary annotation"))
            elif "{{" in summary or not summary[0].isupper() or not summary.endswith("."):
                problems.append(
                    Problem(where, "summary: capitalised, ends with a period, no templating")
                )
            description = str(annotations.get("description") or "")
            if "{{" not in description:
                problems.append(
                    Problem(
                        where,
                        "description annotation must exist and use {{ $labels }} / {{ $value }}",
                    )
                )
            if not str(annotations.get("runbook_url") or "").startswith(("http://", "https://")):
                problems.append(Problem(where, "missing runbook_url annotation"))
    return problems


_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def promql_problems(dashboards: Iterable[Dashboard], promtool: Path | str) -> list[Problem]:
    """Panel queries promtool cannot parse (Grafana variables replaced by sample values)."""
    items = list(dashboard_expressions(dashboards))
    problems = []
    with tempfile.TemporaryDirectory(prefix="paas-dash-") as tmp:
        for index, (_, raw) in enumerate(items):
            expr = raw
            for variable, value in _VARIABLES.items():
                expr = expr.replace(variable, value)
            expr = re.sub(r"\$\{?\w+\}?", ".+", expr)
            path = Path(tmp) / f"q{index}.yaml"
            path.write_text(
                yaml.safe_dump(
                    {"groups": [{"name": "q", "rules": [{"record": "q:q:q", "expr": expr}]}]}
                )
            )
        if not items:
            return []
        paths = [str(Path(tmp) / f"q{i}.yaml") for i in range(len(items))]
        result = _check_rules(promtool, paths)
        if result.returncode == 0:
            return []
        failed = set(re.findall(r"q(\d+)\.yaml", result.stdout + result.stderr))
        ok = set(re.findall(r"Checking \S*q(\d+)\.yaml\s+SUCCESS", result.stdout + result.stderr))
        for index in sorted(int(i) for i in failed - ok):
            problems.append(Problem(items[index][0], f"query does not parse: {items[index][1]}"))
    return problems


def rule_syntax_problems(rule_files: Iterable[RuleFile], promtool: Path | str) -> list[Problem]:
    """What `promtool check rules` refuses in rule files (settings filled in): expressions that
    do not parse, bad templates, durations; the check prometheus-operator's webhook makes."""
    files = list(rule_files)
    if not files:
        return []
    with tempfile.TemporaryDirectory(prefix="paas-dash-") as tmp:
        checked: dict[str, str] = {}
        for index, rule_file in enumerate(files):
            path = Path(tmp) / f"{index}-{rule_file.path.name}"
            path.write_text(yaml.safe_dump({"groups": rule_file.groups}, sort_keys=False))
            checked[path.as_posix()] = str(rule_file.path)
        result = _check_rules(promtool, list(checked))
    if result.returncode == 0:
        return []
    problems = []
    for line in (result.stdout + result.stderr).splitlines():
        for checked_path, source in checked.items():
            if line.strip().startswith(checked_path + ":"):
                message = line.strip().removeprefix(checked_path + ":").strip()
                problems.append(Problem(source, message))
    output = (result.stderr or result.stdout).strip()
    return problems or [Problem(", ".join(checked.values()), output)]


_PROMTOOL_TIMEOUT = 60.0


def _check_rules(promtool: Path | str, paths: list[str]) -> subprocess.CompletedProcess[str]:
    # A wrong --promtool is the user's mistake: one DashboardError naming the path, not a
    # traceback from subprocess.
    try:
        return subprocess.run(
            [str(promtool), "check", "rules", *paths],
            capture_output=True,
            text=True,
            timeout=_PROMTOOL_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise DashboardError("promtool not found", where=str(promtool)) from None
    except PermissionError:
        raise DashboardError("promtool is not executable", where=str(promtool)) from None
    except subprocess.TimeoutExpired:
        raise DashboardError(
            f"promtool check rules did not finish within {_PROMTOOL_TIMEOUT:g} s",
            where=str(promtool),
        ) from None
    except OSError as error:
        raise DashboardError(
            f"cannot run promtool: {error.strerror}", where=str(promtool)
        ) from None
