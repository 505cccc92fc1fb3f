"""The process's other voices in the service's logs: servers' loggers, terminal colours taken
out, uncaught exceptions as records, and the console format for a person at a terminal."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import orjson

from paas_sdk.context import ServiceContext
from paas_sdk.logs import EcsFormatter
from paas_sdk.logs._servers import route_server_logs

ROOT = Path(__file__).resolve().parents[2]


def test_terminal_colours_and_uvicorns_coloured_copy_stay_out_of_the_json() -> None:
    formatter = EcsFormatter(ServiceContext(app_id="svc"))
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "\x1b[33mPress CTRL+C to quit\x1b[0m", (), None
    )
    record.color_message = "\x1b[1mStarted\x1b[0m"
    document = orjson.loads(formatter.format(record))
    assert document["message"] == "Press CTRL+C to quit"
    assert "color_message" not in document


def test_a_servers_own_logger_reaches_the_root_handlers_only() -> None:
    server = logging.getLogger("uvicorn.access")
    own, root_stream = io.StringIO(), io.StringIO()
    own_handler, root_handler = logging.StreamHandler(own), logging.StreamHandler(root_stream)
    server.addHandler(own_handler)
    server.propagate = False
    logging.getLogger().addHandler(root_handler)
    try:
        route_server_logs()
        server.warning("GET / 200")
    finally:
        logging.getLogger().removeHandler(root_handler)
    assert own.getvalue() == ""
    assert root_stream.getvalue() == "GET / 200\n"


def _run(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,  # empty: the settings models' defaults
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PAAS_METRICS_PORT": "-1"} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_uncaught_exception_is_one_ecs_record(tmp_path: Path) -> None:
    result = _run("import paas_sdk; paas_sdk.init(); raise ValueError('bad order')", tmp_path)
    assert result.returncode == 1
    assert result.stderr == ""
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    uncaught = [r for r in records if r["log"]["logger"] == "paas_sdk.uncaught"]
    assert len(uncaught) == 1
    assert uncaught[0]["log"]["level"] == "CRITICAL"
    assert uncaught[0]["error"]["type"] == "ValueError"
    assert "bad order" in uncaught[0]["error"]["message"]


def test_the_console_format_is_one_readable_line_per_record(tmp_path: Path) -> None:
    result = _run(
        "import logging, paas_sdk; paas_sdk.init(); "
        "logging.getLogger('orders').info('placed', extra={'order.id': 7})",
        tmp_path,
        PAAS_LOG_FORMAT="console",
    )
    assert result.returncode == 0, result.stderr
    placed = [line for line in result.stdout.splitlines() if "placed" in line]
    assert len(placed) == 1
    assert placed[0].endswith(" INFO    orders: placed order.id=7")
    assert not any(line.startswith("{") for line in result.stdout.splitlines())
