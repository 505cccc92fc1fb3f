"""The simulators answer as the real APIs document: paging headers, tree filtering, auth, search."""

from __future__ import annotations

import time

import httpx
import pytest

from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator
from paas_sdk.testing.simulators.jenkins import parse_tree

HARBOR_AUTH = ("admin", "Harbor12345")


def test_harbor_pages_with_total_count_and_link_headers(harbor: HarborSimulator) -> None:
    response = httpx.get(
        harbor.url + "/api/v2.0/projects", params={"page": 2, "page_size": 100}, auth=HARBOR_AUTH
    )
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "150"
    assert response.headers["Link"] == '</api/v2.0/projects?page=1&page_size=100>; rel="prev"'
    assert [p["name"] for p in response.json()] == [f"project-{i:04d}" for i in range(100, 150)]
    default = httpx.get(harbor.url + "/api/v2.0/projects", auth=HARBOR_AUTH)
    assert len(default.json()) == 10  # Harbor's default page size
    assert 'page=2&page_size=10>; rel="next"' in default.headers["Link"]


def test_harbor_refuses_pages_over_100_and_missing_credentials(harbor: HarborSimulator) -> None:
    too_big = httpx.get(
        harbor.url + "/api/v2.0/projects", params={"page_size": 101}, auth=HARBOR_AUTH
    )
    anonymous = httpx.get(harbor.url + "/api/v2.0/projects")
    health = httpx.get(harbor.url + "/api/v2.0/health")
    assert too_big.status_code == 400
    assert too_big.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert health.status_code == 200


def test_harbor_artifacts_take_a_double_escaped_repository_name(harbor: HarborSimulator) -> None:
    repository = harbor.state.repositories[0]
    project, name = repository["name"].split("/", 1)
    response = httpx.get(
        f"{harbor.url}/api/v2.0/projects/{project}/repositories/{name}/artifacts",
        auth=HARBOR_AUTH,
    )
    assert len(response.json()) == repository["artifact_count"]


def test_jenkins_tree_returns_only_requested_fields(jenkins: JenkinsSimulator) -> None:
    response = httpx.get(
        jenkins.url + "/api/json",
        params={"tree": "jobs[name,jobs[name,color]{0,1}]"},
        auth=("exporter", "api-token"),
    )
    top = response.json()["jobs"][0]
    assert response.headers["content-type"].startswith("application/json")
    assert set(top) == {"_class", "name", "jobs"}
    assert len(top["jobs"]) == 1
    assert set(top["jobs"][0]) <= {"_class", "name", "color"}


def test_jenkins_tree_parser_reads_nesting_and_ranges() -> None:
    assert parse_tree("a,b[c,d[e]]{2,5}") == {
        "a": (None, None),
        "b": ({"c": (None, None), "d": ({"e": (None, None)}, None)}, (2, 5)),
    }


def test_jenkins_answers_one_folder(jenkins: JenkinsSimulator) -> None:
    folder = jenkins.state.iter_folders()[-1]
    path = "".join(f"/job/{part}" for part in folder["fullName"].split("/"))
    response = httpx.get(
        jenkins.url + path + "/api/json",
        params={"tree": "jobs[fullName]"},
        auth=("exporter", "api-token"),
    )
    assert [j["fullName"] for j in response.json()["jobs"]] == [
        j["fullName"] for j in folder["jobs"]
    ]


def test_spinnaker_search_honours_the_time_window_and_paging(spinnaker: SpinnakerSimulator) -> None:
    runs = spinnaker.state.executions["app000"]
    newest_first = sorted(runs, key=lambda e: e["buildTime"], reverse=True)
    boundary = newest_first[1]["buildTime"]
    url = spinnaker.url + "/applications/app000/executions/search"
    window = httpx.get(url, params={"triggerTimeStartBoundary": boundary, "size": 100}).json()
    page = httpx.get(url, params={"startIndex": 1, "size": 1}).json()
    missing = httpx.get(spinnaker.url + "/applications/nope/pipelineConfigs")
    assert [e["id"] for e in window] == [e["id"] for e in newest_first[:1]]  # bounds exclusive
    assert [e["id"] for e in page] == [newest_first[1]["id"]]
    assert missing.status_code == 404


