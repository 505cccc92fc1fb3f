"""Startup that explains itself: the summary line, a warning per fallback or unknown variable,
one clear error for a URL given as a ZooKeeper connect string or a missing extra."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from paas_sdk.context import ServiceContext
from paas_sdk.errors import ConfigError
from paas_sdk.platform import PlatformSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICE = """
import sys
for blocked in sys.argv[1:]:
    sys.modules[blocked] = None  # as if its extra were not installed
import paas_sdk
from paas_sdk.errors import PaasError
try:
    paas_sdk.init(install_signal_handlers=False).shutdown(drain=False)
except PaasError as error:
    print("ERROR", error)
"""


def run(
    tmp_path: Path,
    *blocked: str,
    config: bool = True,
    variables: dict[str, str] | None = None,
    **env: str,
) -> tuple[list[tuple[str, str]], str]:
    if config:
        (tmp_path / "config").mkdir(exist_ok=True)
        (tmp_path / "config" / "application.properties").write_text("a=1\n")
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PAAS_METRICS_PORT": "0"}
    result = subprocess.run(
        [sys.executable, "-c", SERVICE, *blocked],
        cwd=tmp_path,
        env={**environment, **(variables or {}), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    records = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    levels = [(r["log"]["level"], r["message"]) for r in records]
    return levels, "\n".join(errors) + result.stderr


def test_one_summary_line_and_a_warning_for_each_fallback(tmp_path: Path) -> None:
    records, errors = run(tmp_path, PAAS_ZOOKEPER="127.0.0.1:2181", PAAS_DRAIN_SECOND="3")
    assert errors == ""
    warnings = [message for level, message in records if level == "WARNING"]
    assert "PAAS_ZOOKEPER is not a variable paas_sdk reads (did you mean PAAS_ZOOKEEPER?)" in (
        warnings
    )
    assert any(
        w.startswith("PAAS_DRAIN_SECOND is not") and "PAAS_DRAIN_SECONDS" in w for w in warnings
    )
    assert any("is the program's name: set PAAS_APP_ID" in w for w in warnings)
    summary = [message for _, message in records if message.startswith("paas_sdk started")]
    assert len(summary) == 1
    assert "config files in config" in summary[0]
    assert "registry off" in summary[0]
    assert "logs stdout" in summary[0]


def test_apollo_app_id_is_accepted_and_said_where_it_came_from(tmp_path: Path) -> None:
    records, _ = run(tmp_path, APP_ID="order-service")
    summary = next(message for _, message in records if message.startswith("paas_sdk started"))
    assert "app order-service (from APP_ID)" in summary
    assert not [m for level, m in records if level == "WARNING" and "program's name" in m]
    assert ServiceContext.from_env({"APP_ID": "a", "PAAS_APP_ID": "b"}).app_id == "b"


@pytest.mark.parametrize(
    ("variable", "module", "extra"),
    [
        ("PAAS_KAFKA_BOOTSTRAP", "confluent_kafka", "kafka"),
        ("PAAS_ZOOKEEPER", "kazoo", "zookeeper"),
    ],
)
def test_a_missing_extra_is_one_error_naming_the_install(
    tmp_path: Path, variable: str, module: str, extra: str
) -> None:
    _, errors = run(tmp_path, module, variables={variable: "127.0.0.1:1"})
    assert errors == (
        f"ERROR {variable}: set, but {module} is not installed: pip install 'paas-sdk[{extra}]'"
    )


def test_a_url_is_not_a_zookeeper_connect_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAAS_ZOOKEEPER", "http://zk:2181")
    with pytest.raises(ConfigError) as caught:
        PlatformSettings.from_env()
    assert caught.value.where == "PAAS_ZOOKEEPER"
    assert "host:port[,host:port...][/chroot]" in str(caught.value)
    monkeypatch.setenv("PAAS_ZOOKEEPER", "zookeeper://zk:2181")
    assert PlatformSettings.from_env().zookeeper == "zookeeper://zk:2181"


README_SNIPPET = re.compile(r"## For service developers\n\n```python\n(.*?)```", re.DOTALL)


def test_the_readme_snippet_runs_as_pasted_in_an_empty_directory(tmp_path: Path) -> None:
    match = README_SNIPPET.search((ROOT / "README.md").read_text())
    assert match is not None
    snippet = match.group(1)
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PAAS_METRICS_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "hello" in result.stdout.splitlines()
    assert result.stderr == ""
    warnings = [
        orjson.loads(line)["message"]
        for line in result.stdout.splitlines()
        if line.startswith("{") and '"WARNING"' in line
    ]
    no_source = [w for w in warnings if w.startswith("no configuration source")]
    assert len(no_source) == 1
    assert "PAAS_CONFIG_DIR" in no_source[0]
    assert "APOLLO_META" in no_source[0]


def test_a_failed_start_reports_at_once_without_waiting_out_a_drain(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        _, errors = run(
            tmp_path,
            PAAS_METRICS_PORT=str(port),
            PAAS_METRICS_HOST="127.0.0.1",
            PAAS_DRAIN_SECONDS="10",
        )
        took = time.monotonic() - started
    assert errors.startswith(f"ERROR 127.0.0.1:{port}: cannot serve the metrics endpoints")
    assert took < 8  # the interpreter's start included; the 10 s drain is not waited out
