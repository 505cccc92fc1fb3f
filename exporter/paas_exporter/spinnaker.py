"""Spinnaker collector (through Gate): applications, each one's pipeline configs, its
executions within a time window from the execution search, newest first, and its executions not
yet complete however old.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

from paas_exporter.config import SpinnakerTarget
from paas_exporter.exposition import MetricFamily
from paas_exporter.upstream import Upstream, expect_dict, expect_list, number, text

LAST_POLL = " (as of the exporter's last poll)"
COMPLETE = frozenset(("CANCELED", "SUCCEEDED", "STOPPED", "SKIPPED", "TERMINAL", "FAILED_CONTINUE"))
FAILED = frozenset(("TERMINAL", "STOPPED", "FAILED_CONTINUE"))
# ExecutionStatus values whose isComplete() is false (orca-api ExecutionStatus.java).
INCOMPLETE = ("NOT_STARTED", "RUNNING", "PAUSED", "SUSPENDED", "REDIRECT", "BUFFERED")
MAX_SEARCH_PAGES = 1_000


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
    fam: dict[str, MetricFamily],
    app: str,
    configs: Any,
    executions: list[Any],
    now: float,
    *,
    incomplete: Sequence[Any] = (),
) -> None:
    """Add one application's samples; `executions` are pipeline executions in the window,
    `incomplete` those not yet complete, started before it or not."""
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
    live: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in by_pipeline}
    for raw in [*executions, *incomplete]:
        execution = expect_dict(raw, "execution")
        if text(execution.get("status"), "execution status") not in COMPLETE:
            name = text(execution.get("name"), "execution name")
            ident = str(execution.get("id") or id(execution))
            live.setdefault(name, {})[ident] = execution
    for status, value in sorted(statuses.items()):
        fam["by_status"].add(value, app, status)
    for name, running_by_id in live.items():
        running = list(running_by_id.values())
        fam["running"].add(len(running), app, name)
        if running:
            starts = [
                number(r.get("startTime") or r.get("buildTime"), "startTime") for r in running
            ]
            fam["age"].add(max(0.0, now - min(starts) / 1000), app, name)
    for name, runs in by_pipeline.items():
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


async def search(
    upstream: Upstream, app: str, size: int, start_ms: int, end_ms: int, *, statuses: str = ""
) -> list[Any]:
    """Every pipeline execution built strictly between the two times, newest first.

    Orca's search (`TaskController.searchForPipelinesByTrigger`) reads pages of 2 x size and
    stops once it holds `size` matches, so a `startIndex` of 2 x size or more answers `[]`; its
    time bounds are exclusive (`SqlExecutionRepository`). So each request asks from index 0 and
    the end bound moves to just past the oldest build time seen, the executions at that time
    coming again and being told apart by id.
    """
    where = f"/applications/{app}/executions/search"
    found: dict[str, Any] = {}
    end = end_ms
    for _ in range(MAX_SEARCH_PAGES):
        params: dict[str, str | int] = {
            "triggerTimeStartBoundary": start_ms,
            "triggerTimeEndBoundary": end,
            "size": size,
            "expand": "false",
        }
        if statuses:
            params["statuses"] = statuses
        page = expect_list((await upstream.get(where, params))[0], where)
        fresh = 0
        oldest = end
        for raw in page:
            execution = expect_dict(raw, "execution")
            ident = text(execution.get("id"), "execution id")
            oldest = min(oldest, int(number(execution.get("buildTime"), "buildTime")))
            if ident not in found:
                fresh += 1
                found[ident] = execution
        if len(page) < size or not fresh:
            break
        end = oldest + 1
    return [e for e in found.values() if e.get("type", "PIPELINE") == "PIPELINE"]


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
        size = target.search_page_size
        end = int(now * 1000) + 60_000
        try:
            executions = await search(
                upstream, app, size, int((now - target.execution_window) * 1000), end
            )
            # Executions still running from before the window: exactly the stuck ones.
            incomplete = await search(upstream, app, size, 0, end, statuses=",".join(INCOMPLETE))
        finally:
            configs, _ = await configs_task
        application_samples(fam, app, configs, executions, now, incomplete=incomplete)

    async with asyncio.TaskGroup() as group:
        for app in apps:
            group.create_task(one(app))
    return list(fam.values())
