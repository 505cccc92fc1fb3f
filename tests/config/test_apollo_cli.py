"""`python -m paas_sdk.testing.apollo` serves an initial config file as a local dev server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from paas_sdk.testing.servers import free_port


def test_serves_the_initial_config_file(tmp_path: Path) -> None:
    initial = tmp_path / "apollo.yaml"
    initial.write_text('demo:\n  application:\n    greeting: hello\n  db.json: \'{"url": "x"}\'\n')
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paas_sdk.testing.apollo",
            "--port",
            str(port),
            "--config",
            str(initial),
            "--hold-seconds",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/configs/demo/default/application")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the double did not start"
                time.sleep(0.1)
        assert answer.json()["configurations"] == {"greeting": "hello"}
        db = httpx.get(f"http://127.0.0.1:{port}/configs/demo/default/db.json").json()
        assert db["configurations"] == {"content": '{"url": "x"}'}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_bad_config_file_is_a_usage_error(tmp_path: Path) -> None:
    initial = tmp_path / "apollo.yaml"
    initial.write_text("- just\n- a list\n")
    result = subprocess.run(
        [sys.executable, "-m", "paas_sdk.testing.apollo", "--config", str(initial)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "expected a mapping of app id" in result.stderr
    assert "Traceback" not in result.stderr
