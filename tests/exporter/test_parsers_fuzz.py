"""Whatever JSON an upstream sends, the parsers either build families or raise UpstreamError."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from paas_exporter import harbor, jenkins, spinnaker
from paas_exporter.config import NameFilter

from paas_sdk.errors import UpstreamError

KEYS = [
    "name",
    "status",
    "components",
    "jobs",
    "lastBuild",
    "lastCompletedBuild",
    "timestamp",
    "number",
    "building",
    "result",
    "healthReport",
    "score",
    "items",
    "inQueueSince",
    "computer",
    "offline",
    "busyExecutors",
    "totalExecutors",
    "metadata",
    "public",
    "repo_count",
    "ref",
    "used",
    "hard",
    "storage",
    "id",
    "policy_id",
    "buildTime",
    "startTime",
    "endTime",
    "stages",
    "fullName",
    "job_type",
    "count",
    "latency",
    "health",
    "creation_time",
    "update_time",
    "job_status",
    "pull_count",
    "total",
    "free",
    "critical_cnt",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)
    ),
    max_leaves=25,
)
EVERYTHING = NameFilter([], [])


def survives(parse: Any, *args: Any) -> None:
    with contextlib.suppress(UpstreamError):
        parse(*args)


fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(json_values, json_values)
def test_harbor_parsers_never_crash(a: Any, b: Any) -> None:
    survives(harbor.health_families, a)
    survives(harbor.system_families, a, b)
    survives(
        harbor.project_families,
        a if isinstance(a, list) else [a],
        b if isinstance(b, list) else [b],
        EVERYTHING,
    )
    survives(harbor.queue_families, a)
    survives(
        harbor.replication_families,
        a if isinstance(a, list) else [a],
        {"1": b},
        {("1", "Failed"): b, ("2", "Succeed"): "12"},
    )
    survives(harbor.security_families, a)
    survives(harbor.enabled_scanners, a if isinstance(a, list) else [a])
    survives(harbor.gc_families, a if isinstance(a, list) else [a])
    survives(harbor.pull_families, a if isinstance(a, list) else [a], EVERYTHING)


@fuzz
@given(json_values)
def test_jenkins_parsers_never_crash(a: Any) -> None:
    survives(jenkins.job_families, a, EVERYTHING, 1.7e9)
    survives(jenkins.queue_families, a, 1.7e9)
    survives(jenkins.computer_families, a)


@fuzz
@given(json_values, st.lists(json_values, max_size=4), st.lists(json_values, max_size=4))
@example([], [], [{"name": "deploy"}])  # an incomplete execution without a status
def test_spinnaker_parser_never_crashes(
    configs: Any, executions: list[Any], incomplete: list[Any]
) -> None:
    survives(
        lambda: spinnaker.application_samples(
            spinnaker._families(), "app", configs, executions, 1.7e9, incomplete=incomplete
        )
    )


@fuzz
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "fullName": st.text(min_size=1, max_size=20),
                "lastBuild": st.fixed_dictionaries(
                    {
                        "number": st.integers(0, 10**6),
                        "building": st.booleans(),
                        "timestamp": st.integers(0, 2**42),
                    }
                ),
            }
        ),
        max_size=5,
    )
)
def test_any_job_name_renders_to_a_parseable_exposition(jobs: list[dict[str, Any]]) -> None:
    from paas_exporter.exposition import Exposition, render_target

    from tests.exporter.conftest import parse_samples

    families = jenkins.job_families({"jobs": jobs}, EVERYTHING, 1.7e9)
    text = Exposition.compose([render_target(families)]).text.decode()
    numbers = {
        dict(labels)["jenkins_job"]: value
        for (name, labels), value in parse_samples(text).items()
        if name == "jenkins_job_last_build_number"
    }
    assert numbers == {j["fullName"]: j["lastBuild"]["number"] for j in jobs}
