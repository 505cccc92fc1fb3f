"""The README's first command, non-interactive: the whole platform comes up and its own summary
says that every part worked."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_end_to_end_in_under_five_minutes(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "examples/platform_demo.py", "--once", "--summary", str(summary_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert elapsed < 300
    summary = json.loads(summary_path.read_text())
    failed = {name: c for name, c in summary["checks"].items() if not c["ok"]}
    assert failed == {}
    assert set(summary["checks"]) >= {
        "order-service ready",
        "paas-exporter ready",
        "traffic",
        "config hot reload",
        "registered in ZooKeeper",
        "Java Dubbo consumer over Triple",
        "logs shipped and indexed",
        "Prometheus scraping",
        "dashboards rendered",
        "dashboards previewed",
        "applied to Kubernetes",
    }
    assert "paas-sdk-kube-apiserver" in summary["kubernetes"]["prometheusrules"]
    assert "grafana-dashboard-paas-etcd" in summary["kubernetes"]["configmaps"]
    assert summary["config"]["after"] == "bonjour"
    # the HTTP orders and the one the Java consumer placed over Triple
    assert summary["logs"]["order_placed"] == summary["traffic"]["placed"] + 1
    assert summary["registry"]["providers"][0].startswith("tri://127.0.0.1:")
    assert summary["java"]["answered"] == summary["java"]["calls"]
    assert summary["prometheus"]["harbor projects"] == 40
    # Every panel of the built-in dashboards has data from the demo's live Prometheus.
    previews = summary["previews"]
    builtin = ("paas-platform-overview", "paas-service-overview", "paas-log-pipeline",
               "paas-harbor", "paas-jenkins", "paas-spinnaker")  # fmt: skip
    assert {uid: previews[uid]["empty"] for uid in builtin} == {uid: [] for uid in builtin}
    for uid in builtin:
        image = Path(previews[uid]["image"])
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert previews[uid]["panels"] >= 8
