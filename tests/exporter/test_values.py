"""Exported values equal the simulated Harbor, Jenkins and Spinnaker state, series by series."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator
from tests.exporter.conftest import (
    harbor_target,
    jenkins_target,
    key,
    running_exporter,
    series,
    spinnaker_target,
)

COMPLETE = {"CANCELED", "SUCCEEDED", "STOPPED", "SKIPPED", "TERMINAL", "FAILED_CONTINUE"}


def test_harbor_values_match_the_simulated_state(harbor: HarborSimulator) -> None:
    state = harbor.state
    with running_exporter([harbor_target(harbor, repository_pulls=True)]) as exporter:
        samples = exporter.samples()

    public = {p["name"]: p["metadata"]["public"] for p in state.projects}
    assert series(samples, "harbor_project_total") == {
        key(public="true"): sum(1 for v in public.values() if v == "true"),
        key(public="false"): sum(1 for v in public.values() if v == "false"),
    }
    assert series(samples, "harbor_project_repo_total") == {
        key(project_name=p["name"], public=public[p["name"]]): p["repo_count"]
        for p in state.projects
    }
    assert series(samples, "harbor_project_quota_usage_byte") == {
        key(project_name=q["ref"]["name"]): q["used"]["storage"] for q in state.quotas
    }
    assert series(samples, "harbor_project_quota_byte") == {
        key(project_name=q["ref"]["name"]): q["hard"]["storage"] for q in state.quotas
    }
    names = {p["id"]: p["name"] for p in state.policies}
    runs = Counter((names[e["policy_id"]], e["status"]) for e in state.executions)
    assert series(samples, "harbor_replication_executions") == {
        key(policy=p, status=s): runs[p, s]
        for p in names.values()
        for s in ("InProgress", "Succeed", "Failed", "Stopped")
    }
    newest = {}
    for execution in sorted(state.executions, key=lambda e: e["start_time"]):
        newest[names[execution["policy_id"]]] = execution["status"]
    assert series(samples, "harbor_replication_last_execution_status") == {
        key(policy=p, status=s): 1 for p, s in newest.items()
    }
    summary = state.security_summary
    assert series(samples, "harbor_vulnerabilities") == {
        key(severity=s): summary[f"{s}_cnt"]
        for s in ("critical", "high", "medium", "low", "none", "unknown")
    }
    # from pinging each enabled scanner's adapter through Harbor; a disabled one is left out
    assert series(samples, "harbor_scanner_healthy") == {
        key(scanner=s["name"]): int(state.scanner_adapters[s["uuid"]] is not None)
        for s in state.scanners
        if not s["disabled"]
    }
    assert series(samples, "harbor_scanner_healthy") == {
        key(scanner="Trivy"): 1,
        key(scanner="Clair"): 0,
    }
    gc = max(state.gc_history, key=lambda g: g["creation_time"])
    assert series(samples, "harbor_gc_last_run_status") == {key(status=gc["job_status"]): 1}
    assert (
        samples["harbor_gc_last_run_timestamp_seconds", key()]
        == datetime.fromisoformat(gc["update_time"]).timestamp()
    )
    assert samples["harbor_storage_total_bytes", key()] == state.storage[0]["total"]
    assert samples["harbor_storage_free_bytes", key()] == state.storage[0]["free"]
    assert samples["harbor_health", key()] == 1
    assert series(samples, "harbor_up") == {key(component=c["name"]): 1 for c in state.components}
    assert series(samples, "harbor_task_queue_size") == {
        key(job_type=q["job_type"]): q["count"] for q in state.queues
    }
    info = state.system_info
    assert series(samples, "harbor_system_info") == {
        key(
            auth_mode=info["auth_mode"],
            harbor_version=info["harbor_version"],
            self_registration="false",
        ): 1
    }
    assert series(samples, "harbor_repository_pull_total") == {
        key(project_name=r["name"].split("/")[0], repository=r["name"].split("/", 1)[1]): r[
            "pull_count"
        ]
        for r in state.repositories
    }


def test_harbor_poll_uses_aggregate_endpoints_not_one_call_per_project(
    harbor: HarborSimulator,
) -> None:
    with running_exporter([harbor_target(harbor, interval=60)]) as exporter:
        requests = exporter.poller.targets["harbor"].requests
    # 150 projects: 2 pages of projects, 2 of quotas, 8 single requests, 5 per replication
    # policy (its newest execution, a count per status) and one per enabled scanner (its
    # adapter pinged); never one per project.
    enabled = [s for s in harbor.state.scanners if not s["disabled"]]
    assert requests == 12 + 5 * len(harbor.state.policies) + len(enabled)


def test_jenkins_values_match_the_simulated_state(jenkins: JenkinsSimulator) -> None:
    with running_exporter([jenkins_target(jenkins, folder_depth=2, interval=60)]) as exporter:
        samples = exporter.samples()
        requests = exporter.poller.targets["jenkins"].requests
    now = time.time()
    jobs = jenkins.state.iter_jobs()
    built = [j for j in jobs if j["lastBuild"] is not None]
    assert len(jobs) == 60
    assert requests == 3
    assert series(samples, "jenkins_job_last_build_number") == {
        key(jenkins_job=j["fullName"]): j["lastBuild"]["number"] for j in built
    }
    assert series(samples, "jenkins_job_last_build_result") == {
        key(jenkins_job=j["fullName"], result=j["lastCompletedBuild"]["result"]): 1 for j in built
    }
    assert series(samples, "jenkins_job_last_build_duration_seconds") == {
        key(jenkins_job=j["fullName"]): j["lastCompletedBuild"]["duration"] / 1000 for j in built
    }
    assert series(samples, "jenkins_job_last_build_start_timestamp_seconds") == {
        key(jenkins_job=j["fullName"]): j["lastBuild"]["timestamp"] / 1000 for j in built
    }
    assert series(samples, "jenkins_job_building") == {
        key(jenkins_job=j["fullName"]): int(j["lastBuild"]["building"]) for j in built
    }
    assert series(samples, "jenkins_job_health_score") == {
        key(jenkins_job=j["fullName"]): j["healthReport"][0]["score"]
        for j in jobs
        if j["healthReport"]
    }
    running = {
        j["fullName"]: now - j["lastBuild"]["timestamp"] / 1000
        for j in built
        if j["lastBuild"]["building"]
    }
    ages = series(samples, "jenkins_job_running_build_age_seconds")
    assert {dict(k)["jenkins_job"] for k in ages} == set(running)
    for labels, age in ages.items():
        assert abs(age - running[dict(labels)["jenkins_job"]]) < 10
    queue = jenkins.state.queue
    assert samples["jenkins_queue_length", key()] == len(queue)
    assert samples["jenkins_queue_stuck", key()] == sum(1 for q in queue if q["stuck"])
    oldest = now - min(q["inQueueSince"] for q in queue) / 1000
    assert abs(samples["jenkins_queue_oldest_wait_seconds", key()] - oldest) < 10
    computers = jenkins.state.computers
    assert samples["jenkins_nodes_offline", key()] == sum(1 for c in computers if c["offline"])
    assert samples["jenkins_nodes_online", key()] == sum(1 for c in computers if not c["offline"])
    assert samples["jenkins_executors_busy", key()] == jenkins.busy_executors
    assert samples["jenkins_executors", key()] == sum(
        c["numExecutors"] for c in computers if not c["offline"]
    )


def test_spinnaker_values_match_the_simulated_state(spinnaker: SpinnakerSimulator) -> None:
    with running_exporter([spinnaker_target(spinnaker)]) as exporter:
        samples = exporter.samples()
    now = time.time()
    expected_status: dict[frozenset[tuple[str, str]], float] = {}
    expected_running: dict[frozenset[tuple[str, str]], float] = {}
    expected_failed: dict[frozenset[tuple[str, str]], float] = {}
    expected_duration: dict[frozenset[tuple[str, str]], float] = {}
    expected_age: dict[frozenset[tuple[str, str]], float] = {}
    by_app: Counter[tuple[str, str]] = Counter()
    for app, configs in spinnaker.state.pipeline_configs.items():
        for config in configs:
            every = [e for e in spinnaker.state.executions[app] if e["name"] == config["name"]]
            # the exporter's window is the last day; executions older than that still count
            # while they run
            runs = [e for e in every if e["buildTime"] > (now - 86_400) * 1000]
            labels = {"application": app, "pipeline": config["name"]}
            live = [r for r in every if r["status"] not in COMPLETE]
            expected_running[key(**labels)] = len(live)
            if live:
                expected_age[key(**labels)] = now - min(r["startTime"] for r in live) / 1000
            if runs:
                last = max(runs, key=lambda r: r["buildTime"])
                expected_status[key(**labels, status=last["status"])] = 1
                expected_failed[key(**labels)] = sum(
                    1
                    for s in last["stages"]
                    if s["status"] in ("TERMINAL", "STOPPED", "FAILED_CONTINUE")
                )
                if last["endTime"] is not None:
                    expected_duration[key(**labels)] = (last["endTime"] - last["startTime"]) / 1000
            for run in runs:
                by_app[app, run["status"]] += 1
    assert series(samples, "spinnaker_pipeline_last_execution_status") == expected_status
    assert series(samples, "spinnaker_pipeline_running_executions") == expected_running
    assert series(samples, "spinnaker_pipeline_failed_stages") == expected_failed
    assert (
        series(samples, "spinnaker_pipeline_last_execution_duration_seconds") == expected_duration
    )
    assert series(samples, "spinnaker_application_executions") == {
        key(application=a, status=s): n for (a, s), n in by_app.items()
    }
    ages = series(samples, "spinnaker_pipeline_oldest_running_execution_age_seconds")
    assert ages.keys() == expected_age.keys()
    for pipeline, age in ages.items():
        assert abs(age - expected_age[pipeline]) < 10
    assert max(ages.values()) > 2.5 * 86_400  # the stuck ones, started days ago


def test_spinnaker_executions_beyond_two_search_pages_are_all_counted() -> None:
    """Orca answers `[]` from index 2 x size on: the exporter must page by build time."""
    with SpinnakerSimulator(applications=1, pipelines=3, executions=200, stuck_every=0) as sim:
        target = spinnaker_target(sim, search_page_size=40, interval=60)
        with running_exporter([target]) as exporter:
            samples = exporter.samples()
        runs = sim.state.executions["app000"]
    assert len(runs) > 5 * 40
    assert series(samples, "spinnaker_application_executions") == {
        key(application="app000", status=s): n
        for s, n in Counter(r["status"] for r in runs).items()
    }
    live = Counter(r["name"] for r in runs if r["status"] not in COMPLETE)
    assert series(samples, "spinnaker_pipeline_running_executions") == {
        key(application="app000", pipeline=c["name"]): live[c["name"]]
        for c in sim.state.pipeline_configs["app000"]
    }


def test_filters_bound_cardinality(harbor: HarborSimulator, jenkins: JenkinsSimulator) -> None:
    targets = [
        harbor_target(harbor, filters={"include": ["project-00.."], "exclude": ["project-0042"]}),
        jenkins_target(jenkins, filters={"exclude": ["l0-00/.*"]}),
    ]
    with running_exporter(targets) as exporter:
        samples = exporter.samples()
    projects = {dict(k)["project_name"] for k in series(samples, "harbor_project_quota_byte")}
    assert projects == {f"project-{i:04d}" for i in range(100)} - {"project-0042"}
    jobs = {dict(k)["jenkins_job"] for k in series(samples, "jenkins_job_last_build_number")}
    expected = {j["fullName"] for j in jenkins.state.iter_jobs() if j["lastBuild"]}
    assert jobs == {j for j in expected if not j.startswith("l0-00/")}
    assert jobs


def test_series_of_a_deleted_project_disappear_on_the_next_poll(harbor: HarborSimulator) -> None:
    with running_exporter([harbor_target(harbor)]) as exporter:
        assert key(project_name="project-0007") in series(
            exporter.samples(), "harbor_project_quota_byte"
        )
        harbor.state.projects = [p for p in harbor.state.projects if p["name"] != "project-0007"]
        harbor.state.quotas = [q for q in harbor.state.quotas if q["ref"]["name"] != "project-0007"]
        exporter.poll_again(2)
        samples = exporter.samples()
    assert key(project_name="project-0007") not in series(samples, "harbor_project_quota_byte")
    assert len(series(samples, "harbor_project_quota_byte")) == 149


def test_several_targets_of_one_kind_get_their_name_as_a_label(harbor: HarborSimulator) -> None:
    with HarborSimulator(projects=3, seed=99) as other:
        targets = [harbor_target(harbor, name="prod"), harbor_target(other, name="staging")]
        with running_exporter(targets) as exporter:
            samples = exporter.samples()
    totals = series(samples, "harbor_project_total")
    assert (
        totals[key(harbor="staging", public="true")] + totals[key(harbor="staging", public="false")]
        == 3
    )
    assert (
        totals[key(harbor="prod", public="true")] + totals[key(harbor="prod", public="false")]
        == 150
    )
    assert all("harbor" in dict(k) for k in series(samples, "harbor_up"))


def test_jobs_below_the_folder_depth_are_not_fetched_and_folders_are_not_jobs(
    jenkins: JenkinsSimulator,
) -> None:
    # The simulated jobs sit two folder levels deep; a depth of 1 reaches only the folders.
    with running_exporter([jenkins_target(jenkins, folder_depth=1)]) as exporter:
        samples = exporter.samples()
    assert series(samples, "jenkins_job_health_score") == {}
    assert series(samples, "jenkins_job_last_build_number") == {}
    assert samples["paas_exporter_target_up", key(target="jenkins", kind="jenkins")] == 1
