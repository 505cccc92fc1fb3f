"""`paas-dash`: lint, render, sync and apply dashboards and alert rules (built-in or your own)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import click

from paas_sdk import __version__
from paas_sdk._cli import CONTEXT_SETTINGS, honour_no_color
from paas_sdk.errors import DashboardError, GrafanaError, KubernetesError

__all__ = ["main"]

DASHBOARDS_HELP = "Directory of dashboard modules and folders.yaml (default: the built-in ones)."
RULES_HELP = "Directory of Prometheus rule files (default: the built-in ones)."
# Where kube-prometheus-stack usually runs: apply's namespace when the context names none.
DEFAULT_NAMESPACE = "monitoring"
# A directory the user names must exist: read as "no rules", a typo would make `apply --prune`
# delete every PrometheusRule the catalog owns and `lint` pass on nothing.
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
# A zero or negative timeout is a usage error here, not a ValueError deep inside urllib3.
TIMEOUT = click.FloatRange(min=0, min_open=True)
PROMTOOL = click.Path(exists=True, dir_okay=False, path_type=Path)
PROMTOOL_MISSING = "promtool not found on PATH; rule expressions and queries not checked"


def _promtool(promtool: Path | None) -> Path | None:
    """The promtool to use (the one given, else PATH's), or None after saying on stderr that
    the check is skipped: stdout stays the command's result."""
    if promtool is not None:
        return promtool
    if found := shutil.which("promtool"):
        return Path(found)
    click.secho(f"warning: {PROMTOOL_MISSING}", fg="yellow", err=True)
    return None


def _dirs(dashboards: Path | None, rules: Path | None) -> tuple[Path, Path]:
    from paas_sdk.dash.catalog import builtin_alert_rules_dir, builtin_dashboards_dir

    return dashboards or builtin_dashboards_dir(), rules or builtin_alert_rules_dir()


def _fail(error: Exception, code: int) -> None:
    click.secho(f"error: {error}", fg="red", err=True)
    sys.exit(code)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="paas-dash")
def main() -> None:
    """Dashboards and alert rules as code: lint, render, sync, apply."""
    honour_no_color()


@main.command()
@click.option("--dashboards", type=EXISTING_DIR, help=DASHBOARDS_HELP)
@click.option("--rules", type=EXISTING_DIR, help=RULES_HELP)
@click.option(
    "--promtool",
    type=PROMTOOL,
    help="promtool to check queries parse (default: on PATH).",
)
def lint(dashboards: Path | None, rules: Path | None, promtool: Path | None) -> None:
    """Check dashboards (dashboard-linter rules) and alerts (mixin conventions); 1 on errors."""
    from paas_sdk.dash.catalog import load_dashboards, load_rule_files
    from paas_sdk.dash.lint import lint_dashboards, lint_rules, promql_problems

    dash_dir, rules_dir = _dirs(dashboards, rules)
    try:
        boards = load_dashboards(dash_dir)
        rule_files = load_rule_files(rules_dir) if rules_dir.is_dir() else []
        problems = lint_dashboards(boards) + lint_rules(rule_files)
        tool = _promtool(promtool)
        if tool is not None:
            problems += promql_problems(boards, tool)
    except DashboardError as error:
        _fail(error, 2)
    for problem in problems:
        click.secho(str(problem), fg="red" if problem.severity == "error" else "yellow")
    errors = sum(p.severity == "error" for p in problems)
    rules_count = sum(1 for f in rule_files for _ in f.rules())
    click.echo(
        f"lint: {len(boards)} dashboards, {rules_count} rules, "
        f"{errors} errors, {len(problems) - errors} warnings"
    )
    sys.exit(1 if errors else 0)


@main.command()
@click.option("--dashboards", type=EXISTING_DIR, help=DASHBOARDS_HELP)
@click.option("--rules", type=EXISTING_DIR, help=RULES_HELP)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output directory.")
@click.option(
    "--release",
    default="kube-prometheus-stack",
    show_default=True,
    help="`release` label on the PrometheusRule (kube-prometheus-stack's selector).",
)
@click.option("--namespace", default="monitoring", show_default=True)
@click.option("--provisioning-path", default="/var/lib/grafana/dashboards", show_default=True,
              help="Where Grafana finds the JSON files (file provisioning).")  # fmt: skip
