"""Upstream requests and poll time per poll, against the request patterns of existing exporters.

- Harbor: paas-exporter's aggregate, paged, concurrent poll against the c4po/harbor_exporter
  pattern (projects, then each project's repositories, then each repository's artifacts, serial).
- Jenkins: one nested `tree` request against the lovoo/jenkins_exporter pattern (one request per
  folder, walked recursively).
Both patterns run against the same simulators, with the same per-request latency.

    .venv/bin/python benchmarks/exporter_requests.py [--quick]
"""

from __future__ import annotations

import sys
import time
from typing import Any
from urllib.parse import quote

import httpx
from _exporter_setup import config_for, large_simulators, poll_directly

from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator

LATENCY = 0.002  # seconds a real server spends per request at the least


def harbor_n_plus_one(harbor: HarborSimulator) -> tuple[int, float]:
    """c4po's shape: everything serial, per project then per repository."""
    requests = 0
    started = time.perf_counter()
    with httpx.Client(
        base_url=harbor.url + "/api/v2.0", auth=("admin", "Harbor12345"), timeout=30
    ) as client:

        def pages(path: str) -> list[Any]:
            nonlocal requests
            items: list[Any] = []
            page = 1
            while True:
                requests += 1
                body = client.get(path, params={"page": page, "page_size": 100}).json()
                items.extend(body)
                if len(body) < 100:
                    return items
                page += 1

        for project in pages("/projects"):
            for repository in pages(f"/projects/{project['name']}/repositories"):
                name = repository["name"].split("/", 1)[1]
                escaped = quote(quote(name, safe=""), safe="")
                pages(f"/projects/{project['name']}/repositories/{escaped}/artifacts")
    return requests, time.perf_counter() - started


def jenkins_per_folder(jenkins: JenkinsSimulator) -> tuple[int, float]:
    """lovoo's shape: a tree request for one folder, then one for each sub-folder, serial."""
    requests = 0
    tree = (
        "jobs[name,url,color,lastBuild[number,timestamp,duration,result],"
        "lastCompletedBuild[number,timestamp,duration]]"
    )
    started = time.perf_counter()
    with httpx.Client(base_url=jenkins.url, auth=("exporter", "api-token"), timeout=30) as client:

        def walk(path: str) -> None:
            nonlocal requests
            requests += 1
            for job in client.get(path + "/api/json", params={"tree": tree}).json().get("jobs", []):
                if job["_class"].endswith("Folder"):
                    walk(f"{path}/job/{job['name']}")

        walk("")
    return requests, time.perf_counter() - started


def main() -> None:
    quick = "--quick" in sys.argv
    harbor, jenkins = large_simulators(quick)
    try:
        harbor.faults.latency = jenkins.faults.latency = LATENCY
        _, ours, seconds = poll_directly(config_for(harbor, jenkins))
        harbor_requests, harbor_seconds = harbor_n_plus_one(harbor)
        jenkins_requests, jenkins_seconds = jenkins_per_folder(jenkins)
        projects, jobs = len(harbor.state.projects), len(jenkins.state.iter_jobs())
    finally:
        harbor.stop()
        jenkins.stop()
    print(
        f"Harbor, {projects} projects: paas-exporter {ours['harbor']} requests "
        f"in {seconds['harbor']:.2f} s; "
        f"c4po pattern {harbor_requests} requests in {harbor_seconds:.2f} s"
    )
    print(
        f"  ratio: {harbor_requests / ours['harbor']:.0f}x fewer requests (target >= 10x), "
        f"{harbor_seconds / seconds['harbor']:.0f}x faster poll (target >= 10x)"
    )
    print(
        f"Jenkins, {jobs} jobs: paas-exporter {ours['jenkins']} requests "
        f"in {seconds['jenkins']:.2f} s; "
        f"lovoo pattern {jenkins_requests} requests in {jenkins_seconds:.2f} s"
    )
    print(
        f"  ratio: {jenkins_requests / ours['jenkins']:.0f}x fewer requests (target >= 10x), "
        f"{jenkins_seconds / seconds['jenkins']:.1f}x faster poll"
    )


if __name__ == "__main__":
    main()
