"""Linking an image to the Jenkins build that pushed it, from tags a pipeline chose."""

from __future__ import annotations

import re

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
