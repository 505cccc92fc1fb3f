"""Dashboards as code: deterministic managed uids, the standard variables, lint, bad modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from paas_sdk.dash.catalog import (
    builtin_alert_rules_dir,
    builtin_dashboards_dir,
    load_dashboards,
    load_rule_files,
)
from paas_sdk.dash.lint import lint_dashboards, promql_problems
from paas_sdk.dash.panels import MANAGED_PREFIX, managed_uid
from paas_sdk.errors import DashboardError
from paas_sdk.testing.servers import promtool

from .conftest import write_team_dir


@pytest.fixture(scope="module")
def boards() -> list:  # type: ignore[type-arg]
    return load_dashboards(builtin_dashboards_dir())


def test_the_built_in_dashboards_and_their_uids(boards: list) -> None:  # type: ignore[type-arg]
    assert [b.uid for b in boards] == [
        "paas-coredns", "paas-delivery", "paas-etcd", "paas-harbor", "paas-jenkins",
        "paas-kube-apiserver", "paas-log-pipeline", "paas-platform-overview",
        "paas-service-overview", "paas-spinnaker",
    ]  # fmt: skip
    again = load_dashboards(builtin_dashboards_dir())
    assert [b.model for b in again] == [b.model for b in boards]


def test_every_dashboard_has_datasource_job_and_instance_variables(boards: list) -> None:  # type: ignore[type-arg]
    for board in boards:
        variables = {v["name"]: v for v in board.model["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["job"]["allValue"] == ".+"
        assert "$job" in variables["instance"]["query"]


def test_panels_have_unique_stable_ids(boards: list) -> None:  # type: ignore[type-arg]
    for board in boards:
        ids = [p["id"] for p in board.model["panels"]]
        assert ids == list(range(1, len(ids) + 1))


def test_service_overview_shows_red_logs_config_and_registry(boards: list) -> None:  # type: ignore[type-arg]
    overview = next(b for b in boards if b.uid == "paas-service-overview")
    exprs = " ".join(t["expr"] for p in overview.model["panels"] for t in p.get("targets", []))
    for name in ("http_server_request_duration_seconds_bucket", "paas_log_records_dropped_total",
                 "paas_config_last_sync_timestamp_seconds", "paas_registry_connected"):  # fmt: skip
        assert name in exprs


def test_platform_overview_links_every_other_dashboard(boards: list) -> None:  # type: ignore[type-arg]
    overview = next(b for b in boards if b.uid == "paas-platform-overview")
    urls = {link.get("url") for link in overview.model["links"]}
    assert {f"/d/{b.uid}" for b in boards if b is not overview} <= urls


def test_built_in_dashboards_lint_without_errors(boards: list) -> None:  # type: ignore[type-arg]
    assert [str(p) for p in lint_dashboards(boards) if p.severity == "error"] == []
    assert promql_problems(boards, promtool()) == []


def test_lint_reports_a_query_that_does_not_parse(tmp_path: Path) -> None:
    directory = write_team_dir(tmp_path / "t", ["shop-orders"])
    module = directory / "shop_orders.py"
    module.write_text(module.read_text().replace("sum(rate(", "sum(rate(("))
    problems = promql_problems(load_dashboards(directory), promtool())
    assert [p.where for p in problems] == ["shop_orders.py: panel 'Orders'"]


def test_lint_names_what_a_panel_lacks(tmp_path: Path) -> None:
    directory = write_team_dir(tmp_path / "t", ["shop-orders"])
    module = directory / "shop_orders.py"
    text = module.read_text().replace('"Orders per second."', '""').replace('"reqps"', '"furlongs"')
    module.write_text(text.replace("[$__rate_interval]", "[5m]"))
    messages = [str(p) for p in lint_dashboards(load_dashboards(directory))]
    assert "error: shop_orders.py: panel 'Orders': panel has no description" in messages
    assert (
        "error: shop_orders.py: panel 'Orders': unit 'furlongs' is missing or unknown" in messages
    )
    assert (
        "error: shop_orders.py: panel 'Orders': rate() should use [$__rate_interval], not [5m]"
        in messages
    )


def test_managed_uid_is_prefixed_and_bounded() -> None:
    assert managed_uid("Shop Orders") == MANAGED_PREFIX + "shop-orders"
    with pytest.raises(ValueError, match="need 1-40 chars"):
        managed_uid("x" * 40)


def test_a_module_that_raises_is_named_with_its_line(tmp_path: Path) -> None:
    directory = write_team_dir(tmp_path / "t", ["shop-orders"])
    module = directory / "shop_orders.py"
    module.write_text(module.read_text().replace("def dashboard():", "def dashboard():\n    1 / 0"))
    with pytest.raises(DashboardError) as caught:
        load_dashboards(directory)
    assert str(caught.value) == f"{module}: raised ZeroDivisionError: division by zero (line 10)"


def test_a_duplicate_uid_names_both_modules(tmp_path: Path) -> None:
    directory = write_team_dir(tmp_path / "t", ["shop-orders"])
    (directory / "zz_copy.py").write_text((directory / "shop_orders.py").read_text())
    with pytest.raises(
        DashboardError, match=r"uid 'paas-shop-orders' is also used by shop_orders\.py"
    ):
        load_dashboards(directory)


def test_an_unknown_folder_lists_the_known_ones(tmp_path: Path) -> None:
    directory = write_team_dir(tmp_path / "t", ["shop-orders"])
    (directory / "folders.yaml").write_text("other: Other\n")
    with pytest.raises(
        DashboardError, match=r"FOLDER 'team-shop' is not declared in folders.yaml \(known: other\)"
    ):
        load_dashboards(directory)


def test_a_directory_without_folders_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(DashboardError, match=r"no folders\.yaml"):
        load_dashboards(tmp_path)


def test_lint_command_passes_on_the_built_in_code() -> None:
    from click.testing import CliRunner

    from paas_sdk.dash.cli import main

    result = CliRunner().invoke(main, ["lint", "--promtool", promtool()])
    assert result.exit_code == 0, result.output
    rules = sum(len(list(f.rules())) for f in load_rule_files(builtin_alert_rules_dir()))
    boards = load_dashboards(builtin_dashboards_dir())
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith(f"lint: {len(boards)} dashboards, {rules} rules, 0 errors")
    )


def test_lint_command_exits_1_on_a_problem_in_a_users_directory(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from paas_sdk.dash.cli import main

    directory = write_team_dir(tmp_path / "t", ["shop-orders"])
    module = directory / "shop_orders.py"
    module.write_text(module.read_text().replace('"Orders per second."', '""'))
    (no_rules := tmp_path / "no-rules").mkdir()
    args = ["lint", "--dashboards", str(directory), "--rules", str(no_rules)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "error: shop_orders.py: panel 'Orders': panel has no description" in result.output
    assert "lint: 1 dashboards, 0 rules, 1 errors" in result.output


def test_a_full_width_panel_after_a_half_width_one_starts_a_row_of_its_own(
    tmp_path: Path,
) -> None:
    directory = write_team_dir(tmp_path / "t", ["shop-orders"])
    module = directory / "shop_orders.py"
    module.write_text(
        module.read_text().replace(
            '"orders",\n                )\n            ],\n        )\n    )',
            '"orders",\n                )\n            ],\n        )\n    ).with_panel(\n'
            '        timeseries_panel("Wide", "All of it.", "reqps", [("up", "up")], width=24)\n'
            "    )",
        )
    )
    [board] = load_dashboards(directory)
    grids = [p["gridPos"] for p in board.model["panels"]]
    assert grids == [{"h": 8, "w": 12, "x": 0, "y": 0}, {"h": 8, "w": 24, "x": 0, "y": 8}]
