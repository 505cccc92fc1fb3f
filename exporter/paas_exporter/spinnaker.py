"""Spinnaker collector (through Gate): applications, each one's pipeline configs, and its
executions within a time window from the execution search, paged, newest first.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from paas_exporter.config import SpinnakerTarget
from paas_exporter.exposition import MetricFamily
from paas_exporter.upstream import Upstream, expect_dict, expect_list, number, text

LAST_POLL = " (as of the exporter's last poll)"
COMPLETE = frozenset(("CANCELED", "SUCCEEDED", "STOPPED", "SKIPPED", "TERMINAL", "FAILED_CONTINUE"))
FAILED = frozenset(("TERMINAL", "STOPPED", "FAILED_CONTINUE"))


def _families() -> dict[str, MetricFamily]:
    pipe = ("application", "pipeline")
    return {
        "status": MetricFamily(
            "spinnaker_pipeline_last_execution_status",
            "gauge",
            "1 for the status of the pipeline's newest execution in the window" + LAST_POLL,
            (*pipe, "status"),
        ),
        "duration": MetricFamily(
            "spinnaker_pipeline_last_execution_duration_seconds",
            "gauge",
            "Duration of the pipeline's newest execution, once it ended" + LAST_POLL,
            pipe,
        ),
        "start": MetricFamily(
            "spinnaker_pipeline_last_execution_start_timestamp_seconds",
            "gauge",
            "Start time of the pipeline's newest execution" + LAST_POLL,
            pipe,
        ),
        "running": MetricFamily(
            "spinnaker_pipeline_running_executions",
            "gauge",
            "Executions of the pipeline not yet complete" + LAST_POLL,
            pipe,
        ),
        "age": MetricFamily(
            "spinnaker_pipeline_oldest_running_execution_age_seconds",
            "gauge",
            "Age of the pipeline's oldest incomplete execution" + LAST_POLL,
            pipe,
        ),
        "failed": MetricFamily(
            "spinnaker_pipeline_failed_stages",
            "gauge",
            "Failed stages in the pipeline's newest execution" + LAST_POLL,
            pipe,
        ),
        "by_status": MetricFamily(
            "spinnaker_application_executions",
            "gauge",
            "Executions of the application in the window, by status" + LAST_POLL,
            ("application", "status"),
        ),
    }


def application_samples(
    fam: dict[str, MetricFamily], app: str, configs: Any, executions: list[Any], now: float
) -> None:
    """Add one application's samples; `executions` are pipeline executions in the window."""
    names = [
        text(expect_dict(c, "pipelineConfig").get("name"), "pipelineConfig name")
        for c in expect_list(configs, f"/applications/{app}/pipelineConfigs")
    ]
    by_pipeline: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    statuses: Counter[str] = Counter()
    for raw in executions:
        execution = expect_dict(raw, "execution")
        status = text(execution.get("status"), "execution status")
        statuses[status] += 1
        name = text(execution.get("name"), "execution name")
        by_pipeline.setdefault(name, []).append(execution)
    for status, value in sorted(statuses.items()):
        fam["by_status"].add(value, app, status)
    for name, runs in by_pipeline.items():
        running = [r for r in runs if r["status"] not in COMPLETE]
        fam["running"].add(len(running), app, name)
        if running:
            starts = [
                number(r.get("startTime") or r.get("buildTime"), "startTime") for r in running
            ]
            fam["age"].add(max(0.0, now - min(starts) / 1000), app, name)
        if not runs:
            continue
        last = max(runs, key=lambda r: number(r.get("buildTime"), "buildTime"))
        fam["status"].add(1, app, name, last["status"])
        start = last.get("startTime")
        if start is not None:
            fam["start"].add(number(start, "startTime") / 1000, app, name)
            end = last.get("endTime")
            if end is not None:
                fam["duration"].add(
                    (number(end, "endTime") - number(start, "startTime")) / 1000, app, name
                )
        stages = expect_list(last.get("stages") or [], "stages")
        failed = sum(1 for s in stages if expect_dict(s, "stage").get("status") in FAILED)
        fam["failed"].add(failed, app, name)


async def _window(upstream: Upstream, app: str, target: SpinnakerTarget, now: float) -> list[Any]:
    size = target.search_page_size
    found: list[Any] = []
    params: dict[str, str | int] = {
        "triggerTimeStartBoundary": int((now - target.execution_window) * 1000),
        "triggerTimeEndBoundary": int(now * 1000) + 60_000,
        "size": size,
        "expand": "false",
    }
    for start in range(0, 100_000, size):
        body, _ = await upstream.get(
            f"/applications/{app}/executions/search", {**params, "startIndex": start}
        )
        page = expect_list(body, f"/applications/{app}/executions/search")
        found.extend(
            e for e in page if isinstance(e, dict) and e.get("type", "PIPELINE") == "PIPELINE"
        )
        if len(page) < size:
            break
    return found


async def collect_spinnaker(
    upstream: Upstream, target: SpinnakerTarget, now: float
) -> list[MetricFamily]:
    keep = target.filters.matcher()
    body, _ = await upstream.get("/applications")
    apps = sorted(
        name
        for name in (
            text(expect_dict(a, "application").get("name"), "application name")
            for a in expect_list(body, "/applications")
        )
        if keep(name)
    )
    fam = _families()

    async def one(app: str) -> None:
        configs_task = asyncio.create_task(upstream.get(f"/applications/{app}/pipelineConfigs"))
        try:
            executions = await _window(upstream, app, target, now)
        finally:
            configs, _ = await configs_task
        application_samples(fam, app, configs, executions, now)

    async with asyncio.TaskGroup() as group:
        for app in apps:
            group.create_task(one(app))
    return list(fam.values())
