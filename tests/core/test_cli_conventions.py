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
