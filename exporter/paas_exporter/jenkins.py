"""Jenkins collector: one nested `tree` request for every job down to the configured folder
depth, plus the queue and the computers; three requests per poll at any number of jobs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from paas_exporter.config import JenkinsTarget, NameFilter
from paas_exporter.exposition import MetricFamily
from paas_exporter.upstream import Upstream, expect_dict, expect_list, number, text

LAST_POLL = " (as of the exporter's last poll)"
# Only what the job families read: at 20 000 jobs every field asked for costs megabytes of the
# answer and of the objects it decodes into, all alive at once.
JOB_FIELDS = (
    "fullName,healthReport[score],lastBuild[number,building,timestamp],"
    "lastCompletedBuild[result,duration]"
)
FOLDER_CLASSES = frozenset(
    (
        "com.cloudbees.hudson.plugins.folder.Folder",
        "jenkins.branch.OrganizationFolder",
        "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject",
    )
)
RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED")
QUEUE_TREE = "items[id,inQueueSince,blocked,buildable,stuck,why,task[name,url]]"
COMPUTER_TREE = (
    "busyExecutors,totalExecutors,"
    "computer[displayName,offline,temporarilyOffline,idle,numExecutors,offlineCauseReason]"
)


def jobs_tree(folder_depth: int) -> str:
    """`jobs[F,jobs[F,...]]`: the jobs inside `folder_depth` levels of folders, in one request."""
    tree = f"jobs[{JOB_FIELDS}]"
    for _ in range(folder_depth):
        tree = f"jobs[{JOB_FIELDS},{tree}]"
    return tree


def _job_families() -> dict[str, MetricFamily]:
    # not "job": Prometheus keeps that label for the scrape job
    job = ("jenkins_job",)
    return {
        "result": MetricFamily(
            "jenkins_job_last_build_result",
            "gauge",
            "1 for the result of the job's last completed build" + LAST_POLL,
            ("jenkins_job", "result"),
        ),
        "number": MetricFamily(
            "jenkins_job_last_build_number",
            "gauge",
            "Number of the job's last build" + LAST_POLL,
            job,
        ),
        "duration": MetricFamily(
            "jenkins_job_last_build_duration_seconds",
            "gauge",
            "Duration of the job's last completed build" + LAST_POLL,
            job,
        ),
        "start": MetricFamily(
            "jenkins_job_last_build_start_timestamp_seconds",
            "gauge",
            "Start time of the job's last build" + LAST_POLL,
            job,
        ),
        "building": MetricFamily(
            "jenkins_job_building",
            "gauge",
            "1 while the job's last build is running" + LAST_POLL,
            job,
        ),
        "health": MetricFamily(
            "jenkins_job_health_score",
            "gauge",
            "The job's health score, 0 to 100 (worst report)" + LAST_POLL,
            job,
        ),
        "age": MetricFamily(
            "jenkins_job_running_build_age_seconds",
            "gauge",
            "How long the job's running build has been running" + LAST_POLL,
            job,
        ),
    }


def job_families(root: Any, keep: NameFilter, now: float) -> list[MetricFamily]:
    """Per-job families from the nested `tree` answer; folders are walked, not exported."""
    fam = _job_families()
    stack = [expect_list(expect_dict(root, "/api/json").get("jobs", []), "/api/json jobs")]
    while stack:
        for raw in stack.pop():
            item = expect_dict(raw, "job")
            children = item.get("jobs")
            if children is not None:  # a folder, organization folder or multibranch project
                stack.append(expect_list(children, "folder jobs"))
                continue
            if str(item.get("_class")) in FOLDER_CLASSES:
                continue  # a folder below the configured depth: its jobs were not asked for
            name = text(item.get("fullName"), "job fullName")
            if not keep(name):
                continue
            reports = expect_list(item.get("healthReport") or [], "healthReport")
            scores = [number(expect_dict(r, "healthReport").get("score"), "score") for r in reports]
            if scores:
                fam["health"].add(min(scores), name)
            last = item.get("lastBuild")
            if last is None:
                continue
            last = expect_dict(last, "lastBuild")
            building = last.get("building") is True
            started = number(last.get("timestamp"), "lastBuild.timestamp") / 1000
            fam["number"].add(number(last.get("number"), "lastBuild.number"), name)
            fam["start"].add(started, name)
            fam["building"].add(1 if building else 0, name)
            if building:
                fam["age"].add(max(0.0, now - started), name)
            completed = item.get("lastCompletedBuild")
            if completed is not None:
                completed = expect_dict(completed, "lastCompletedBuild")
                result = completed.get("result")
                if result in RESULTS:
                    fam["result"].add(1, name, result)
                duration = number(completed.get("duration"), "duration", default=0) / 1000
                fam["duration"].add(duration, name)
    return list(fam.values())


def queue_families(queue: Any, now: float) -> list[MetricFamily]:
    items = [
        expect_dict(i, "queue item")
        for i in expect_list(expect_dict(queue, "/queue/api/json").get("items", []), "queue items")
    ]
    length = MetricFamily(
        "jenkins_queue_length", "gauge", "Items waiting in the build queue" + LAST_POLL
    )
    oldest = MetricFamily(
        "jenkins_queue_oldest_wait_seconds",
        "gauge",
        "How long the oldest queue item has waited, 0 when empty" + LAST_POLL,
    )
    stuck = MetricFamily(
        "jenkins_queue_stuck", "gauge", "Queue items Jenkins marks as stuck" + LAST_POLL
    )
    length.add(len(items))
    since = [number(i.get("inQueueSince"), "inQueueSince") / 1000 for i in items]
    oldest.add(max(0.0, now - min(since)) if since else 0)
    stuck.add(sum(1 for i in items if i.get("stuck") is True))
    return [length, oldest, stuck]


def computer_families(computers: Any) -> list[MetricFamily]:
    body = expect_dict(computers, "/computer/api/json")
    nodes = [expect_dict(c, "computer") for c in expect_list(body.get("computer", []), "computer")]
    busy = MetricFamily("jenkins_executors_busy", "gauge", "Executors running a build" + LAST_POLL)
    total = MetricFamily("jenkins_executors", "gauge", "Executors on online nodes" + LAST_POLL)
    online = MetricFamily("jenkins_nodes_online", "gauge", "Nodes online" + LAST_POLL)
    offline = MetricFamily("jenkins_nodes_offline", "gauge", "Nodes offline" + LAST_POLL)
    busy.add(number(body.get("busyExecutors"), "busyExecutors"))
    total.add(number(body.get("totalExecutors"), "totalExecutors"))
    down = sum(1 for n in nodes if n.get("offline") is True)
    online.add(len(nodes) - down)
    offline.add(down)
    return [busy, total, online, offline]


async def collect_jenkins(
    upstream: Upstream, target: JenkinsTarget, now: float
) -> list[MetricFamily]:
    async with asyncio.TaskGroup() as group:
        jobs = group.create_task(
            upstream.get("/api/json", {"tree": jobs_tree(target.folder_depth)})
        )
        queue = group.create_task(upstream.get("/queue/api/json", {"tree": QUEUE_TREE}))
        computers = group.create_task(upstream.get("/computer/api/json", {"tree": COMPUTER_TREE}))
    return [
        *job_families(jobs.result()[0], target.filters.matcher(), now),
        *queue_families(queue.result()[0], now),
        *computer_families(computers.result()[0]),
    ]
