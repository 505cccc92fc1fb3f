"""The simulators answer as the real APIs document: paging headers, tree filtering, auth, search."""

from __future__ import annotations

import httpx

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
    assert [e["id"] for e in window] == [e["id"] for e in newest_first[:2]]
    assert [e["id"] for e in page] == [newest_first[1]["id"]]
    assert missing.status_code == 404
