"""A Harbor v2.0 REST API simulator: projects, repositories, quotas, replication, scanners, GC.

Field names, paths, paging (`page` from 1, `page_size` default 10 and at most 100, X-Total-Count
and Link headers) follow Harbor's swagger (api/v2.0). The state is generated from a seed and
exposed as plain attributes so a test can compute what an exporter should report.

As Harbor's go-swagger models do, a number that is zero is left out of the JSON (`omitempty` on
every property neither required nor `x-omitempty: false`): a full disk's storage `free`, zero
vulnerability counts, an empty queue's `count` and `latency`. `/systeminfo` answers anyone but
carries the version and the other protected fields only for an authenticated caller
(goharbor/harbor `src/server/v2.0/handler/systeminfo.go`, `convertInfo`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from paas_sdk.testing.simulators._http import (
    HTTPError,
    Request,
    Response,
    SimulatorServer,
    page_of,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
REPLICATION_STATUSES = ("Succeed", "Failed", "InProgress", "Stopped")
# GeneralInfo fields `convertInfo` fills in only when `WithProtectedInfo` (authenticated).
PROTECTED_INFO = frozenset(
    ("has_ca_root", "project_creation_restriction", "harbor_version", "external_url",
     "registry_url", "read_only", "registry_storage_provider_name", "notification_enable",
     "current_time", "with_notary", "with_chartmuseum")
)  # fmt: skip
# Properties with `x-omitempty: false`, kept even when zero or false.
ALWAYS_PRESENT = frozenset(("paused",))


def omit_zero(item: dict[str, Any]) -> dict[str, Any]:
    """go-swagger's `omitempty`: zero numbers and false flags are not in the JSON."""
    return {
        k: v
        for k, v in item.items()
        if k in ALWAYS_PRESENT or (v is not False and not (type(v) is int and v == 0))
    }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class HarborState:
    """Everything the simulator serves; mutate it freely between polls."""

    projects: list[dict[str, Any]] = field(default_factory=list)
    repositories: list[dict[str, Any]] = field(default_factory=list)
    quotas: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    executions: list[dict[str, Any]] = field(default_factory=list)
    scanners: list[dict[str, Any]] = field(default_factory=list)
    scanner_adapters: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    gc_history: list[dict[str, Any]] = field(default_factory=list)
    queues: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    security_summary: dict[str, int] = field(default_factory=dict)
    storage: list[dict[str, int]] = field(default_factory=list)
    system_info: dict[str, Any] = field(default_factory=dict)
    #: Stored artifacts by repository name ("project/repo"); other repositories get made-up ones.
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def generate_state(
    projects: int, *, seed: int = 7, repos_per_project: int = 3, repositories: int | None = None
) -> HarborState:
    """`projects` projects of 0 to 2 x `repos_per_project` repositories each, or, given
    `repositories`, exactly that many spread evenly."""
    rnd = random.Random(seed)
    state = HarborState()
    repo_id = 0
    for index in range(projects):
        project_id = index + 1
        name = f"project-{index:04d}"
        public = index % 3 == 0
        repo_count = rnd.randint(0, 2 * repos_per_project)
        if repositories is not None:
            repo_count = repositories // projects + (index < repositories % projects)
        created = EPOCH + timedelta(hours=index)
        state.projects.append(
            {
                "project_id": project_id,
                "name": name,
                "owner_id": 1,
                "owner_name": "admin",
                "repo_count": repo_count,
                "registry_id": None,
                "creation_time": _iso(created),
                "update_time": _iso(created),
                "deleted": False,
                "metadata": {"public": "true" if public else "false"},
            }
        )
        for number in range(repo_count):
            repo_id += 1
            state.repositories.append(
                {
                    "id": repo_id,
                    "project_id": project_id,
                    "name": f"{name}/service-{number}",
                    "description": "",
                    "artifact_count": rnd.randint(1, 4),
                    "pull_count": rnd.randint(0, 5000),
                    "creation_time": _iso(created),
                    "update_time": _iso(created),
                }
            )
        hard = -1 if index % 4 == 0 else 10 * 1024**3
        state.quotas.append(
            {
                "id": project_id,
                "ref": {"id": project_id, "name": name, "owner_name": "admin"},
                "hard": {"storage": hard},
                "used": {"storage": rnd.randint(0, 5 * 1024**3)},
                "creation_time": _iso(created),
                "update_time": _iso(created),
            }
        )
    for policy_id in range(1, 5):
        state.policies.append({"id": policy_id, "name": f"mirror-{policy_id}", "enabled": True})
        for run in range(rnd.randint(1, 6)):
            status = rnd.choice(REPLICATION_STATUSES)
            started = EPOCH + timedelta(minutes=10 * run + policy_id)
            state.executions.append(
                {
                    "id": len(state.executions) + 1,
                    "policy_id": policy_id,
                    "status": status,
                    "status_text": "",
                    "trigger": "scheduled",
                    "start_time": _iso(started),
                    "end_time": ""
                    if status == "InProgress"
                    else _iso(started + timedelta(minutes=1)),
                    "total": 10,
                    "failed": 1 if status == "Failed" else 0,
                    "succeed": 9,
                    "in_progress": 0,
                    "stopped": 0,
                }
            )
    # The list carries no health, adapter or vendor: those fields are not stored
    # (`Registration` in src/pkg/scan/dao/scanner/model.go, `orm:"-"` and `omitempty`) and
    # `ListRegistrations` (src/controller/scanner/base_controller.go) never pings the adapter.
    state.scanners = [
        {"uuid": "u-trivy", "name": "Trivy", "url": "http://trivy:8080", "disabled": False,
         "is_default": True},
        {"uuid": "u-clair", "name": "Clair", "url": "http://clair:6060", "disabled": False,
         "is_default": False},
        {"uuid": "u-old", "name": "Old", "url": "http://old:8080", "disabled": True,
         "is_default": False},
    ]  # fmt: skip
    # What each adapter answers to Harbor's ping (`ScannerAdapterMetadata`), None when down.
    state.scanner_adapters = {
        "u-trivy": {
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.56.1"},
            "capabilities": [{
                "consumes_mime_types": ["application/vnd.oci.image.manifest.v1+json"],
                "produces_mime_types": [
                    "application/vnd.security.vulnerability.report; version=1.1"
                ],
            }],
            "properties": {"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"},
        },
        "u-clair": None,
        "u-old": None,
    }  # fmt: skip
    state.gc_history = [
        {"id": 2, "job_name": "GARBAGE_COLLECTION", "job_kind": "SCHEDULE",
         "job_status": "Success", "deleted": False,
         "creation_time": _iso(EPOCH + timedelta(days=2)),
         "update_time": _iso(EPOCH + timedelta(days=2, minutes=5))},
        {"id": 1, "job_name": "GARBAGE_COLLECTION", "job_kind": "SCHEDULE",
         "job_status": "Error", "deleted": False,
         "creation_time": _iso(EPOCH + timedelta(days=1)),
         "update_time": _iso(EPOCH + timedelta(days=1, minutes=5))},
    ]  # fmt: skip
    state.queues = [
        {"job_type": "REPLICATION", "count": rnd.randint(0, 50), "latency": 12, "paused": False},
        {"job_type": "IMAGE_SCAN", "count": rnd.randint(0, 50), "latency": 3, "paused": False},
        {"job_type": "GARBAGE_COLLECTION", "count": 0, "latency": 0, "paused": False},
    ]
    state.components = [
        {"name": name, "status": "healthy"}
        for name in ("core", "database", "jobservice", "portal", "redis", "registry",
                     "registryctl", "trivy")
    ]  # fmt: skip
    state.security_summary = {
        "critical_cnt": rnd.randint(0, 30), "high_cnt": rnd.randint(0, 300),
        "medium_cnt": rnd.randint(0, 900), "low_cnt": rnd.randint(0, 900),
        "none_cnt": rnd.randint(0, 90), "unknown_cnt": rnd.randint(0, 9),
        "fixable_cnt": 40, "scanned_cnt": 500, "total_artifact": 800,
    }  # fmt: skip
    summary = state.security_summary
    summary["total_vuls"] = sum(v for k, v in summary.items() if k.endswith("_cnt") and k not in
                                ("fixable_cnt", "scanned_cnt"))  # fmt: skip
    state.storage = [{"total": 500 * 1024**3, "free": 123 * 1024**3}]
    state.system_info = {
        "with_notary": False, "auth_mode": "db_auth", "registry_url": "harbor.example",
        "external_url": "https://harbor.example", "project_creation_restriction": "everyone",
        "self_registration": False, "has_ca_root": False, "harbor_version": "v2.11.0-abcdef",
        "registry_storage_provider_name": "filesystem", "read_only": False,
        "with_chartmuseum": False, "notification_enable": True,
    }  # fmt: skip
    return state