@click.option("--runbook-url-base", help="Where runbook.md is served: every alert's runbook_url "
              "is this plus the alert's anchor.")  # fmt: skip
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="A rule setting (service_selector, ...); repeatable.")  # fmt: skip
def render(  # noqa: PLR0917 - click passes every option as an argument
    dashboards: Path | None, rules: Path | None, out: Path, release: str, namespace: str,
    provisioning_path: str, runbook_url_base: str | None, overrides: tuple[str, ...],
) -> None:  # fmt: skip
    """Write dashboard JSON, provisioning YAML, the objects apply applies (sidecar ConfigMaps,
    a PrometheusRule per rule file) with a kustomization, and the rule files with their promtool
    tests and runbook (settings filled in) under OUT/rules."""
    from paas_sdk.dash.catalog import load_dashboards, load_rule_files, rule_settings
    from paas_sdk.dash.render import RenderOptions, remove_stale
    from paas_sdk.dash.render import render as render_files

    dash_dir, rules_dir = _dirs(dashboards, rules)
    try:
        # The objects carry the owner as apply's do, so apply takes over what render deployed.
        owner = _require_owner(dash_dir, "render")
        settings = rule_settings(_settings(overrides, runbook_url_base))
        boards = load_dashboards(dash_dir)
        rule_files = load_rule_files(rules_dir, settings) if rules_dir.is_dir() else []
        written = render_files(
            boards,
            rule_files,
            out,
            RenderOptions(release, namespace, provisioning_path, owner, settings=settings),
        )
        removed = remove_stale(out, written)
    except DashboardError as error:
        _fail(error, 2)
    except OSError as error:
        _fail(
            DashboardError(f"cannot write: {error.strerror}", where=str(error.filename or out)), 1
        )
    stale = f", {len(removed)} no longer rendered removed" if removed else ""
    click.echo(f"render: {len(written)} files written under {out}{stale}")


def _require_owner(dash_dir: Path, command: str) -> str:
    from paas_sdk.dash.catalog import load_owner

    owner = load_owner(dash_dir)
    if owner is None:
        raise DashboardError(
            f"{command} needs the catalog's owner: add catalog.yaml with `owner: <team>` (the"
            " label that tells this catalog's objects from other teams')",
            where=str(dash_dir),
        )
    return owner


def _pairs(items: tuple[str, ...], option: str) -> dict[str, str]:
    """NAME=VALUE options as a mapping; anything else is a usage error naming the option."""
    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise DashboardError(f"{option} {item!r}: expected NAME=VALUE")
        pairs[name.strip()] = value
    return pairs


def _settings(overrides: tuple[str, ...], runbook_url_base: str | None) -> dict[str, str]:
    settings = _pairs(overrides, "--set")
    if runbook_url_base:
        settings["runbook_url_base"] = runbook_url_base.rstrip("/")
    return settings


@main.command()
@click.option("--dashboards", type=EXISTING_DIR, help=DASHBOARDS_HELP)
@click.option("--url", envvar="GRAFANA_URL", help="Grafana URL [env GRAFANA_URL].")
@click.option("--token", envvar="GRAFANA_TOKEN", help="Service account token [env GRAFANA_TOKEN].")
@click.option(
    "--dry-run", is_flag=True, help="Show a coloured diff of what would change; write nothing."
)
@click.option(
    "--prune",
    is_flag=True,
    help="Delete this catalog's dashboards (tagged with its owner) no longer in code.",
)
@click.option(
    "--overwrite-drift",
    is_flag=True,
    help="Replace edits made in Grafana since the last sync (default: show them, write nothing).",
)
@click.option(
    "--timeout", type=TIMEOUT, default=10.0, show_default=True, help="Seconds per Grafana request."
)
def sync(  # noqa: PLR0917 - click passes every option as an argument
    dashboards: Path | None, url: str | None, token: str | None, dry_run: bool, prune: bool,
    overwrite_drift: bool, timeout: float,
) -> None:  # fmt: skip
    """Push dashboards to Grafana: only those that changed, always into their folder.

    A dashboard edited in Grafana since the last sync, owned by another catalog, or provisioned
    from files is not written: sync shows why and exits 1.
    """
    from paas_sdk.dash.catalog import load_dashboards
    from paas_sdk.dash.sync import GrafanaTarget, Syncer, SyncReport

    if not url:
        _fail(DashboardError("no Grafana URL: set GRAFANA_URL or pass --url"), 2)
        return
    if not token:
        _fail(DashboardError("no Grafana token: set GRAFANA_TOKEN or pass --token"), 2)
        return
    dash_dir, _ = _dirs(dashboards, None)
    try:
        boards = load_dashboards(dash_dir)
    except DashboardError as error:
        _fail(error, 2)
    report = SyncReport()
    try:
        syncer = Syncer(GrafanaTarget.of(url, token, timeout), overwrite_drift=overwrite_drift)
        report = syncer.plan(boards, prune=prune)
        if dry_run:
            _show_plan(report)
            click.echo(
                f"dry run: {len(report.planned)} changes, {len(report.refused)} refused, "
                "nothing written"
            )
            return
        syncer.apply(report)
    except GrafanaError as error:
        _show_written(report)
        click.echo(f"written before the error: {report.writes}", err=True)
        _fail(error, 1)
    except DashboardError as error:
        _fail(error, 2)
    _show_written(report)
    for change, reason in report.not_written:
        click.secho(f"not written: {reason}", fg="red", err=True)
        _show_diff(change.diff if change.diff and change.diff[0].startswith("!") else [])
    click.echo(
        f"sync: {report.writes} written, {len(report.unchanged)} unchanged, "
        f"{len(report.not_written)} failed"
    )
    sys.exit(1 if report.not_written else 0)


