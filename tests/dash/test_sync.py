"""`paas-dash sync` against Grafana: the double, or a real one when PAAS_TEST_GRAFANA_URL is set."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from paas_sdk.dash.catalog import builtin_dashboards_dir, load_dashboards
from paas_sdk.dash.cli import main
from paas_sdk.dash.sync import GrafanaTarget, Syncer
from paas_sdk.errors import GrafanaError
from paas_sdk.testing.grafana import GrafanaDouble

from .conftest import Grafana, write_team_dir


def run_sync(grafana: Grafana, *args: str, token: str | None = None) -> Result:
    env = {"GRAFANA_URL": grafana.url, "GRAFANA_TOKEN": token or grafana.token}
    return CliRunner().invoke(main, ["sync", *args], env=env)


def test_first_sync_creates_folders_and_dashboards_second_writes_nothing(grafana: Grafana) -> None:
    first = run_sync(grafana)
    assert first.exit_code == 0, first.output
    assert "sync: 8 written, 0 unchanged, 0 failed" in first.output  # 2 folders + 6 dashboards
    assert "create paas-harbor (folder paas-delivery)" in first.output
    second = run_sync(grafana)
    assert second.exit_code == 0, second.output
    assert "sync: 0 written, 6 unchanged, 0 failed" in second.output
    if grafana.double is not None:
        assert grafana.double.writes == 8


def test_every_dashboard_lands_in_its_folder(grafana: Grafana) -> None:
    assert run_sync(grafana).exit_code == 0
    api = grafana.api()
    assert api.dashboard.get_dashboard("paas-jenkins")["meta"]["folderUid"] == "paas-delivery"
    assert api.dashboard.get_dashboard("paas-service-overview")["meta"]["folderUid"] == "paas"
    assert api.folder.get_folder("paas-delivery")["title"] == "PaaS delivery"


def test_a_dashboard_moved_to_the_root_is_moved_back(grafana: Grafana) -> None:
    assert run_sync(grafana).exit_code == 0
    api = grafana.api()
    stored = api.dashboard.get_dashboard("paas-harbor")["dashboard"]
    api.dashboard.update_dashboard({"dashboard": stored, "overwrite": False})  # no folderUid
    assert api.dashboard.get_dashboard("paas-harbor")["meta"].get("folderUid", "") == ""
    again = run_sync(grafana)
    assert "sync: 1 written, 5 unchanged, 0 failed" in again.output
    assert api.dashboard.get_dashboard("paas-harbor")["meta"]["folderUid"] == "paas-delivery"


def test_dry_run_shows_a_coloured_diff_and_writes_nothing(grafana: Grafana) -> None:
    assert run_sync(grafana).exit_code == 0
    api = grafana.api()
    stored = api.dashboard.get_dashboard("paas-jenkins")["dashboard"]
    api.dashboard.update_dashboard(
        {"dashboard": {**stored, "title": "Edited in the UI"}, "folderUid": "paas-delivery"}
    )
    version = api.dashboard.get_dashboard("paas-jenkins")["dashboard"]["version"]
    result = CliRunner().invoke(
        main, ["sync", "--dry-run", "--url", grafana.url, "--token", grafana.token], color=True
    )
    assert result.exit_code == 0, result.output
    assert "would update paas-jenkins" in result.output
    assert '\x1b[31m-  "title": "Edited in the UI",' in result.output
    assert '\x1b[32m+  "title": "PaaS / Jenkins",' in result.output
    assert "dry run: 1 changes, nothing written" in result.output
    assert api.dashboard.get_dashboard("paas-jenkins")["dashboard"]["version"] == version


def test_a_concurrent_edit_gets_a_412_that_is_explained_and_not_overwritten(
    grafana: Grafana,
) -> None:
    boards = load_dashboards(builtin_dashboards_dir())
    syncer = Syncer(GrafanaTarget.of(grafana.url, grafana.token))
    syncer.apply(syncer.plan(boards))
    api = grafana.api()
    stored = api.dashboard.get_dashboard("paas-harbor")["dashboard"]
    api.dashboard.update_dashboard(
        {"dashboard": {**stored, "title": "First edit"}, "folderUid": "paas-delivery"}
    )
    plan = syncer.plan(boards)
    # Someone saves again between the read and the write.
    stored = api.dashboard.get_dashboard("paas-harbor")["dashboard"]
    api.dashboard.update_dashboard(
        {"dashboard": {**stored, "title": "Second edit"}, "folderUid": "paas-delivery"}
    )
    report = syncer.apply(plan)
    assert report.writes == 0
    [(change, reason)] = report.failures
    assert change.uid == "paas-harbor"
    assert "changed in Grafana by someone else after it was read" in reason
    assert api.dashboard.get_dashboard("paas-harbor")["dashboard"]["title"] == "Second edit"
    # The next sync reads the new version and puts the code back.
    assert syncer.apply(syncer.plan(boards)).writes == 1
    assert api.dashboard.get_dashboard("paas-harbor")["dashboard"]["title"] == "PaaS / Harbor"


def test_the_cli_exits_1_and_explains_a_conflict(grafana: Grafana, team_dir: Path) -> None:
    api = grafana.api()
    assert run_sync(grafana, "--dashboards", str(team_dir)).exit_code == 0
    # A dashboard of the same title in the same folder, under another uid: Grafana refuses.
    write_team_dir(team_dir, ["shop-orders-2"])
    result = run_sync(grafana, "--dashboards", str(team_dir))
    assert result.exit_code == 1
    assert (
        "not written: paas-shop-orders-2: another dashboard titled 'Shop / Orders'" in result.output
    )
    assert [h["uid"] for h in api.search.search_dashboards(query="Shop", type_="dash-db")] == [
        "paas-shop-orders"
    ]


def test_prune_dry_run_deletes_nothing_and_prune_deletes_only_managed(
    grafana: Grafana, team_dir: Path
) -> None:
    write_team_dir(team_dir, ["shop-orders", "shop-old"])
    (team_dir / "shop_old.py").write_text(
        (team_dir / "shop_old.py").read_text().replace("Shop / Orders", "Shop / Old")
    )
    assert run_sync(grafana, "--dashboards", str(team_dir)).exit_code == 0
    api = grafana.api()
    # Somebody's own dashboard in the same folder, and the built-in ones elsewhere.
    api.dashboard.update_dashboard(
        {
            "dashboard": {"uid": "mine", "title": "Mine", "tags": ["paas-managed"]},
            "folderUid": "team-shop",
        }
    )
    api.dashboard.update_dashboard(
        {"dashboard": {"uid": "paas-hand-made", "title": "Hand made"}, "folderUid": "team-shop"}
    )
    assert run_sync(grafana).exit_code == 0
    (team_dir / "shop_old.py").unlink()

    dry = run_sync(grafana, "--dashboards", str(team_dir), "--prune", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete paas-shop-old 'Shop / Old'" in dry.output
    assert api.dashboard.get_dashboard("paas-shop-old")["dashboard"]["uid"] == "paas-shop-old"

    real = run_sync(grafana, "--dashboards", str(team_dir), "--prune")
    assert real.exit_code == 0, real.output
    assert "delete paas-shop-old" in real.output
    uids = {h["uid"] for h in api.search.search_dashboards(type_="dash-db")}
    assert "paas-shop-old" not in uids
    assert {"mine", "paas-hand-made", "paas-shop-orders", "paas-harbor"} <= uids


def test_a_users_directory_syncs_into_its_own_folder(grafana: Grafana, team_dir: Path) -> None:
    result = run_sync(grafana, "--dashboards", str(team_dir))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        "create-folder team-shop",
        "create paas-shop-orders (folder team-shop)",
    ]
    assert (
        grafana.api().dashboard.get_dashboard("paas-shop-orders")["meta"]["folderUid"]
        == "team-shop"
    )


def test_a_refused_token_is_one_message_without_the_token(grafana: Grafana) -> None:
    result = run_sync(grafana, token="wrong-token-value")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: {grafana.url}: 401 unauthorized: the token (GRAFANA_TOKEN or --token) was refused"
    )
    assert "wrong-token-value" not in result.output
    assert grafana.token not in result.output


def test_an_unreachable_grafana_is_one_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"GRAFANA_URL": f"http://127.0.0.1:{port}", "GRAFANA_TOKEN": "t"}
    result = CliRunner().invoke(main, ["sync", "--timeout", "2"], env=env)
    assert result.exit_code == 1
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith(f"error: http://127.0.0.1:{port}: cannot reach Grafana")
    )
    assert "Traceback" not in result.output


def test_missing_url_or_token_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["sync"], env={"GRAFANA_URL": "", "GRAFANA_TOKEN": ""})
    assert result.exit_code == 2
    assert "error: no Grafana URL: set GRAFANA_URL or pass --url" in result.output


def test_a_module_that_raises_stops_before_anything_is_written(
    grafana: Grafana, team_dir: Path
) -> None:
    module = team_dir / "shop_orders.py"
    module.write_text(
        module.read_text().replace("def dashboard():", "def dashboard():\n    raise KeyError('x')")
    )
    result = run_sync(grafana, "--dashboards", str(team_dir))
    assert result.exit_code == 2
    assert f"error: {module}: raised KeyError: 'x'" in result.output
    assert grafana.api().search.search_dashboards(type_="dash-db") == []


def test_the_stale_id_answer_is_the_documented_400(grafana: Grafana) -> None:
    api = grafana.api()
    first = api.dashboard.update_dashboard({"dashboard": {"uid": "paas-a", "title": "A"}})
    api.dashboard.update_dashboard({"dashboard": {"uid": "paas-b", "title": "B"}})
    from grafana_client.client import GrafanaBadInputError

    with pytest.raises(GrafanaBadInputError) as caught:
        api.dashboard.update_dashboard(
            {"dashboard": {"id": first["id"], "uid": "paas-b", "title": "B"}}
        )
    assert caught.value.response["message"] == "A dashboard with the same uid already exists"


def test_versions_start_at_1_and_grow_by_one(grafana: Grafana) -> None:
    api = grafana.api()
    created = api.dashboard.update_dashboard({"dashboard": {"uid": "paas-v", "title": "V"}})
    assert created["version"] == 1
    assert created["url"] == "/d/paas-v/v"
    updated = api.dashboard.update_dashboard(
        {"dashboard": {"uid": "paas-v", "title": "V", "version": 1}}
    )
    assert updated["version"] == 2


def test_grafana_error_carries_no_secret() -> None:
    target = GrafanaTarget.of("http://127.0.0.1:1/", "very-secret")
    assert target.url == "http://127.0.0.1:1"
    assert "very-secret" not in repr(target)
    assert "very-secret" not in str(target)
    assert issubclass(GrafanaError, Exception)


def test_a_grafana_failing_mid_sync_reports_exactly_what_was_written() -> None:
    # Only the double can be made to fall over on cue, so this one always runs against it.
    with GrafanaDouble(token="t") as double:
        grafana = Grafana(double.url, double.token, double)
        double.fail_writes_after = 3
        result = run_sync(grafana)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert lines[:3] == [
            "create-folder paas-delivery",
            "create-folder paas",
            "create paas-harbor (folder paas-delivery)",
        ]
        assert "written before the error: 3" in lines
        assert lines[-1] == f"error: {double.url}: saving paas-jenkins: server error 500"
        hits = grafana.api().search.search_dashboards(type_="dash-db")
        assert [h["uid"] for h in hits] == ["paas-harbor"]


def test_a_provisioned_dashboard_is_refused_and_explained() -> None:
    with GrafanaDouble(token="t") as double:
        double.provision("paas-harbor", "Harbor from files", folder_uid="")
        result = run_sync(Grafana(double.url, double.token, double))
        assert result.exit_code == 1
        assert (
            "not written: paas-harbor: Grafana refused the dashboard: "
            "Cannot save provisioned dashboard; not written." in result.output
        )
        assert "sync: 7 written, 0 unchanged, 1 failed" in result.output
        assert double.dashboard("paas-harbor")["title"] == "Harbor from files"  # type: ignore[index]


def test_every_command_has_help() -> None:
    for command in ([], ["lint"], ["render"], ["sync"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage: " in result.output
    sync_help = CliRunner().invoke(main, ["sync", "--help"]).output
    assert "--dry-run" in sync_help
    assert "GRAFANA_TOKEN" in sync_help


def test_dry_run_on_an_empty_grafana_lists_creations_and_writes_nothing(grafana: Grafana) -> None:
    result = run_sync(grafana, "--dry-run", "--prune")
    assert result.exit_code == 0, result.output
    assert "would create-folder paas-delivery 'PaaS delivery'" in result.output
    assert "would create paas-harbor 'PaaS / Harbor'" in result.output
    assert "+ new dashboard in folder paas-delivery (18 panels)" in result.output
    assert "dry run: 8 changes, nothing written" in result.output
    api = grafana.api()
    assert api.search.search_dashboards(type_="dash-db") == []
    assert [f for f in api.folder.get_all_folders() if f["uid"].startswith("paas")] == []
