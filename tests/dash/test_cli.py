"""`paas-dash` usage errors: one clear message, exit 2, no traceback, nothing done."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from paas_sdk.dash.cli import main


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["lint"], "--rules"),
        (["lint"], "--dashboards"),
        (["render", "--out", "OUT"], "--rules"),
        (["apply", "--prune"], "--rules"),
        (["apply", "--prune"], "--dashboards"),
    ],
)
def test_a_missing_directory_is_a_usage_error(
    tmp_path: Path, command: list[str], option: str
) -> None:
    # Read as "no rules", a typo would let `apply --prune` delete every PrometheusRule the
    # catalog owns, and `lint` report "0 rules, 0 errors".
    typo = tmp_path / "typo"
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    result = CliRunner().invoke(main, [*args, option, str(typo)])
    assert result.exit_code == 2, result.output
    assert str(typo) in result.output
    assert "does not exist" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
