"""The three command lines keep the usual conventions: -h and --help, --version, NO_COLOR."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from paas_sdk import __version__
from paas_sdk.dash.cli import main as dash

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("program", "subcommand"),
    [("paas-exporter", None), ("paas-dash", "render"), ("paas-logs", "setup")],
)
def test_short_help_and_version(program: str, subcommand: str | None) -> None:
    for arguments in (["-h"], ["--help"], *([[subcommand, "-h"]] if subcommand else [])):
        result = subprocess.run(
            [str(BIN / program), *arguments], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, (arguments, result.stderr)
        assert result.stdout.startswith("Usage: "), arguments
    version = subprocess.run(
        [str(BIN / program), "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    assert version.stdout.strip() == f"{program}, version {__version__}"


def test_no_color_turns_the_colours_off() -> None:
    runner = CliRunner()
    arguments = ["sync", "--url", "http://127.0.0.1:9"]  # fails at once: no token
    coloured = runner.invoke(dash, arguments, env={"GRAFANA_TOKEN": ""}, color=True)
    plain = runner.invoke(dash, arguments, env={"GRAFANA_TOKEN": "", "NO_COLOR": "1"}, color=True)
    assert coloured.exit_code == plain.exit_code == 2
    assert "\x1b[" in coloured.output
    assert "\x1b[" not in plain.output
    assert plain.output == "error: no Grafana token: set GRAFANA_TOKEN or pass --token\n"


def test_an_unreachable_or_malformed_url_is_named_by_its_cause() -> None:
    runner = CliRunner()
    no_scheme = runner.invoke(dash, ["sync", "--url", "grafana", "--token", "t"])
    assert no_scheme.exit_code == 2
    assert no_scheme.output == (
        "error: grafana: not a Grafana URL: expected http(s)://host[:port]\n"
    )
    refused = runner.invoke(dash, ["sync", "--url", "http://127.0.0.1:1", "--token", "t"])
    assert refused.exit_code == 1
    assert "error: http://127.0.0.1:1: cannot reach Grafana: Connection refused\n" in refused.output


def test_logs_setup_dry_run_needs_no_server() -> None:
    result = subprocess.run(
        [str(BIN / "paas-logs"), "setup", "--es", "http://127.0.0.1:1", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"data_stream"' in result.stdout
    assert "not reachable (Connection refused)" in result.stderr
    assert "dry run: would install data-stream template 'paas-logs' for paas-logs*" in (
        result.stderr
    )


def test_render_removes_what_it_no_longer_renders_and_nothing_else(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    first = runner.invoke(dash, ["render", "--out", str(out)])
    assert first.exit_code == 0, first.output
    rendered = (out / ".paas-dash-rendered").read_text().splitlines()
    gone = next(name for name in rendered if name.startswith("configmaps/"))
    # as if the catalog had a dashboard more when the last render ran
    (out / "dashboards" / "old").mkdir()
    (out / "dashboards" / "old" / "retired.json").write_text("{}")
    listing = out / ".paas-dash-rendered"
    listing.write_text(listing.read_text() + "dashboards/old/retired.json\n")
    (out / "notes.txt").write_text("mine")
    second = runner.invoke(dash, ["render", "--out", str(out)])
    assert second.exit_code == 0, second.output
    assert second.output.endswith(", 1 no longer rendered removed\n")
    assert not (out / "dashboards" / "old").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / gone).is_file()


def test_the_simulators_print_their_logins_beside_their_urls() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "paas_sdk.testing.simulators", "--harbor-projects", "1",
         "--jenkins-jobs", "1", "--spinnaker-applications", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().split() for _ in range(3)]
    finally:
        process.terminate()
        process.wait(10)
    assert [line[0] for line in lines] == ["harbor", "jenkins", "spinnaker"]
    assert lines[0][2:] == ["user=admin", "password=Harbor12345"]
    assert lines[1][2:] == ["user=exporter", "password=api-token"]
    assert lines[2][2:] == ["(no", "credentials)"]
