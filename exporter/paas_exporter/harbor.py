"""Harbor collector: a handful of aggregate endpoints per poll, lists paged at 100, no per-project
or per-repository calls (pull counts come from the all-projects `/repositories` list, opt-in).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote

from paas_exporter.config import HarborTarget, NameFilter
from paas_exporter.exposition import MetricFamily
from paas_exporter.upstream import Upstream, expect_dict, expect_list, identifier, number, text
from paas_sdk.errors import UpstreamError

API = "/api/v2.0"
LAST_POLL = " (as of the exporter's last poll)"
# The statuses Harbor's replication API reports for an execution.
REPLICATION_STATUSES = ("InProgress", "Succeed", "Failed", "Stopped")
SEVERITIES = ("critical", "high", "medium", "low", "none", "unknown")


def parse_time(value: Any, where: str) -> float:
    """Harbor's RFC 3339 time as epoch seconds."""
    try:
        return datetime.fromisoformat(text(value, where)).timestamp()
    except ValueError:
        raise UpstreamError(f"expected an RFC 3339 time, got {value!r:.60}", where=where) from None


def _flag(value: Any) -> str:
    return "true" if value is True or value == "true" else "false"


def health_families(health: Any) -> list[MetricFamily]:
    body = expect_dict(health, "/health")
    overall = MetricFamily(
        "harbor_health", "gauge", "1 when Harbor reports itself healthy" + LAST_POLL
    )
    overall.add(1 if body.get("status") == "healthy" else 0)
    up = MetricFamily(
        "harbor_up", "gauge", "1 when the Harbor component is healthy" + LAST_POLL, ("component",)
    )
    for item in expect_list(body.get("components", []), "/health components"):
        component = expect_dict(item, "/health component")
        up.add(
            1 if component.get("status") == "healthy" else 0,
            text(component.get("name"), "/health component name"),
        )
    return [overall, up]


def system_families(info: Any, volumes: Any) -> list[MetricFamily]:
    body = expect_dict(info, "/systeminfo")
    family = MetricFamily(
        "harbor_system_info",
        "info",
        "Harbor's version and settings" + LAST_POLL,
        ("auth_mode", "harbor_version", "self_registration"),
    )
    family.add(
        1,
        str(body.get("auth_mode", "")),
        str(body.get("harbor_version", "")),
        _flag(body.get("self_registration")),
    )
    storage = expect_list(expect_dict(volumes, "/systeminfo/volumes").get("storage", []), "storage")
    total = MetricFamily(
        "harbor_storage_total_bytes",
        "gauge",
        "Size of Harbor's registry storage volume" + LAST_POLL,
    )
    free = MetricFamily(
        "harbor_storage_free_bytes",
        "gauge",
        "Free space on Harbor's registry storage volume" + LAST_POLL,
    )
    if storage:
        # Harbor's models leave zero numbers out (go-swagger omitempty): absent means 0.
        disks = [expect_dict(s, "storage") for s in storage]
        total.add(sum(number(s.get("total"), "storage.total", default=0) for s in disks))
        free.add(sum(number(s.get("free"), "storage.free", default=0) for s in disks))
    return [family, total, free]


def project_families(
    projects: list[Any], quotas: list[Any], keep: NameFilter
) -> list[MetricFamily]:
    count = MetricFamily(
        "harbor_project_total", "gauge", "Projects by visibility" + LAST_POLL, ("public",)
    )
    repos = MetricFamily(
        "harbor_project_repo_total",
        "gauge",
        "Repositories in the project" + LAST_POLL,
        ("project_name", "public"),
    )
    usage = MetricFamily(
        "harbor_project_quota_usage_byte",
        "gauge",
        "Storage the project uses" + LAST_POLL,
        ("project_name",),
    )
    hard = MetricFamily(
        "harbor_project_quota_byte",
        "gauge",
        "The project's storage quota, -1 for unlimited" + LAST_POLL,
        ("project_name",),
    )
    by_visibility: Counter[str] = Counter({"true": 0, "false": 0})
    for item in projects:
        project = expect_dict(item, "/projects item")
        name = text(project.get("name"), "/projects name")
        if not keep(name):
            continue
        public = _flag(
            expect_dict(project.get("metadata") or {}, "/projects metadata").get("public")
        )
        by_visibility[public] += 1
        repos.add(
            number(project.get("repo_count"), "/projects repo_count", default=0), name, public
        )
    for public, value in sorted(by_visibility.items()):
        count.add(value, public)
    for item in quotas:
        quota = expect_dict(item, "/quotas item")
        name = text(expect_dict(quota.get("ref"), "/quotas ref").get("name"), "/quotas ref.name")
        if not keep(name):
            continue
        usage.add(
            number(
                expect_dict(quota.get("used"), "/quotas used").get("storage"),
                "/quotas used.storage",
                default=0,
            ),
            name,
        )
        hard.add(
            number(
                expect_dict(quota.get("hard"), "/quotas hard").get("storage"),
                "/quotas hard.storage",
                default=-1,
            ),
            name,
        )
    return [count, repos, usage, hard]