@main.command()
@click.option("--dashboards", type=EXISTING_DIR, help=DASHBOARDS_HELP)
@click.option("--rules", type=EXISTING_DIR, help=RULES_HELP)
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig file [env KUBECONFIG; default ~/.kube/config].",
)
@click.option("--context", help="Kubeconfig context (default: its current context).")
@click.option(
    "--namespace",
    help=f"Namespace to apply to (default: the context's namespace, else {DEFAULT_NAMESPACE}).",
)
@click.option(
    "--release",
    default="kube-prometheus-stack",
    show_default=True,
    help="`release` label on PrometheusRules (kube-prometheus-stack's selector).",
)
@click.option("--dry-run", is_flag=True, help="Server dry run with a diff; write nothing.")
@click.option("--force", is_flag=True, help="Take over fields another field manager owns.")
@click.option("--prune", is_flag=True, help="Delete this catalog's objects no longer in code.")
@click.option(
    "--timeout", type=TIMEOUT, default=10.0, show_default=True, help="Seconds per API request."
)
@click.option(
    "--promtool",
    type=PROMTOOL,
    help="promtool to check rule expressions before sending (default: on PATH).",
)
@click.option("--runbook-url-base", help="Where runbook.md is served: every alert's runbook_url "
              "is this plus the alert's anchor.")  # fmt: skip
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="A rule setting (service_selector, ...); repeatable.")  # fmt: skip
def apply(  # noqa: PLR0917 - click passes every option as an argument
    dashboards: Path | None, rules: Path | None, kubeconfig: Path | None, context: str | None,
    namespace: str | None, release: str, dry_run: bool, force: bool, prune: bool, timeout: float,
    promtool: Path | None, runbook_url_base: str | None, overrides: tuple[str, ...],
) -> None:  # fmt: skip
    """Apply dashboards (sidecar ConfigMaps) and rules (PrometheusRules) by server-side apply.

    Objects carry the catalog's owner (catalog.yaml) as a label: an object another catalog owns
    is never overwritten, and --prune deletes only this catalog's."""
    from paas_sdk.dash.apply import Applier, ApplyOptions, ApplyReport, desired_objects
    from paas_sdk.dash.catalog import load_dashboards, load_rule_files, rule_settings
    from paas_sdk.dash.kube import KubeSession, context_namespace
    from paas_sdk.dash.lint import rule_syntax_problems

    dash_dir, rules_dir = _dirs(dashboards, rules)
    try:
        owner = _require_owner(dash_dir, "apply")
        # As kubectl: the context's namespace unless --namespace says otherwise.
        if namespace is None:
            namespace = context_namespace(kubeconfig, context) or DEFAULT_NAMESPACE
        options = ApplyOptions(namespace, owner, release, force=force)
        settings = rule_settings(_settings(overrides, runbook_url_base))
        boards = load_dashboards(dash_dir)
        rule_files = load_rule_files(rules_dir, settings) if rules_dir.is_dir() else []
        tool = _promtool(promtool)
        if tool is not None and (problems := rule_syntax_problems(rule_files, tool)):
            raise DashboardError(
                "rules promtool refuses (nothing was sent):\n  "
                + "\n  ".join(str(p) for p in problems),
                where=str(rules_dir),
            )
        objects = desired_objects(boards, rule_files, options)
    except KubernetesError as error:
        _fail(error, 1)
    except DashboardError as error:
        _fail(error, 2)
    report = ApplyReport()
    try:
        with KubeSession(kubeconfig, context, timeout) as session:
            applier = Applier(session, options)
            report = applier.plan(objects, prune=prune)
            if dry_run:
                _show_apply_plan(report)
                changes = len(report.planned) - report.count("unchanged")
                click.echo(
                    f"dry run (server): {changes} changes in namespace {options.namespace}, "
                    "nothing written"
                )
                return
            applier.apply(report)
    except KubernetesError as error:
        for change in report.written:
            click.echo(f"{change.ref} {change.action}d")
        _fail(error, 1)
    for change in report.planned:
        click.echo(f"{change.ref} {change.action}d" if change.action != "unchanged"
                   else f"{change.ref} unchanged")  # fmt: skip
    click.echo(
        f"apply: {report.count('create')} created, {report.count('configure')} configured, "
        f"{report.count('unchanged')} unchanged, {report.count('delete')} pruned "
        f"(namespace {options.namespace}, owner {options.owner})"
    )