def sort_by(items: list[dict[str, Any]], sort: str | None) -> list[dict[str, Any]]:
    """Harbor's `sort` parameter: comma-separated fields, `-` for descending."""
    for field_name in reversed([f for f in (sort or "").split(",") if f]):
        name = field_name.lstrip("-")
        items = sorted(items, key=lambda i: str(i.get(name, "")), reverse=field_name[0] == "-")
    return items


class HarborSimulator(SimulatorServer):
    """Harbor's `/api/v2.0` over real HTTP; `projects` sets the size (2 000 for load tests)."""

    name = "harbor"

    def __init__(
        self,
        *,
        projects: int = 20,
        repositories: int | None = None,
        seed: int = 7,
        credentials: tuple[str, str] | None = ("admin", "Harbor12345"),
        port: int = 0,
    ) -> None:
        super().__init__(port=port, credentials=credentials)
        self.state = generate_state(projects, seed=seed, repositories=repositories)
        api = "/api/v2.0"
        self.route("GET", f"{api}/health", self._health)
        self.route("GET", f"{api}/systeminfo", self._system_info)
        self.route(
            "GET",
            f"{api}/systeminfo/volumes",
            lambda r: Response({"storage": [omit_zero(s) for s in self.state.storage]}),
        )
        self.route("GET", f"{api}/statistics", self._statistics)
        self.route("GET", f"{api}/projects", lambda r: page_of(self.state.projects, r))
        self.route("GET", f"{api}/repositories", lambda r: page_of(self.state.repositories, r))
        self.route("GET", f"{api}/projects/(?P<project>[^/]+)/repositories", self._project_repos)
        self.route(
            "GET",
            f"{api}/projects/(?P<project>[^/]+)/repositories/(?P<repo>[^/]+)/artifacts",
            self._artifacts,
        )
        self.route(
            "GET",
            f"{api}/projects/(?P<project>[^/]+)/repositories/(?P<repo>[^/]+)/artifacts/"
            "(?P<reference>[^/]+)",
            self._artifact,
        )
        self.route("GET", f"{api}/quotas", self._quotas)
        self.route("GET", f"{api}/replication/policies", lambda r: page_of(self.state.policies, r))
        self.route("GET", f"{api}/replication/executions", self._executions)
        self.route("GET", f"{api}/scanners", lambda r: page_of(self.state.scanners, r))
        self.route("GET", f"{api}/scanners/(?P<uuid>[^/]+)/metadata", self._scanner_metadata)
        self.route(
            "GET",
            f"{api}/jobservice/queues",
            lambda r: Response([omit_zero(q) for q in self.state.queues]),
        )
        self.route(
            "GET",
            f"{api}/security/summary",
            lambda r: Response(omit_zero(self.state.security_summary)),
        )
        self.route(
            "GET",
            f"{api}/system/gc",
            lambda r: page_of(sort_by(self.state.gc_history, r.params.get("sort")), r),
        )

    def unauthenticated(self, path: str) -> bool:
        return path in ("/api/v2.0/health", "/api/v2.0/systeminfo")

    def error_body(self, status: int, message: str) -> Any:
        codes = {401: "UNAUTHORIZED", 404: "NOT_FOUND", 400: "BAD_REQUEST"}
        return {"errors": [{"code": codes.get(status, "UNKNOWN"), "message": message}]}

    def _system_info(self, request: Request) -> Response:
        info = self.state.system_info
        if not self.authenticated(request):
            info = {k: v for k, v in info.items() if k not in PROTECTED_INFO}
        return Response(info)

    def _health(self, request: Request) -> Response:
        healthy = all(c["status"] == "healthy" for c in self.state.components)
        return Response(
            {"status": "healthy" if healthy else "unhealthy", "components": self.state.components}
        )

    def _statistics(self, request: Request) -> Response:
        public = [p for p in self.state.projects if p["metadata"]["public"] == "true"]
        public_ids = {p["project_id"] for p in public}
        public_repos = sum(1 for r in self.state.repositories if r["project_id"] in public_ids)
        return Response(
            {
                "private_project_count": len(self.state.projects) - len(public),
                "private_repo_count": len(self.state.repositories) - public_repos,
                "public_project_count": len(public),
                "public_repo_count": public_repos,
                "total_project_count": len(self.state.projects),
                "total_repo_count": len(self.state.repositories),
                "total_storage_consumption": sum(q["used"]["storage"] for q in self.state.quotas),
            }
        )

    def _project(self, name_or_id: str) -> dict[str, Any]:
        for project in self.state.projects:
            if project["name"] == name_or_id or str(project["project_id"]) == name_or_id:
                return project
        raise HTTPError(404, self.error_body(404, f"project {name_or_id} not found"))

    def _scanner_metadata(self, request: Request) -> Response:
        """`GetScannerMetadata` (src/server/v2.0/handler/scanner.go): 404 for an unknown
        registration; Harbor pings the adapter (`basicController.Ping`) and an adapter that
        does not answer becomes an unclassified error, which Harbor sends as 500."""
        assert request.match is not None
        uuid = request.match["uuid"]
        if uuid not in self.state.scanner_adapters:
            raise HTTPError(404, self.error_body(404, f"registration {uuid} not found"))
        metadata = self.state.scanner_adapters[uuid]
        if metadata is None:
            message = "scanner controller: ping: dial tcp: connect: connection refused"
            raise HTTPError(500, self.error_body(500, message))
        return Response(metadata)

    def _project_repos(self, request: Request) -> Response:
        assert request.match is not None
        project = self._project(request.match["project"])
        repos = [r for r in self.state.repositories if r["project_id"] == project["project_id"]]
        return page_of(repos, request)

    def _repository_artifacts(self, request: Request) -> tuple[str, list[dict[str, Any]]]:
        assert request.match is not None
        project = self._project(request.match["project"])
        # Repository names arrive URL-escaped twice inside artifact paths ("a%252Fb").
        full = f"{project['name']}/{unquote(unquote(request.match['repo']))}"
        if full in self.state.artifacts:
            return full, self.state.artifacts[full]
        for repo in self.state.repositories:
            if repo["name"] == full:
                return full, [
                    {"id": repo["id"] * 100 + n, "digest": f"sha256:{repo['id']:060d}{n:04d}",
                     "repository_id": repo["id"], "project_id": project["project_id"],
                     "type": "IMAGE", "size": 1024 * (n + 1), "pull_time": None}
                    for n in range(repo["artifact_count"])
                ]  # fmt: skip
        raise HTTPError(404, self.error_body(404, f"repository {full} not found"))

    @staticmethod
    def _shown(artifact: dict[str, Any], request: Request) -> dict[str, Any]:
        """`with_tag` defaults to true, `with_label` to false (swagger: listArtifacts)."""
        shown = dict(artifact)
        if request.params.get("with_tag", "true") != "true":
            shown.pop("tags", None)
        if request.params.get("with_label", "false") != "true":
            shown.pop("labels", None)
        return shown

    def _artifacts(self, request: Request) -> Response:
        _, artifacts = self._repository_artifacts(request)
        ordered = sort_by(artifacts, request.params.get("sort"))
        response = page_of(ordered, request)
        response.body = [self._shown(a, request) for a in response.body]
        return response

    def _artifact(self, request: Request) -> Response:
        """One artifact by tag or digest (swagger: getArtifact); 404 NOT_FOUND otherwise."""
        assert request.match is not None
        full, artifacts = self._repository_artifacts(request)
        reference = unquote(request.match["reference"])
        for artifact in artifacts:
            tags = [t["name"] for t in artifact.get("tags") or ()]
            if artifact["digest"] == reference or reference in tags:
                return Response(self._shown(artifact, request))
        message = f"artifact {full}:{reference} not found"
        raise HTTPError(404, self.error_body(404, message))

    def _quotas(self, request: Request) -> Response:
        quotas = self.state.quotas
        reference_id = request.params.get("reference_id")
        if reference_id is not None:
            quotas = [q for q in quotas if str(q["ref"]["id"]) == reference_id]
        return page_of(quotas, request)

    def _executions(self, request: Request) -> Response:
        executions = self.state.executions
        policy_id = request.params.get("policy_id")
        if policy_id is not None:
            executions = [e for e in executions if str(e["policy_id"]) == policy_id]
        status = request.params.get("status")
        if status is not None:
            executions = [e for e in executions if e["status"] == status]
        return page_of(sort_by(executions, request.params.get("sort")), request)
