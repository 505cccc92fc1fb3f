"""Alert and recording rules: promtool accepts them and their unit tests pass; conventions hold."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from paas_sdk.dash.catalog import RuleFile, builtin_alert_rules_dir, load_rule_files
from paas_sdk.dash.lint import lint_rules
from paas_sdk.testing.servers import promtool

RULES = builtin_alert_rules_dir()


def _rendered(tmp_path: Path, *settings: str) -> Path:
    """The rule files as `paas-dash render` ships them: settings filled in, tests beside."""
    from click.testing import CliRunner

    from paas_sdk.dash.cli import main

    sets = [arg for item in settings for arg in ("--set", item)]
    result = CliRunner().invoke(main, ["render", "--out", str(tmp_path), *sets])
    assert result.exit_code == 0, result.output
    return tmp_path / "rules"


def test_promtool_check_rules_accepts_every_rule_file(tmp_path: Path) -> None:
    rendered = _rendered(tmp_path)
    files = sorted(str(p) for p in rendered.glob("*.yaml") if not p.stem.endswith("_test"))
    assert len(files) >= 2
    result = subprocess.run(
        [str(promtool()), "check", "rules", *files],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    rendered = _rendered(tmp_path)
    tests = sorted(str(p) for p in rendered.glob("*_test.yaml"))
    result = subprocess.run(
        [str(promtool()), "test", "rules", *tests],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=rendered,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def test_every_alert_has_a_silent_and_a_firing_case() -> None:
    alerts = {r["alert"] for f in load_rule_files(RULES) for r in f.rules() if "alert" in r}
    silent: set[str] = set()
    firing: set[str] = set()
    for test_file in RULES.glob("*_test.yaml"):
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            for check in case.get("alert_rule_test") or []:
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
                for alert in check["exp_alerts"]:
                    assert set(alert["exp_annotations"]) == {
                        "summary",
                        "description",
                        "runbook_url",
                    }
                    assert alert["exp_labels"]["severity"] in ("critical", "warning", "info")
    assert alerts == silent == firing


def test_the_issue_s_alerts_exist() -> None:
    alerts = {r["alert"] for f in load_rule_files(RULES) for r in f.rules() if "alert" in r}
    assert {
        "PaasServiceHighErrorRate", "PaasServiceHighLatency", "PaasLogRecordsDropped",
        "PaasConfigStale", "PaasRegistryRegistrationLost", "HarborUnhealthy",
        "HarborProjectQuotaNearlyFull", "HarborReplicationFailing", "JenkinsJobFailing",
        "JenkinsQueueStuck", "JenkinsNodesOffline", "SpinnakerPipelineFailing",
        "SpinnakerPipelineStuck", "PaasExporterTargetDown",
    } <= alerts  # fmt: skip


def test_built_in_rules_follow_the_mixin_conventions() -> None:
    assert [p for p in lint_rules(load_rule_files(RULES)) if p.severity == "error"] == []


def test_lint_names_each_convention_an_alert_breaks(tmp_path: Path) -> None:
    rule = {
        "alert": "bad_name",
        "expr": "up == 0",
        "labels": {"severity": "page"},
        "annotations": {"summary": "{{ $labels.job }} is down", "description": "Down."},
    }
    problems = lint_rules([RuleFile(tmp_path / "bad.yaml", [{"name": "g", "rules": [rule]}])])
    messages = "\n".join(str(p) for p in problems)
    assert "bad.yaml: bad_name: alert names are CamelCase" in messages
    assert "severity label must be one of critical, warning, info" in messages
    assert "summary: capitalised, ends with a period, no templating" in messages
    assert "description annotation must exist and use" in messages
    assert "missing runbook_url annotation" in messages


def test_every_runbook_url_points_at_a_runbook_section() -> None:
    sections = {
        line.removeprefix("## ").strip().lower()
        for line in (RULES / "runbook.md").read_text().splitlines()
        if line.startswith("## ")
    }
    for rule_file in load_rule_files(RULES):
        for rule in rule_file.rules():
            if "alert" in rule:
                url = rule["annotations"]["runbook_url"]
                assert url.endswith(f"runbook.md#{rule['alert'].lower()}")
                assert rule["alert"].lower() in sections


def test_selectors_and_the_runbook_base_are_settings_of_render(tmp_path: Path) -> None:
    rendered = _rendered(
        tmp_path, 'service_selector=namespace="shop"', "runbook_url_base=https://wiki.example/rb"
    )
    text = (rendered / "services.yaml").read_text()
    assert 'http_server_request_duration_seconds_count{namespace=\\"shop\\"}' in text or (
        'http_server_request_duration_seconds_count{namespace="shop"}' in text
    )
    assert "https://wiki.example/rb#paasservicehigherrorrate" in text
    assert "${" not in text
    assert (rendered / "runbook.md").is_file()


def test_an_unknown_setting_is_one_clear_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from paas_sdk.dash.cli import main

    result = CliRunner().invoke(main, ["render", "--out", str(tmp_path), "--set", "colour=red"])
    assert result.exit_code == 2
    assert "error: unknown rule setting 'colour' (known: coredns_selector, error_ratio_min" in (
        result.output
    )


def test_every_alert_has_a_runbook_section_with_what_an_on_call_needs() -> None:
    text = (RULES / "runbook.md").read_text()
    sections = dict((part.split("\n", 1)[0].strip(), part) for part in text.split("\n## ")[1:])
    for rule_file in load_rule_files(RULES):
        for rule in rule_file.rules():
            if "alert" not in rule:
                continue
            alert = rule["alert"]
            assert alert in sections, f"runbook.md has no section for {alert}"
            section = sections[alert]
            for part in ("**Meaning.**", "**Impact.**", "**Diagnosis.**", "**Mitigation.**"):
                assert part in section, f"{alert}: no {part}"
            assert "```promql" in section, f"{alert}: no PromQL to run"
            flat = " ".join(section.split())
            assert "Kibana: `" in flat or "paas-logs tail" in flat, f"{alert}: no log query"
            assert rule["annotations"]["runbook_url"].endswith(f"#{alert.lower()}")
