"""The config file and the `paas-exporter` command: clear errors and exit code 2 on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from paas_exporter.cli import main
from paas_exporter.config import HarborTarget, JenkinsTarget, SpinnakerTarget, load_config

from paas_sdk.errors import ExporterConfigError

EXAMPLE = Path(__file__).parents[2] / "exporter" / "example-config.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    return path


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HARBOR_PASSWORD", "JENKINS_API_TOKEN", "SPINNAKER_TOKEN", "GITLAB_TOKEN"):
        monkeypatch.setenv(name, "s3cret")
    config = load_config(EXAMPLE)
    kinds = [type(t) for t in config.targets]
    assert kinds == [HarborTarget, JenkinsTarget, SpinnakerTarget]
    assert config.delivery is not None
    assert [g.kind for g in config.delivery.git] == ["gitlab"]
    assert config.targets[1].filters.matcher()("platform/api")
    assert not config.targets[1].filters.matcher()("sandbox/api")


def test_each_invalid_field_is_named_with_what_was_expected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
targets:
  - {name: h, kind: harbour, url: http://h}
  - {name: j, kind: jenkins, url: "ftp://j", interval: -1, colour: red}
  - {name: s, kind: spinnaker, url: http://s, filters: {include: ["("]}}
""",
    )
    with pytest.raises(ExporterConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid config")
    assert "targets[0]: expected kind harbor, jenkins or spinnaker, got 'harbour'" in message
    assert "targets[1].url: expected an http:// or https:// URL, got 'ftp://j'" in message
    assert "targets[1].interval: expected greater than 0, got -1" in message
    assert "targets[1].colour: unknown field" in message
    assert "targets[2].filters.include: a regular expression, got '('" in message


def test_a_missing_secret_variable_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE_PASSWORD", raising=False)
    path = write(
        tmp_path,
        """
targets:
  - name: h
    kind: harbor
    url: https://h
    auth: {username: admin, password_env: NOPE_PASSWORD}
""",
    )
    with pytest.raises(
        ExporterConfigError,
        match=r"targets\[0\]\.auth\.password_env: environment variable NOPE_PASSWORD is not set",
    ):
        load_config(path)


def test_duplicate_target_names_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "targets:\n  - {name: a, kind: jenkins, url: http://j}\n"
        "  - {name: a, kind: harbor, url: http://h}\n",
    )
    with pytest.raises(ExporterConfigError, match="'a' repeats"):
        load_config(path)


def test_cli_exits_2_with_one_message_on_bad_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "targets:\n  - name: [unclosed\n")
    result = CliRunner().invoke(main, ["--config", str(path), "--check"])
    assert result.exit_code == 2
    assert f"{path}: not valid YAML at line" in result.output
    assert "Traceback" not in result.output


def test_cli_check_accepts_a_valid_config(tmp_path: Path) -> None:
    path = write(tmp_path, "targets:\n  - {name: j, kind: jenkins, url: http://j}\n")
    result = CliRunner().invoke(main, ["--config", str(path), "--check"])
    assert result.exit_code == 0
    assert "ok, 1 target(s)" in result.output


