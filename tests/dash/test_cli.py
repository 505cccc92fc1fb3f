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


def test_a_missing_promtool_is_a_usage_error(tmp_path: Path) -> None:
    for command in (["lint"], ["apply"]):
        result = CliRunner().invoke(main, [*command, "--promtool", str(tmp_path / "nope")])
        assert result.exit_code == 2, result.output
        assert str(tmp_path / "nope") in result.output
        assert "Traceback" not in result.output


def _script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


def test_a_promtool_that_cannot_run_is_one_error(tmp_path: Path) -> None:
    not_executable = _script(tmp_path / "promtool", "exit 0", mode=0o644)
    result = CliRunner().invoke(main, ["lint", "--promtool", str(not_executable)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"error: {not_executable}: promtool is not executable" in result.output


def test_a_promtool_that_hangs_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paas_sdk.dash import lint

    monkeypatch.setattr(lint, "_PROMTOOL_TIMEOUT", 0.5)
    hanging = _script(tmp_path / "promtool", "exec sleep 30")
    result = CliRunner().invoke(main, ["lint", "--promtool", str(hanging)])
    assert result.exit_code == 2, result.output
    assert "did not finish within 0.5 s" in result.output
    assert "Traceback" not in result.output


def test_lint_without_promtool_says_so_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["lint"])
    assert "promtool not found" in result.stderr
    assert "promtool" not in result.stdout


@pytest.mark.parametrize("command", ["sync", "apply", "preview"])
@pytest.mark.parametrize("timeout", ["0", "-1"])
def test_a_timeout_that_is_not_positive_is_a_usage_error(
    tmp_path: Path, command: str, timeout: str
) -> None:
    args = [command, "--timeout", timeout]
    if command == "sync":
        args += ["--url", "http://127.0.0.1:9", "--token", "t"]
    if command == "preview":
        args += ["--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "--timeout" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
