"""A Spinnaker Gate simulator: applications, pipeline configs and the execution search.

Paths and parameters follow Gate (`/applications`, `/applications/{app}/pipelineConfigs`,
`/applications/{app}/executions/search` with trigger-time boundaries, `startIndex`, `size`,
`statuses`, `reverse`, `expand`, and `/executions?pipelineConfigIds=`). Executions carry
`type, id, application, name, pipelineConfigId, status, buildTime, startTime, endTime, trigger,
authentication, stages[]` with epoch-millisecond times. Every `stuck_every`-th application also
has an execution started 2.8 days ago that still runs.

The search answers as Orca's does behind Gate (spinnaker/orca
`orca-web/.../controllers/TaskController.groovy` `searchForPipelinesByTrigger`, spinnaker/gate
`gate-web/.../controllers/ExecutionsController.java`): 400 for negative bounds or index, a start
after the end, or a size below 1; build-time bounds exclusive on both sides
(`orca-sql/.../SqlExecutionRepository.kt`); pages of 2 x size read until `size` match, so a
`startIndex` at or past 2 x size answers `[]`; `expand` false by default on the search (stage
contexts and outputs emptied, tasks dropped) and true on `/executions`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from paas_sdk.testing.simulators._http import HTTPError, Request, Response, SimulatorServer

COMPLETE = ("SUCCEEDED", "TERMINAL", "CANCELED", "STOPPED", "FAILED_CONTINUE", "SKIPPED")
FAILED_STAGE = ("TERMINAL", "STOPPED", "FAILED_CONTINUE")


@dataclass
class SpinnakerState:
    applications: list[dict[str, Any]] = field(default_factory=list)
    pipeline_configs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    executions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _execution(
    rnd: random.Random, app: str, config: dict[str, Any], serial: int, build_time: int
) -> dict[str, Any]:
    status = rnd.choices(
        ("SUCCEEDED", "TERMINAL", "RUNNING", "CANCELED", "PAUSED"), weights=(60, 15, 15, 5, 5)
    )[0]
    start = build_time + rnd.randint(100, 3000)
    end = None if status in ("RUNNING", "PAUSED") else start + rnd.randint(10_000, 900_000)
    stages = []
    for index, name in enumerate(("bake", "deploy", "verify")):
        stage_status = "SUCCEEDED"
        if status == "TERMINAL" and index == 1:
            stage_status = "TERMINAL"
        elif status == "TERMINAL" and index == 2:
            stage_status = rnd.choice(("NOT_STARTED", "FAILED_CONTINUE"))
        elif status in ("RUNNING", "PAUSED") and index > 0:
            stage_status = "RUNNING" if index == 1 else "NOT_STARTED"
        stages.append({"id": f"{serial}-{index}", "refId": str(index + 1), "type": name,
                       "name": name.title(), "status": stage_status, "startTime": start,
                       "endTime": end, "context": {"cloudProvider": "kubernetes"}})  # fmt: skip
    return {
        "type": "PIPELINE", "id": f"01J{serial:020d}", "application": app,
        "name": config["name"], "pipelineConfigId": config["id"], "status": status,
        "buildTime": build_time, "startTime": start, "endTime": end,
        "trigger": {"type": rnd.choice(("manual", "docker", "cron")), "user": "alice"},
        "authentication": {"user": "alice", "allowedAccounts": ["prod"]}, "stages": stages,
    }  # fmt: skip


STUCK_AGE_MS = int(2.8 * 86_400_000)


def generate_state(
    applications: int,
    *,
    pipelines: int = 3,
    executions: int = 4,
    seed: int = 7,
    now_ms: int | None = None,
    stuck_every: int = 3,
) -> SpinnakerState:
    rnd = random.Random(seed)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    state = SpinnakerState()
    serial = 0
    for a in range(applications):
        app = f"app{a:03d}"
        state.applications.append(
            {"name": app, "email": f"team{a}@example.com", "cloudProviders": "kubernetes",
             "createTs": str(now_ms - 86_400_000), "user": "alice"}
        )  # fmt: skip
        configs = [
            {"id": f"{app}-p{p}-cfg", "name": f"deploy-{p}", "application": app,
             "index": p, "stages": [], "triggers": [], "keepWaitingPipelines": False}
            for p in range(pipelines)
        ]  # fmt: skip
        state.pipeline_configs[app] = configs
        runs: list[dict[str, Any]] = []
        for config in configs:
            for _ in range(rnd.randint(0, executions)):
                serial += 1
                build = now_ms - rnd.randint(60_000, 20_000_000)
                runs.append(_execution(rnd, app, config, serial, build))
        if configs and stuck_every and a % stuck_every == 0:
            serial += 1
            stuck = _execution(rnd, app, configs[0], serial, now_ms - STUCK_AGE_MS)
            stuck.update(status="RUNNING", endTime=None)
            runs.append(stuck)
        state.executions[app] = runs
    return state


def unexpanded(execution: dict[str, Any]) -> dict[str, Any]:
    """What the search answers without `expand=true` (its default): each stage's context emptied
    (but for `group`), its outputs and tasks dropped (spinnaker/orca
    `orca-web/.../controllers/TaskController.groovy`, `unexpandPipelineExecutions`)."""
    stages = []
    for stage in execution["stages"]:
        context = stage.get("context") or {}
        stages.append({**stage, "context": {"group": context["group"]} if "group" in context
                       else {}, "outputs": {}, "tasks": []})  # fmt: skip
    return {**execution, "stages": stages}


class SpinnakerSimulator(SimulatorServer):
    """Gate's REST API over real HTTP (session or basic auth when `credentials` is set)."""

    name = "spinnaker"

    def __init__(
        self,
        *,
        applications: int = 5,
        pipelines: int = 3,
        executions: int = 4,
        seed: int = 7,
        stuck_every: int = 3,
        credentials: tuple[str, str] | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(port=port, credentials=credentials)
        self.state = generate_state(
            applications,
            pipelines=pipelines,
            executions=executions,
            seed=seed,
            stuck_every=stuck_every,
        )
        self.route("GET", "/applications", lambda r: Response(self.state.applications))
        self.route("GET", "/applications/(?P<app>[^/]+)", self._application)
        self.route("GET", "/applications/(?P<app>[^/]+)/pipelineConfigs", self._configs)
        self.route("GET", "/applications/(?P<app>[^/*]+|\\*)/executions/search", self._search)
        self.route("GET", "/executions", self._by_config)
        self.route("GET", "/pipelines/(?P<id>[^/]+)", self._pipeline)

    def _app(self, request: Request) -> str:
        assert request.match is not None
        app = request.match["app"]
        if app != "*" and app not in self.state.pipeline_configs:
            raise HTTPError(404, {"error": "Not Found", "message": f"Application not found: {app}",
                                  "status": 404})  # fmt: skip
        return app

    def _application(self, request: Request) -> Response:
        app = self._app(request)
        attributes = next(a for a in self.state.applications if a["name"] == app)
        return Response({"name": app, "attributes": attributes, "clusters": {}})

    def _configs(self, request: Request) -> Response:
        return Response(self.state.pipeline_configs[self._app(request)])

    def _search(self, request: Request) -> Response:
        app = self._app(request)
        params = request.params
        try:
            low = int(params.get("triggerTimeStartBoundary", "0"))
            high = int(params.get("triggerTimeEndBoundary", str(2**63 - 1)))
            start = int(params.get("startIndex", "0"))
            size = int(params.get("size", "10"))
        except ValueError as error:
            raise HTTPError(400, {"error": "Bad Request", "message": str(error)}) from None
        problem = (
            "triggerTimeStartBoundary must be >= 0" if low < 0
            else "triggerTimeEndBoundary must be >= 0" if high < 0
            else "triggerTimeStartBoundary must be <= triggerTimeEndBoundary" if low > high
            else "startIndex must be >= 0" if start < 0
            else "size must be > 0" if size <= 0
            else None
        )  # fmt: skip
        if problem:
            raise HTTPError(400, {"error": "Bad Request", "message": problem, "status": 400})
        statuses = {s for s in params.get("statuses", "").split(",") if s}
        name = params.get("pipelineName")
        pool = (
            [e for runs in self.state.executions.values() for e in runs]
            if app == "*"
            else self.state.executions[app]
        )
        found = [
            e
            for e in pool
            if low < e["buildTime"] < high
            and (not statuses or e["status"] in statuses)
            and (name is None or e["name"] == name)
        ]
        found.sort(key=lambda e: e["buildTime"], reverse=params.get("reverse") != "true")
        # The first page of 2 x size already holds `size` matches (no trigger filters here).
        chunk = found[: 2 * size][start : start + size]
        if params.get("expand", "false") != "true":
            chunk = [unexpanded(e) for e in chunk]
        return Response(chunk)

    def _pipeline(self, request: Request) -> Response:
        """One execution, expanded, by id (Orca `TaskController.getPipeline`); 404 when unknown."""
        assert request.match is not None
        ident = request.match["id"]
        for runs in self.state.executions.values():
            for execution in runs:
                if execution["id"] == ident:
                    return Response(execution)
        raise HTTPError(404, {"error": "Not Found", "status": 404,
                              "message": f"Pipeline not found (id: {ident})"})  # fmt: skip

    def _by_config(self, request: Request) -> Response:
        ids = {i for i in request.params.get("pipelineConfigIds", "").split(",") if i}
        limit = int(request.params.get("limit", "1"))
        expand = request.params.get("expand", "true") != "false"  # Gate's default here: true
        found: list[dict[str, Any]] = []
        for config_id in sorted(ids):
            runs = [e for app in self.state.executions.values() for e in app
                    if e["pipelineConfigId"] == config_id]  # fmt: skip
            runs.sort(key=lambda e: e["buildTime"], reverse=True)
            found.extend(runs[:limit] if expand else [unexpanded(e) for e in runs[:limit]])
        return Response(found)
