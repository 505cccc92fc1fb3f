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

# The built-in catalog grows; counts are derived from it: its dashboards (sorted by uid) and the
# folders they go into, in the order sync creates them.
BOARDS = load_dashboards(builtin_dashboards_dir())
BUILTIN = [d.uid for d in BOARDS]
FOLDERS = list(dict.fromkeys(d.folder.uid for d in BOARDS))
N = len(BUILTIN)
F = len(FOLDERS)


def run_sync(grafana: Grafana, *args: str, token: str | None = None) -> Result:
    env = {"GRAFANA_URL": grafana.url, "GRAFANA_TOKEN": token or grafana.token}
    return CliRunner().invoke(main, ["sync", *args], env=env)


def test_first_sync_creates_folders_and_dashboards_second_writes_nothing(grafana: Grafana) -> None:
    first = run_sync(grafana)
    assert first.exit_code == 0, first.output
    assert f"sync: {N + F} written, 0 unchanged, 0 failed" in first.output  # 2 folders
    assert "create paas-harbor (folder paas-delivery)" in first.output
    second = run_sync(grafana)
    assert second.exit_code == 0, second.output
    assert f"sync: 0 written, {N} unchanged, 0 failed" in second.output
    if grafana.double is not None:
        assert grafana.double.writes == N + F


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
    assert f"sync: 1 written, {N - 1} unchanged, 0 failed" in again.output
    assert api.dashboard.get_dashboard("paas-harbor")["meta"]["folderUid"] == "paas-delivery"