def _show_apply_plan(report: object) -> None:
    from paas_sdk.dash.apply import ApplyReport

    assert isinstance(report, ApplyReport)
    for change in report.planned:
        if change.action == "unchanged":
            click.echo(f"{change.ref} unchanged")
            continue
        click.secho(f"would {change.action} {change.ref}", bold=True)
        _show_diff(change.diff)


def _show_written(report: object) -> None:
    from paas_sdk.dash.sync import SyncReport

    assert isinstance(report, SyncReport)
    for change in report.written:
        where = (
            f" (folder {change.folder_uid})"
            if change.folder_uid and change.action != "create-folder"
            else ""
        )
        click.echo(f"{change.action} {change.uid}{where}")


def _show_plan(report: object) -> None:
    from paas_sdk.dash.sync import SyncReport

    assert isinstance(report, SyncReport)
    for change in report.planned:
        click.secho(f"would {change.action} {change.uid} {change.title!r}", bold=True)
        _show_diff(change.diff)
    for change, reason in report.refused:
        click.secho(f"would not write: {reason}", fg="yellow", bold=True)
        _show_diff(change.diff)


def _show_diff(diff: list[str]) -> None:
    for line in diff:
        if line.startswith(("+++", "---")):
            click.secho(line, bold=True)
        elif line.startswith("+"):
            click.secho(line, fg="green")
        elif line.startswith("-"):
            click.secho(line, fg="red")
        elif line.startswith(("@@", "~")):
            click.secho(line, fg="cyan")
        elif line.startswith("!"):
            click.secho(line, fg="yellow")
        else:
            click.echo(line)


_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str, option: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not match or float(match[1]) <= 0:
        raise DashboardError(f"{option} {text!r}: expected a duration such as 30s, 15m, 6h or 1d")
    return float(match[1]) * _DURATION[match[2]]


@main.command()
@click.option("--dashboards", type=EXISTING_DIR, help=DASHBOARDS_HELP)
@click.option("--prometheus", envvar="PROMETHEUS_URL", required=True,
              help="Prometheus to query [env PROMETHEUS_URL].")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Directory for one PNG per dashboard and preview.json.")  # fmt: skip
@click.option("--range", "time_range", default="1h", show_default=True,
              help="Time range drawn, ending now (30m, 6h, 1d).")  # fmt: skip
@click.option("--scrape-interval", default="15s", show_default=True,
              help="Prometheus' scrape interval (for $__rate_interval).")  # fmt: skip
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="A dashboard variable's value (default: All); repeatable.")  # fmt: skip
@click.option(
    "--timeout", type=TIMEOUT, default=10.0, show_default=True, help="Seconds per Prometheus query."
)
def preview(  # noqa: PLR0917 - click passes every option as an argument
    dashboards: Path | None, prometheus: str, out: Path, time_range: str, scrape_interval: str,
    variables: tuple[str, ...], timeout: float,
) -> None:  # fmt: skip
    """Draw every dashboard as a PNG from live range queries, without a Grafana.

    Each panel shows its title, unit, legend and thresholds; a panel whose queries return
    nothing is marked "No data" and listed. Exit 1 when Prometheus cannot be queried.
    """
    from paas_sdk.dash.catalog import load_dashboards
    from paas_sdk.dash.preview import PreviewOptions
    from paas_sdk.dash.preview import preview as draw

    dash_dir, _ = _dirs(dashboards, None)
    try:
        values = _pairs(variables, "--var")
        options = PreviewOptions(
            prometheus,
            range_seconds=_seconds(time_range, "--range"),
            scrape_interval=_seconds(scrape_interval, "--scrape-interval"),
            variables=values,
            timeout=timeout,
        )
        boards = load_dashboards(dash_dir)
    except DashboardError as error:
        _fail(error, 2)
    try:
        results = draw(boards, out, options)
    except DashboardError as error:
        _fail(error, 1)
    except OSError as error:
        _fail(
            DashboardError(f"cannot write: {error.strerror}", where=str(error.filename or out)), 1
        )
    for result in results:
        panels = sum(p.kind != "row" for p in result.panels)
        empty = result.empty_panels
        note = f", no data: {', '.join(empty)}" if empty else ""
        click.echo(f"{result.path}: {panels} panels{note}")
    click.echo(f"preview: {len(results)} dashboards drawn under {out}")