def queue_families(queues: Any) -> list[MetricFamily]:
    size = MetricFamily(
        "harbor_task_queue_size",
        "gauge",
        "Jobs waiting in the job service queue" + LAST_POLL,
        ("job_type",),
    )
    latency = MetricFamily(
        "harbor_task_queue_latency_seconds",
        "gauge",
        "Age of the oldest job in the queue" + LAST_POLL,
        ("job_type",),
    )
    if queues is not None:
        for item in expect_list(queues, "/jobservice/queues"):
            queue = expect_dict(item, "/jobservice/queues item")
            job_type = text(queue.get("job_type"), "/jobservice/queues job_type")
            size.add(number(queue.get("count"), "queue count", default=0), job_type)
            latency.add(number(queue.get("latency"), "queue latency", default=0), job_type)
    return [size, latency]


def replication_families(
    policies: list[Any], newest: dict[str, Any], counts: dict[tuple[str, str], Any]
) -> list[MetricFamily]:
    """`newest`: policy id -> its newest execution list (page of 1, sorted by -start_time);
    `counts`: (policy id, status) -> X-Total-Count of the executions in that status."""
    runs = MetricFamily(
        "harbor_replication_executions",
        "gauge",
        "Replication executions of the policy in this status" + LAST_POLL,
        ("policy", "status"),
    )
    last = MetricFamily(
        "harbor_replication_last_execution_status",
        "gauge",
        "1 for the status of the policy's newest replication execution" + LAST_POLL,
        ("policy", "status"),
    )
    for item in policies:
        policy = expect_dict(item, "/replication/policies item")
        policy_id = identifier(policy.get("id"), "policy id")
        name = text(policy.get("name"), "policy name")
        for status in REPLICATION_STATUSES:
            total = counts.get((policy_id, status))
            if total is not None:
                runs.add(_count(total, "/replication/executions X-Total-Count"), name, status)
        page = expect_list(newest.get(policy_id, []), "/replication/executions")
        if page:
            execution = expect_dict(page[0], "/replication/executions item")
            last.add(1, name, text(execution.get("status"), "execution status"))
    return [runs, last]


def _count(value: Any, where: str) -> int:
    if not isinstance(value, str) or not value.isdigit():
        raise UpstreamError(f"expected a count, got {value!r:.60}", where=where)
    return int(value)


async def _replication(
    upstream: Upstream, policies: list[Any]
) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """Per policy: its newest execution, and per status a page of 1 whose X-Total-Count is the
    number of executions in it; the request count stays fixed however long the history grows."""
    path = API + "/replication/executions"
    ids = [
        identifier(expect_dict(p, "/replication/policies item").get("id"), "policy id")
        for p in policies
    ]

    async def newest(policy_id: str) -> tuple[str, Any]:
        query: dict[str, str | int] = {
            "policy_id": policy_id,
            "sort": "-start_time",
            "page": 1,
            "page_size": 1,
        }
        return policy_id, (await upstream.get(path, query))[0]

    async def total(policy_id: str, status: str) -> tuple[tuple[str, str], Any]:
        query: dict[str, str | int] = {
            "policy_id": policy_id,
            "status": status,
            "page": 1,
            "page_size": 1,
        }
        return (policy_id, status), (await upstream.get(path, query))[1].get("x-total-count")

    newest_pages = await asyncio.gather(*(newest(i) for i in ids))
    totals = await asyncio.gather(*(total(i, s) for i in ids for s in REPLICATION_STATUSES))
    return dict(newest_pages), dict(totals)


def security_families(summary: Any) -> list[MetricFamily]:
    family = MetricFamily(
        "harbor_vulnerabilities",
        "gauge",
        "Vulnerabilities found in scanned artifacts, by severity" + LAST_POLL,
        ("severity",),
    )
    if summary is not None:
        body = expect_dict(summary, "/security/summary")
        for severity in SEVERITIES:
            family.add(number(body.get(f"{severity}_cnt"), f"{severity}_cnt", default=0), severity)
    return [family]


def scanner_families(scanners: list[tuple[str, bool]]) -> list[MetricFamily]:
    family = MetricFamily(
        "harbor_scanner_healthy",
        "gauge",
        "1 when Harbor reaches the enabled scanner's adapter" + LAST_POLL,
        ("scanner",),
    )
    for name, healthy in scanners:
        family.add(1 if healthy else 0, name)
    return [family]