def test_installed_command_exits_2_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "targets: []\n")
    command = Path(sys.executable).parent / "paas-exporter"
    result = subprocess.run(
        [str(command), "--config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "targets: expected at least one entry" in result.stderr
    assert "Traceback" not in result.stderr


def test_once_polls_every_target_and_prints_the_exposition(tmp_path: Path) -> None:
    from paas_sdk.testing.simulators import JenkinsSimulator

    with JenkinsSimulator(jobs=5, credentials=None) as jenkins:
        path = write(tmp_path, f"targets:\n  - {{name: ci, kind: jenkins, url: '{jenkins.url}'}}\n")
        command = Path(sys.executable).parent / "paas-exporter"
        result = subprocess.run(
            [str(command), "--config", str(path), "--once"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert 'paas_exporter_target_up{target="ci",kind="jenkins"} 1' in result.stdout
    assert result.stdout.count("jenkins_job_last_build_number{") == sum(
        1 for job in jenkins.state.iter_jobs() if job["lastBuild"] is not None
    )


def test_check_reports_every_missing_secret_and_file_at_once(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """
targets:
  - name: harbor
    kind: harbor
    url: https://harbor.example.com
    auth: {username: admin, password_file: /nonexistent/harbor-password}
  - name: spinnaker
    kind: spinnaker
    url: https://gate.example.com
    auth: {token_env: PAAS_TEST_NO_SUCH_TOKEN}
    tls: {cert_file: /nonexistent/client.crt, key_file: /nonexistent/client.key}
""",
    )
    result = CliRunner().invoke(main, ["--config", str(config), "--check"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"paas-exporter: {config}: 4 problems:",
        "  targets[0].auth.password_file: cannot read /nonexistent/harbor-password: "
        "No such file or directory",
        "  targets[1].auth.token_env: environment variable PAAS_TEST_NO_SUCH_TOKEN is not set",
        "  targets[1].tls.cert_file: cannot read /nonexistent/client.crt: "
        "No such file or directory",
        "  targets[1].tls.key_file: cannot read /nonexistent/client.key: No such file or directory",
    ]


def test_a_port_in_use_exits_2_with_one_message(tmp_path: Path) -> None:
    import socket

    path = write(tmp_path, "targets:\n  - {name: j, kind: jenkins, url: 'http://127.0.0.1:9'}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
        )
    assert result.exit_code == 2, result.output
    assert f"paas-exporter: cannot listen on 127.0.0.1:{port}: Address already in use" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_a_host_that_does_not_resolve_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "targets:\n  - {name: j, kind: jenkins, url: 'http://127.0.0.1:9'}\n")
    result = CliRunner().invoke(
        main, ["--config", str(path), "--host", "no-such-host.invalid", "--port", "0"]
    )
    assert result.exit_code == 2, result.output
    assert "paas-exporter: cannot listen on no-such-host.invalid:0: " in result.output


def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, "targets:\n  - {name: j, kind: jenkins, url: 'http://127.0.0.1:9'}\n")
    result = CliRunner().invoke(main, ["--config", str(path), "--port", "70000"])
    assert result.exit_code == 2
    assert "'--port': 70000 is not in the range 0<=x<=65535" in result.output


def test_a_config_that_is_not_utf8_exits_2_naming_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_bytes("targets:\n  - {name: caf\u00e9".encode("latin-1") + b", kind: jenkins}\n")
    result = CliRunner().invoke(main, ["--config", str(path), "--check"])
    assert result.exit_code == 2
    assert result.output == f"paas-exporter: {path}: not UTF-8 text: byte 23 is 0xe9\n"


def test_filter_patterns_with_flags_or_the_same_group_name_match_as_written(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """
targets:
  - name: j
    kind: jenkins
    url: http://j
    filters:
      include: ["(?i)prod-.*", "(?P<team>a)/.*", "(?P<team>b)/.*"]
      exclude: ["(?i).*-TMP", "(?P<x>z)"]
""",
    )
    keep = load_config(path).targets[0].filters.matcher()
    assert keep("PROD-api")
    assert keep("a/api")
    assert keep("b/api")
    assert not keep("c/api")
    assert not keep("prod-api-tmp")
    assert not keep("z")


def test_the_shipped_deployment_can_write_the_example_state_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import yaml

    for name in ("HARBOR_PASSWORD", "JENKINS_API_TOKEN", "SPINNAKER_TOKEN", "GITLAB_TOKEN"):
        monkeypatch.setenv(name, "s3cret")
    delivery = load_config(EXAMPLE).delivery
    assert delivery is not None
    assert delivery.state_file is not None
    deployment = yaml.safe_load(
        (EXAMPLE.parents[1] / "deploy" / "exporter" / "deployment.yaml").read_text()
    )
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = {
        Path(m["mountPath"])
        for m in container["volumeMounts"]
        if not m.get("readOnly") and {"emptyDir", "persistentVolumeClaim"} & set(volumes[m["name"]])
    }
    assert delivery.state_file.parent in writable
