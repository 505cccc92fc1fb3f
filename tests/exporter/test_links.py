"""Linking an image to the Jenkins build that pushed it, from tags a pipeline chose."""

from __future__ import annotations

import re
from typing import Any

import pytest
from paas_exporter.config import DEFAULT_TAG_PATTERN
from paas_exporter.delivery.links import ArtifactFact, BuildFact, Unlinked, match_build

BUILD = BuildFact(
    number=7,
    start_s=1_790_000_000.0,
    end_s=1_790_000_100.0,
    result="SUCCESS",
    revision=None,
    commits=(),
    remote=None,
)


def artifact(tag: str) -> ArtifactFact:
    return ArtifactFact(digest="sha256:0", push_s=1_790_000_200.0, revision=None, tags=(tag,))


@pytest.mark.parametrize("tag", ["1.4_20261399_1200", "1.4_20260230_1200", "1.4_20261129_2561"])
def test_digits_that_are_no_date_link_to_no_build(tag: str) -> None:
    with pytest.raises(Unlinked) as caught:
        match_build({7: BUILD}, artifact(tag), tag, re.compile(DEFAULT_TAG_PATTERN))
    assert caught.value.reason == "no_build"


@pytest.mark.parametrize("tag", ["1.4-b7x", "1.4-b_7"])
def test_a_number_group_that_is_no_number_links_to_no_build(tag: str) -> None:
    pattern = re.compile(r"(?P<version>.+)-b(?P<number>\w+)")
    with pytest.raises(Unlinked) as caught:
        match_build({7: BUILD}, artifact(tag), tag, pattern)
    assert caught.value.reason == "no_build"


def test_a_build_number_in_the_tag_links_to_that_build() -> None:
    pattern = re.compile(r"(?P<version>.+)-b(?P<number>\d+)")
    assert match_build({7: BUILD}, artifact("1.4-b7"), "1.4-b7", pattern) is BUILD


def test_each_deploy_stage_of_a_promotion_pipeline_is_its_own_deploy() -> None:
    from paas_exporter.config import DeliveryConfig
    from paas_exporter.delivery.links import deploy_facts, environment_matchers

    config = DeliveryConfig.model_validate(
        {
            "spinnaker": "s",
            "harbor": "h",
            "jenkins": "j",
            "environments": {"staging": ["staging-k8s"], "production": ["prod-k8s"]},
        }
    )

    def stage(ident: str, kind: str, status: str, account: str | None = None) -> dict[str, Any]:
        context = {"account": account} if account else {}
        return {"id": ident, "type": kind, "status": status, "startTime": 1000, "endTime": 2000,
                "context": context}  # fmt: skip

    execution = {
        "id": "E1",
        "application": "svc",
        "buildTime": 500,
        "stages": [
            stage("s0", "deployManifest", "SUCCEEDED", "dev-k8s"),  # tracked by no environment
            stage("s1", "deployManifest", "SUCCEEDED", "staging-k8s"),
            stage("s2", "kayentaCanary", "SUCCEEDED"),
            stage("s3", "manualJudgment", "SUCCEEDED"),
            stage("s4", "deployManifest", "SUCCEEDED", "prod-k8s"),
            stage("s5", "kayentaCanary", "TERMINAL"),
        ],
    }
    facts = deploy_facts(execution, config, environment_matchers(config))
    assert [(f.id, f.execution, f.environment, f.verification_failed) for f in facts] == [
        ("E1/s1", "E1", "staging", False),
        ("E1/s4", "E1", "production", True),
    ]