def enabled_scanners(scanners: list[Any]) -> list[tuple[str, str]]:
    """(uuid, name) of each scanner registration not disabled."""
    enabled = []
    for item in scanners:
        scanner = expect_dict(item, "/scanners item")
        if scanner.get("disabled") is not True:
            uuid = text(scanner.get("uuid"), "scanner uuid")
            enabled.append((uuid, text(scanner.get("name"), "scanner name")))
    return enabled


async def _scanner_health(upstream: Upstream, size: int) -> list[tuple[str, bool]]:
    """Each enabled scanner and whether Harbor reaches its adapter. The list has no health:
    Harbor stores none (`Registration.Health` is `orm:"-"`, src/pkg/scan/dao/scanner/model.go)
    and pings adapters only when asked for one's metadata (`GetMetadata`,
    src/controller/scanner/base_controller.go; the answer is cached there for 30 s): 200 when
    the adapter answers; a 5xx (or a 404 for a registration removed meanwhile) reads as not
    reached."""
    enabled = enabled_scanners(await upstream.get_pages(API + "/scanners", size))

    async def reached(uuid: str) -> bool:
        path = f"{API}/scanners/{quote(uuid, safe='')}/metadata"
        body, _ = await upstream.get(path, missing_ok=True, unavailable_ok=True)
        return body is not None

    async with asyncio.TaskGroup() as group:
        answers = [(name, group.create_task(reached(uuid))) for uuid, name in enabled]
    return [(name, answer.result()) for name, answer in answers]


def gc_families(history: list[Any]) -> list[MetricFamily]:
    status = MetricFamily(
        "harbor_gc_last_run_status",
        "gauge",
        "1 for the status of the newest garbage collection" + LAST_POLL,
        ("status",),
    )
    when = MetricFamily(
        "harbor_gc_last_run_timestamp_seconds",
        "gauge",
        "When the newest garbage collection last changed" + LAST_POLL,
    )
    if history:
        runs = [expect_dict(item, "/system/gc item") for item in history]
        newest = max(runs, key=lambda run: parse_time(run.get("creation_time"), "gc creation_time"))
        status.add(1, text(newest.get("job_status"), "gc job_status"))
        when.add(
            parse_time(newest.get("update_time") or newest.get("creation_time"), "gc update_time")
        )
    return [status, when]


def pull_families(repositories: list[Any], keep: NameFilter) -> list[MetricFamily]:
    family = MetricFamily(
        "harbor_repository_pull_total",
        "counter",
        "Pulls of the repository" + LAST_POLL,
        ("project_name", "repository"),
    )
    for item in repositories:
        repository = expect_dict(item, "/repositories item")
        project, _, name = text(repository.get("name"), "repository name").partition("/")
        if keep(project):
            family.add(number(repository.get("pull_count"), "pull_count", default=0), project, name)
    return [family]


async def _replication_after(
    upstream: Upstream, policies: asyncio.Task[list[Any]]
) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    return await _replication(upstream, await policies)


async def collect_harbor(upstream: Upstream, target: HarborTarget) -> list[MetricFamily]:
    """One poll of one Harbor: about a dozen requests plus one per 100 projects (and quotas)
    and one per enabled scanner."""
    size = target.page_size
    keep = target.filters.matcher()

    async def body(path: str, **params: str | int) -> Any:
        return (await upstream.get(API + path, params))[0]

    async def optional(path: str) -> Any:
        return (await upstream.get(API + path, missing_ok=True))[0]

    async with asyncio.TaskGroup() as group:
        health = group.create_task(body("/health"))
        info = group.create_task(body("/systeminfo"))
        volumes = group.create_task(body("/systeminfo/volumes"))
        projects = group.create_task(upstream.get_pages(API + "/projects", size))
        quotas = group.create_task(
            upstream.get_pages(API + "/quotas", size, {"reference": "project"})
        )
        queues = group.create_task(optional("/jobservice/queues"))
        policies = group.create_task(upstream.get_pages(API + "/replication/policies", size))
        summary = group.create_task(optional("/security/summary"))
        scanners = group.create_task(_scanner_health(upstream, size))
        replication = group.create_task(_replication_after(upstream, policies))
        gc = group.create_task(body("/system/gc", page=1, page_size=1, sort="-creation_time"))
        repositories = (
            group.create_task(upstream.get_pages(API + "/repositories", size))
            if target.repository_pulls
            else None
        )
    families = [
        *health_families(health.result()),
        *system_families(info.result(), volumes.result()),
        *project_families(projects.result(), quotas.result(), keep),
        *queue_families(queues.result()),
        *replication_families(policies.result(), *replication.result()),
        *security_families(summary.result()),
        *scanner_families(scanners.result()),
        *gc_families(expect_list(gc.result(), "/system/gc")),
    ]
    if repositories is not None:
        families.extend(pull_families(repositories.result(), keep))
    return families