def test_spinnaker_search_pages_as_orca_does(spinnaker: SpinnakerSimulator) -> None:
    """Pages of 2 x size, stopping at `size` matches: nothing at or past index 2 x size."""
    url = spinnaker.url + "/applications/*/executions/search"
    total = sum(len(runs) for runs in spinnaker.state.executions.values())
    assert total > 6
    assert len(httpx.get(url, params={"size": 3, "startIndex": 3}).json()) == 3
    assert httpx.get(url, params={"size": 3, "startIndex": 6}).json() == []
    newest = sorted(
        (e for runs in spinnaker.state.executions.values() for e in runs),
        key=lambda e: e["buildTime"],
        reverse=True,
    )
    end = newest[2]["buildTime"]
    below = httpx.get(url, params={"size": 1, "triggerTimeEndBoundary": end}).json()
    assert [e["id"] for e in below] == [newest[3]["id"]]


def test_spinnaker_search_refuses_bad_bounds_and_leaves_stages_unexpanded(
    spinnaker: SpinnakerSimulator,
) -> None:
    url = spinnaker.url + "/applications/app000/executions/search"
    for params in (
        {"triggerTimeStartBoundary": -1},
        {"triggerTimeStartBoundary": 5, "triggerTimeEndBoundary": 4},
        {"startIndex": -1},
        {"size": 0},
    ):
        assert httpx.get(url, params=params).status_code == 400, params
    [execution] = httpx.get(url, params={"size": 1}).json()
    assert all(s["context"] == {} and s["tasks"] == [] for s in execution["stages"])
    [expanded] = httpx.get(url, params={"size": 1, "expand": "true"}).json()
    assert any(s["context"] for s in expanded["stages"])


def test_spinnaker_has_executions_days_old_that_still_run(spinnaker: SpinnakerSimulator) -> None:
    now_ms = time.time() * 1000
    stuck = [
        e
        for runs in spinnaker.state.executions.values()
        for e in runs
        if e["status"] == "RUNNING" and now_ms - e["buildTime"] > 2 * 86_400_000
    ]
    assert stuck


def test_jenkins_tree_ranges_read_as_jenkins_reads_them() -> None:
    def ranges(tree: str) -> object:
        return parse_tree(tree)["jobs"][1]

    assert ranges("jobs{3}") == (3, 4)
    assert ranges("jobs{3,}") == (3, 2**31 - 1)
    assert ranges("jobs{,3}") == (0, 3)
    assert ranges("jobs{1,3}") == (1, 3)
    assert parse_tree(" name") == {" name": (None, None)}
    for bad in ("jobs{x}", "jobs{1,2", "a,,b", "jobs[name", "jobs{}", ""):
        with pytest.raises(ValueError, match="expected"):
            parse_tree(bad)


def test_jenkins_range_of_one_returns_that_one_item(jenkins: JenkinsSimulator) -> None:
    response = httpx.get(
        jenkins.url + "/api/json",
        params={"tree": "jobs[name]{1}"},
        auth=("exporter", "api-token"),
    )
    assert [j["name"] for j in response.json()["jobs"]] == [jenkins.state.root["jobs"][1]["name"]]


def test_harbor_omits_zero_numbers_and_protects_the_version(harbor: HarborSimulator) -> None:
    harbor.state.storage = [{"total": 10, "free": 0}]
    volumes = httpx.get(f"{harbor.url}/api/v2.0/systeminfo/volumes", auth=HARBOR_AUTH).json()
    assert volumes == {"storage": [{"total": 10}]}
    queues = httpx.get(f"{harbor.url}/api/v2.0/jobservice/queues", auth=HARBOR_AUTH).json()
    assert all("paused" in q for q in queues)
    assert all("count" not in q for q in queues if q["job_type"] == "GARBAGE_COLLECTION")
    anonymous = httpx.get(f"{harbor.url}/api/v2.0/systeminfo").json()
    signed_in = httpx.get(f"{harbor.url}/api/v2.0/systeminfo", auth=HARBOR_AUTH).json()
    assert "harbor_version" not in anonymous
    assert anonymous["auth_mode"] == "db_auth"
    assert signed_in["harbor_version"] == harbor.state.system_info["harbor_version"]


def test_spinnaker_executions_by_config_expand_by_default(spinnaker: SpinnakerSimulator) -> None:
    config = spinnaker.state.pipeline_configs["app000"][0]["id"]
    url = spinnaker.url + "/executions"
    expanded = httpx.get(url, params={"pipelineConfigIds": config, "limit": 5}).json()
    brief = httpx.get(url, params={"pipelineConfigIds": config, "limit": 5, "expand": "false"})
    assert any(s["context"] for e in expanded for s in e["stages"])
    assert all(s["context"] == {} for e in brief.json() for s in e["stages"])
