"""`paas-dash preview`: dashboards drawn as PNG from a real Prometheus, without a Grafana."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from paas_sdk.dash.catalog import Dashboard, builtin_dashboards_dir, load_dashboards
from paas_sdk.dash.cli import main
from paas_sdk.dash.preview import PreviewOptions, format_value, preview
from paas_sdk.testing.servers import PrometheusServer

from .conftest import LiveExporter, write_team_dir


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.0432, "percentunit", "4.32%"),
        (0.0049, "s", "4.9 ms"),
        (90, "s", "1.5 min"),
        (1_300_000, "bytes", "1.24 MiB"),
        (2.5, "reqps", "2.5 req/s"),
        (12_345, "short", "12.3K"),
        (0, "s", "0 s"),
        (3, "none", "3"),
    ],
)
def test_values_read_as_grafana_shows_them(value: float, unit: str, shown: str) -> None:
    assert format_value(value, unit) == shown


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def scraped_exporter(prometheus: PrometheusServer, live_exporter: LiveExporter) -> Iterator[str]:
    """The session's Prometheus scraping the live exporter as job `paas-exporter-preview`."""
    job = "paas-exporter-preview"
    prometheus.scrape(job, [live_exporter.address])
    prometheus.wait_for_targets_up(job, 1)
    deadline = time.monotonic() + 20
    # Two scrapes of every series, so rates over $__rate_interval have something to work on.
    while len(prometheus.query(f'count_over_time(harbor_health{{job="{job}"}}[1m]) > 2')) < 1:
        assert time.monotonic() < deadline, "Prometheus never stored the exporter's samples"
        time.sleep(0.3)
    yield job
    prometheus.scrape(job, [])


def _team_board(tmp_path: Path) -> Dashboard:
    """A team's dashboard whose one panel selects HTTP metrics nobody exposes here."""
    [board] = load_dashboards(write_team_dir(tmp_path / "team", ["shop-orders"]))
    return board


def test_every_exporter_dashboard_is_drawn_with_data_and_an_empty_panel_is_named(
    prometheus: PrometheusServer, scraped_exporter: str, tmp_path: Path
) -> None:
    boards = [
        b
        for b in load_dashboards(builtin_dashboards_dir())
        if b.uid in ("paas-harbor", "paas-jenkins", "paas-spinnaker")
    ]
    team = _team_board(tmp_path)
    options = PreviewOptions(
        prometheus.url, range_seconds=300, scrape_interval=1, variables={"job": scraped_exporter}
    )
    results = preview([*boards, team], tmp_path / "out", options)
    assert [r.uid for r in results] == ["paas-harbor", "paas-jenkins", "paas-spinnaker",
                                        "paas-shop-orders"]  # fmt: skip
    summary = json.loads((tmp_path / "out" / "preview.json").read_text())
    for result in results[:3]:
        assert result.empty_panels == [], result.uid
        width, height = _png_size(result.path)
        assert width == 1980
        assert height > 800
        assert summary[result.uid]["panels"] == len([p for p in result.panels if p.kind != "row"])
    # The team's panel asks for HTTP metrics this Prometheus has never seen.
    assert results[3].empty_panels == ["Orders"]
    assert summary["paas-shop-orders"]["empty"] == ["Orders"]
    harbor = results[0]
    healthy = next(p for p in harbor.panels if p.title == "Healthy")
    assert healthy.states["1"] == ("Healthy", "green")
    assert healthy.series[0].values == [1.0]


def test_a_query_prometheus_refuses_is_drawn_as_an_error_not_a_crash(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    directory = write_team_dir(tmp_path / "team", ["shop-orders"])
    module = directory / "shop_orders.py"
    module.write_text(module.read_text().replace("sum(rate(", "sum(rate(rate("))
    result = CliRunner().invoke(
        main, ["preview", "--dashboards", str(directory), "--prometheus", prometheus.url,
               "--out", str(tmp_path / "out"), "--range", "5m"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "preview.json").read_text())
    [error] = summary["paas-shop-orders"]["errors"]["Orders"]
    assert "parse error" in error
    assert f"{tmp_path / 'out' / 'paas-shop-orders.png'}: 1 panels, no data: Orders" in (
        result.output
    )


def test_an_unreachable_prometheus_is_one_message_and_writes_nothing(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["preview", "--prometheus", f"http://127.0.0.1:{port}", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: http://127.0.0.1:{port}: cannot reach Prometheus: Connection refused"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--range", "an hour"], "error: --range 'an hour': expected a duration such as 30s"),
        (["--var", "job"], "error: --var 'job': expected NAME=VALUE"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["preview", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path), *args]
    )
    assert result.exit_code == 2
    assert message in result.output


INFINITE_MODULE = """
from paas_sdk.dash.panels import base_dashboard, stat_panel, timeseries_panel

FOLDER = "team-shop"


def dashboard():
    steps = [(None, "green")]
    return (
        base_dashboard("Shop / Ratios", "shop-ratios", selector_metric="up", description="R.")
        .with_panel(stat_panel("Up", "+Inf.", "short", "vector(1/0)", steps=steps,
                               states={1: ("Healthy", "green")}))
        .with_panel(stat_panel("Down", "-Inf.", "s", "vector(-1/0)", steps=steps))
        .with_panel(timeseries_panel("Ratio", "Inf.", "short", [("vector(1/0)", "ratio")]))
    )
"""


def test_infinite_values_are_not_drawn_and_do_not_abort_the_preview(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    # Prometheus answers 1/0 with "+Inf": the instant (stat) and range paths both drop it, as
    # they drop NaN, instead of int(inf) raising OverflowError out of the whole preview.
    directory = write_team_dir(tmp_path / "team", [])
    (directory / "ratios.py").write_text(INFINITE_MODULE)
    [board] = load_dashboards(directory)
    [result] = preview(
        [board],
        tmp_path / "out",
        PreviewOptions(prometheus.url, range_seconds=300, scrape_interval=1),
    )
    assert result.path.is_file()
    assert sorted(result.empty_panels) == ["Down", "Ratio", "Up"]


@pytest.mark.parametrize(
    ("value", "shown"), [(float("inf"), "∞"), (float("-inf"), "-∞"), (float("nan"), "NaN")]
)
def test_non_finite_values_read_as_grafana_shows_them(value: float, shown: str) -> None:
    assert format_value(value, "s") == shown
    assert format_value(value, "short") == shown


def test_an_infinite_value_is_no_state() -> None:
    from paas_sdk.dash.preview import PanelPreview, _state

    panel = PanelPreview("Up", "stat", "short", (0, 0, 6, 4), states={"1": ("Healthy", "green")})
    assert _state(float("inf"), panel) is None
    assert _state(1.0, panel) == ("Healthy", "green")