def test_dry_run_shows_a_coloured_diff_and_writes_nothing(grafana: Grafana, team_dir: Path) -> None:
    assert run_sync(grafana, "--dashboards", str(team_dir)).exit_code == 0
    module = team_dir / "shop_orders.py"
    module.write_text(module.read_text().replace('"Shop / Orders"', '"Shop / All orders"'))
    api = grafana.api()
    version = api.dashboard.get_dashboard("paas-shop-orders")["dashboard"]["version"]
    result = CliRunner().invoke(
        main,
        ["sync", "--dry-run", "--dashboards", str(team_dir), "--url", grafana.url,
         "--token", grafana.token],
        color=True,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "would update paas-shop-orders" in result.output
    assert '\x1b[31m-  "title": "Shop / Orders",' in result.output
    assert '\x1b[32m+  "title": "Shop / All orders",' in result.output
    assert "dry run: 1 changes, 0 refused, nothing written" in result.output
    assert api.dashboard.get_dashboard("paas-shop-orders")["dashboard"]["version"] == version


def _edit_elsewhere(grafana: Grafana, uid: str, message: str, **changes: str) -> None:
    """Someone saves the dashboard outside paas-dash: in the UI on the double, through the API
    (as another tool would) on a real Grafana."""
    if grafana.double is not None:
        grafana.double.edit(uid, message=message, **changes)
        return
    api = grafana.api()
    found = api.dashboard.get_dashboard(uid)
    api.dashboard.update_dashboard(
        {"dashboard": {**found["dashboard"], **changes}, "message": message,
         "folderUid": found["meta"]["folderUid"]}
    )  # fmt: skip


def test_an_edit_made_in_grafana_since_the_last_sync_is_shown_and_kept(grafana: Grafana) -> None:
    assert run_sync(grafana).exit_code == 0
    _edit_elsewhere(grafana, "paas-jenkins", "wider panels", title="Jenkins (edited)")
    api = grafana.api()
    result = run_sync(grafana)
    assert result.exit_code == 1
    assert "not written: paas-jenkins: edited in Grafana since the last sync (version 2 by" in (
        result.output
    )
    assert "'wider panels'" in result.output
    assert "--overwrite-drift" in result.output
    # The diff says what the edit changed since the version sync saved.
    assert '-  "title": "PaaS / Jenkins",' in result.output
    assert '+  "title": "Jenkins (edited)",' in result.output
    assert f"sync: 0 written, {N - 1} unchanged, 1 failed" in result.output
    assert api.dashboard.get_dashboard("paas-jenkins")["dashboard"]["title"] == "Jenkins (edited)"
    dry = run_sync(grafana, "--dry-run")
    assert "would not write: paas-jenkins: edited in Grafana" in dry.output

    forced = run_sync(grafana, "--overwrite-drift")
    assert forced.exit_code == 0, forced.output
    assert f"sync: 1 written, {N - 1} unchanged, 0 failed" in forced.output
    assert api.dashboard.get_dashboard("paas-jenkins")["dashboard"]["title"] == "PaaS / Jenkins"
    again = run_sync(grafana)
    assert f"sync: 0 written, {N} unchanged, 0 failed" in again.output


def test_a_dashboard_created_by_hand_under_a_catalog_uid_is_drift(grafana: Grafana) -> None:
    api = grafana.api()
    api.dashboard.update_dashboard({"dashboard": {"uid": "paas-harbor", "title": "By hand"}})
    result = run_sync(grafana)
    assert result.exit_code == 1
    assert "no version in the kept history was saved by paas-dash sync" in result.output
    assert api.dashboard.get_dashboard("paas-harbor")["dashboard"]["title"] == "By hand"


def test_a_concurrent_edit_gets_a_412_that_is_explained_and_not_overwritten(
    grafana: Grafana,
) -> None:
    boards = load_dashboards(builtin_dashboards_dir())
    syncer = Syncer(GrafanaTarget.of(grafana.url, grafana.token), overwrite_drift=True)
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


def test_grafana_target_carries_no_secret() -> None:
    target = GrafanaTarget.of("http://127.0.0.1:1/", "very-secret")
    assert target.url == "http://127.0.0.1:1"
    assert "very-secret" not in repr(target)
    assert "very-secret" not in str(target)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_grafana_errors_carry_no_secret() -> None:
    secret = "very-secret-but-wrong"
    with GrafanaDouble(token="the-right-token") as double:
        refused = Grafana(double.url, double.token, double)
        for url in (double.url, _closed_port_url()):  # a 401, then nobody listening
            syncer = Syncer(GrafanaTarget.of(url, secret, timeout=2))
            with pytest.raises(GrafanaError) as caught:
                syncer.plan(BOARDS)
            assert secret not in str(caught.value)
            assert secret not in repr(caught.value)
            result = CliRunner().invoke(
                main, ["sync", "--timeout", "2"], env={"GRAFANA_URL": url, "GRAFANA_TOKEN": secret}
            )
            assert result.exit_code == 1, result.output
            assert "error:" in result.output
            assert secret not in result.output
        assert refused.double is not None
        assert refused.double.writes == 0


def test_a_grafana_failing_mid_sync_reports_exactly_what_was_written() -> None:
    # Only the double can be made to fall over on cue, so this one always runs against it.
    with GrafanaDouble(token="t") as double:
        grafana = Grafana(double.url, double.token, double)
        double.fail_writes_after = F + 1
        result = run_sync(grafana)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert lines[: F + 1] == [
            *(f"create-folder {folder}" for folder in FOLDERS),
            f"create {BOARDS[0].uid} (folder {BOARDS[0].folder.uid})",
        ]
        assert f"written before the error: {F + 1}" in lines
        assert lines[-1] == f"error: {double.url}: saving {BUILTIN[1]}: server error 500"
        hits = grafana.api().search.search_dashboards(type_="dash-db")
        assert [h["uid"] for h in hits] == [BUILTIN[0]]


def test_a_provisioned_dashboard_is_refused_and_explained() -> None:
    with GrafanaDouble(token="t") as double:
        double.provision("paas-harbor", "Harbor from files", path="harbor.json")
        result = run_sync(Grafana(double.url, double.token, double))
        assert result.exit_code == 1
        assert (
            "not written: paas-harbor: provisioned from harbor.json; Grafana refuses API saves"
            in result.output
        )
        assert f"sync: {N - 1 + F} written, 0 unchanged, 1 failed" in result.output
        assert double.dashboard("paas-harbor")["title"] == "Harbor from files"  # type: ignore[index]


def test_dry_run_warns_about_a_provisioned_dashboard_instead_of_planning_an_update() -> None:
    with GrafanaDouble(token="t") as double:
        double.provision("paas-harbor", "Harbor from files", path="paas/harbor.json")
        result = run_sync(Grafana(double.url, double.token, double), "--dry-run")
        assert result.exit_code == 0, result.output
        assert "would update paas-harbor" not in result.output
        assert "would not write: paas-harbor: provisioned from paas/harbor.json" in result.output
        assert f"dry run: {N - 1 + F} changes, 1 refused, nothing written" in result.output


def test_a_provisioned_dashboard_that_allows_ui_updates_is_synced() -> None:
    # allowUiUpdates: Grafana accepts API saves (the file wins again at its next reload).
    with GrafanaDouble(token="t") as double:
        double.provision("paas-harbor", "Harbor from files", allow_ui_updates=True)
        grafana = Grafana(double.url, double.token, double)
        assert "not written: paas-harbor: edited in Grafana" in run_sync(grafana).output
        result = run_sync(grafana, "--overwrite-drift")
        assert result.exit_code == 0, result.output
        assert double.dashboard("paas-harbor")["title"] == "PaaS / Harbor"  # type: ignore[index]


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
    assert f"dry run: {N + F} changes, 0 refused, nothing written" in result.output
    api = grafana.api()
    assert api.search.search_dashboards(type_="dash-db") == []
    assert [f for f in api.folder.get_all_folders() if f["uid"].startswith("paas")] == []


def test_prune_from_a_team_catalog_never_deletes_another_catalogs_dashboards(
    grafana: Grafana, tmp_path: Path
) -> None:
    # Two teams and the built-in catalog share the folder `paas`.
    shop = write_team_dir(
        tmp_path / "shop", ["shop-orders", "shop-old"], "paas", folder_title="PaaS"
    )
    billing = write_team_dir(tmp_path / "billing", ["billing"], "paas", owner="billing",
                             folder_title="PaaS")  # fmt: skip
    (shop / "shop_old.py").write_text(
        (shop / "shop_old.py").read_text().replace("Shop / Orders", "Shop / Old")
    )
    (billing / "billing.py").write_text(
        (billing / "billing.py").read_text().replace("Shop / Orders", "Billing")
    )
    for directory in (None, shop, billing):
        args = ("--dashboards", str(directory)) if directory else ()
        assert run_sync(grafana, *args).exit_code == 0
    (shop / "shop_old.py").unlink()
    result = run_sync(grafana, "--dashboards", str(shop), "--prune")
    assert result.exit_code == 0, result.output
    assert "delete paas-shop-old" in result.output
    assert "sync: 1 written, 1 unchanged, 0 failed" in result.output
    uids = {h["uid"] for h in grafana.api().search.search_dashboards(type_="dash-db")}
    assert "paas-shop-old" not in uids
    assert {"paas-billing", "paas-service-overview", "paas-platform-overview"} <= uids


def test_a_uid_another_catalog_owns_is_not_overwritten(grafana: Grafana, tmp_path: Path) -> None:
    assert run_sync(grafana).exit_code == 0
    team = write_team_dir(tmp_path / "team", ["harbor"])  # uid paas-harbor, like the built-in
    result = run_sync(grafana, "--dashboards", str(team))
    assert result.exit_code == 1
    assert (
        "not written: paas-harbor: owned by catalog 'paas-sdk', not 'shop'; not written."
        in result.output
    )
    assert grafana.api().dashboard.get_dashboard("paas-harbor")["dashboard"]["title"] == (
        "PaaS / Harbor"
    )


def test_a_catalog_without_an_owner_is_refused_before_anything_is_written(
    grafana: Grafana, team_dir: Path
) -> None:
    (team_dir / "catalog.yaml").unlink()
    result = run_sync(grafana, "--dashboards", str(team_dir))
    assert result.exit_code == 2
    assert f"error: {team_dir}: sync needs the catalog's owner: add catalog.yaml" in result.output
    assert grafana.api().search.search_dashboards(type_="dash-db") == []


def test_a_folder_title_changed_in_folders_yaml_is_applied(
    grafana: Grafana, team_dir: Path
) -> None:
    assert run_sync(grafana, "--dashboards", str(team_dir)).exit_code == 0
    write_team_dir(team_dir, ["shop-orders"], folder_title="Shop")
    dry = run_sync(grafana, "--dashboards", str(team_dir), "--dry-run")
    assert "would update-folder team-shop 'Shop'" in dry.output
    assert "~ title 'Shop team' -> 'Shop'" in dry.output
    assert "dry run: 1 changes, 0 refused, nothing written" in dry.output
    result = run_sync(grafana, "--dashboards", str(team_dir))
    assert result.exit_code == 0, result.output
    assert "sync: 1 written, 1 unchanged, 0 failed" in result.output
    assert grafana.api().folder.get_folder("team-shop")["title"] == "Shop"


def test_a_folder_title_clash_is_named_and_nothing_is_miscounted(team_dir: Path) -> None:
    # Grafana before 11.3 wants folder titles unique: the double plays 11.2.
    with GrafanaDouble(token="t", version="11.2.0") as double:
        grafana = Grafana(double.url, double.token, double)
        grafana.api().folder.create_folder("Shop team", uid="shop-legacy")
        result = run_sync(grafana, "--dashboards", str(team_dir))
        assert result.exit_code == 1
        assert (
            "not written: folder team-shop: its title 'Shop team' is taken by folder shop-legacy"
            in result.output
        )
        assert (
            "not written: paas-shop-orders: its folder team-shop could not be created"
            in result.output
        )
        assert "folder not found" not in result.output
        assert "sync: 0 written, 0 unchanged, 2 failed" in result.output
        assert double.writes == 1  # the test's own folder


def test_a_folder_created_meanwhile_is_read_back_and_not_counted(
    grafana: Grafana, team_dir: Path
) -> None:
    syncer = Syncer(GrafanaTarget.of(grafana.url, grafana.token))
    plan = syncer.plan(load_dashboards(team_dir))
    grafana.api().folder.create_folder("Shop team", uid="team-shop")
    report = syncer.apply(plan)
    assert [c.action for c in report.written] == ["create"]
    assert report.unchanged == ["team-shop"]
    assert report.failures == []


def test_the_double_keeps_version_history_as_grafana_answers_it() -> None:
    for version, shape in (("11.4.0", list), ("11.6.0", dict)):
        with GrafanaDouble(token="t", version=version) as double:
            api = Grafana(double.url, "t", double).api()
            api.dashboard.update_dashboard(
                {"dashboard": {"uid": "paas-v", "title": "V"}, "message": "first"}
            )
            double.edit("paas-v", title="V2")
            answer = api.dashboard_versions.get_dashboard_versions_by_uid("paas-v")
            assert isinstance(answer, shape)
            rows = answer["versions"] if isinstance(answer, dict) else answer
            assert [(r["version"], r["message"], r["createdBy"]) for r in rows] == [
                (2, "", "admin"),
                (1, "Initial save", "sa-paas-dash"),
            ]
            assert rows[0]["data"]["title"] == "V2"
            first = api.dashboard_versions.get_dashboard_version_by_uid("paas-v", 1)
            assert first["message"] == "first"


def test_the_double_refuses_to_delete_a_provisioned_dashboard() -> None:
    with GrafanaDouble(token="t") as double:
        double.provision("paas-p", "P")
        from grafana_client.client import GrafanaBadInputError

        with pytest.raises(GrafanaBadInputError) as caught:
            Grafana(double.url, "t", double).api().dashboard.delete_dashboard("paas-p")
        assert caught.value.response["message"] == "provisioned dashboard cannot be deleted"


PLAIN_MODULE = """
FOLDER = "team-shop"


def dashboard():
    return {"uid": "shop-plain", "title": "Shop / Plain", "panels": []}
"""


def test_prune_deletes_a_catalogs_dashboard_not_built_with_the_helpers(
    grafana: Grafana, team_dir: Path
) -> None:
    # Load tags every dashboard with its catalog's owner, and that tag alone decides ownership:
    # a dashboard written as a plain dict (no paas-managed tag) is pruned like any other.
    (team_dir / "plain.py").write_text(PLAIN_MODULE)
    assert run_sync(grafana, "--dashboards", str(team_dir)).exit_code == 0
    api = grafana.api()
    assert api.dashboard.get_dashboard("shop-plain")["dashboard"]["uid"] == "shop-plain"
    (team_dir / "plain.py").unlink()
    result = run_sync(grafana, "--dashboards", str(team_dir), "--prune")
    assert result.exit_code == 0, result.output
    assert "delete shop-plain" in result.output
    uids = {h["uid"] for h in api.search.search_dashboards(type_="dash-db")}
    assert "shop-plain" not in uids
    assert "paas-shop-orders" in uids
