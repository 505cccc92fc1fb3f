"""Benchmark: `paas-dash sync` of 50 dashboards into the Grafana double, first and second run.

Targets (issue 8): each run within 3 s, and zero writes on the second. Anchor, measured in the
same run: the usual dashboards-as-code push that overwrites every dashboard on every run.
Run: .venv/bin/python benchmarks/dash_sync.py [--count 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from paas_sdk.dash.catalog import load_dashboards
from paas_sdk.dash.cli import main as paas_dash
from paas_sdk.dash.sync import GrafanaTarget, Syncer
from paas_sdk.testing.grafana import GrafanaDouble

TARGET_SECONDS = 3.0

MODULE = """
from paas_sdk.dash.panels import base_dashboard, timeseries_panel

FOLDER = "{folder}"
S = 'job=~"$job", instance=~"$instance"'


def dashboard():
    board = base_dashboard(
        "Bench {n:02d}", "bench-{n:02d}", selector_metric="paas_service_info", description="Bench."
    )
    for i in range(12):
        board = board.with_panel(
            timeseries_panel(
                f"Panel {{i}}",
                "Requests per second.",
                "reqps",
                [(f"sum(rate(http_server_request_duration_seconds_count{{{{{{S}}}}}}"
                  "[$__rate_interval]))", "rps")],
            )
        )
    return board
"""


def write_dashboards(directory: Path, count: int) -> None:
    (directory / "catalog.yaml").write_text("owner: bench\n")
    (directory / "folders.yaml").write_text("bench-a: Bench A\nbench-b: Bench B\n")
    for n in range(count):
        folder = "bench-a" if n % 2 else "bench-b"
        (directory / f"bench_{n:02d}.py").write_text(MODULE.format(folder=folder, n=n))


def timed_sync(double: GrafanaDouble, directory: Path) -> tuple[float, int]:
    before = double.writes
    env = {"GRAFANA_URL": double.url, "GRAFANA_TOKEN": double.token}
    start = time.perf_counter()
    result = CliRunner().invoke(paas_dash, ["sync", "--dashboards", str(directory)], env=env)
    elapsed = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(result.output)
    return elapsed, double.writes - before


def overwrite_everything(double: GrafanaDouble, directory: Path) -> tuple[float, int]:
    """The anchor: load and POST every dashboard with overwrite, as most push scripts do."""
    before = double.writes
    start = time.perf_counter()
    boards = load_dashboards(directory)
    syncer = Syncer(GrafanaTarget.of(double.url, double.token))
    api = syncer._api  # the same grafana-client session paas-dash uses
    for board in boards:
        payload = {
            "dashboard": {**board.model, "id": None},
            "folderUid": board.folder.uid,
            "overwrite": True,
        }
        api.dashboard.update_dashboard(payload)
    return time.perf_counter() - start, double.writes - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, GrafanaDouble() as double:
        directory = Path(tmp)
        write_dashboards(directory, args.count)
        first, first_writes = timed_sync(double, directory)
        second, second_writes = timed_sync(double, directory)
        anchor, anchor_writes = overwrite_everything(double, directory)
    print(f"{args.count} dashboards in 2 folders, Grafana double on loopback")
    for name, seconds, writes in (
        ("first", first, first_writes),
        ("second", second, second_writes),
    ):
        ratio = seconds / TARGET_SECONDS
        print(
            f"{name:6} sync: {seconds:6.3f} s  {writes:3d} writes  ({ratio:.2f} x the 3 s target)"
        )
    print(f"anchor, overwrite every dashboard: {anchor:6.3f} s  {anchor_writes:3d} writes")
    print(
        f"second sync / anchor: {second / anchor:.2f} x the time, "
        f"{second_writes} vs {anchor_writes} writes"
    )


if __name__ == "__main__":
    main()
