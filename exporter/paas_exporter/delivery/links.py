"""Reading the chain's links out of each system's own answers: the deploy and its image from a
Spinnaker execution, the revision and push time from a Harbor artifact, the revision and commits
from a Jenkins build. Pure functions over decoded JSON; a missing link is a reason, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from paas_exporter.config import DeliveryConfig, NameFilter
from paas_exporter.upstream import expect_dict, expect_list, number, text
from paas_sdk.errors import UpstreamError

#: Orca's complete statuses (`ExecutionStatus.isComplete`) and those that count as failures.
COMPLETE = frozenset(("CANCELED", "SUCCEEDED", "STOPPED", "SKIPPED", "TERMINAL", "FAILED_CONTINUE"))
FAILED = frozenset(("TERMINAL", "STOPPED", "FAILED_CONTINUE"))
REVISION_KEY = "org.opencontainers.image.revision"


class Unlinked(Exception):  # noqa: N818 - a reason, not an error
    """A link that cannot be made; `reason` is the metric's label value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DeployFact:
    """What one deploy (or rollback) stage of an execution says about a tracked environment."""

    #: The execution's id and the stage's: a promotion pipeline deploys more than once.
    id: str
    #: The execution's id: what is remembered as counted, across polls and restarts.
    execution: str
    application: str
    environment: str
    build_ms: int
    end_s: float
    #: "succeeded", "failed" or "canceled" (the deploy stage's own status); "rollback".
    result: str
    start_s: float
    verification_failed: bool
    image: str | None


def environment_matchers(config: DeliveryConfig) -> list[tuple[str, NameFilter]]:
    return [(env, NameFilter(patterns, [])) for env, patterns in config.environments.items()]


def deploy_stages(
    execution: dict[str, Any], config: DeliveryConfig, envs: list[tuple[str, NameFilter]]
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """(stages, each deploy stage to a tracked environment with it); when the execution has no
    deploy stage at all, its rollback stages instead. Empty when it deploys nowhere tracked;
    known before the stages run (their context comes from the config). A pipeline may deploy
    more than once (staging, a manual judgment, production): each stage is its own deploy,
    and one to an untracked account hides none after it."""
    where = f"execution {execution.get('id')!r:.60}"
    stages = [expect_dict(s, where) for s in expect_list(execution.get("stages") or [], where)]
    kinds = config.deploy_stages
    if not any(s.get("type") in kinds for s in stages):
        kinds = config.rollback_stages
    found = []
    for stage in stages:
        if stage.get("type") not in kinds:
            continue
        context = expect_dict(stage.get("context") or {}, where)
        account = context.get("account") or context.get("credentials")
        environment = next(
            (env for env, match in envs if isinstance(account, str) and match(account)), None
        )
        if environment is not None:
            found.append((stage, environment))
    return stages, found


def deploy_facts(
    execution: dict[str, Any], config: DeliveryConfig, envs: list[tuple[str, NameFilter]]
) -> list[DeployFact]:
    """The deploys (or rollbacks) to tracked environments in a complete execution. Stage `id`,
    `type`, `status`, `startTime`, `endTime`, `context.account` and the `outputs.manifests` of
    `PromoteManifestKatoOutputsTask` as Orca stores them
    (spinnaker/orca `orca-core/.../pipeline/model/StageExecutionImpl.java`,
    `orca-clouddriver/.../tasks/manifest/PromoteManifestKatoOutputsTask.java`)."""
    where = f"execution {execution.get('id')!r:.60}"
    stages, found = deploy_stages(execution, config, envs)
    ident = text(execution.get("id"), where)
    deploys = [i for i, s in enumerate(stages) if s.get("type") in config.deploy_stages]
    facts = []
    for stage, environment in found:
        deploy = stage if stage.get("type") in config.deploy_stages else None
        status = text(stage.get("status"), where)
        if deploy is None:
            result = "rollback"
        elif status == "SUCCEEDED":
            result = "succeeded"
        elif status in FAILED:
            result = "failed"
        elif status == "CANCELED":
            result = "canceled"
        else:  # SKIPPED, or a deploy stage never reached: no deploy happened
            continue
        start = number(stage.get("startTime") or execution.get("startTime"), where) / 1000
        end = number(stage.get("endTime") or execution.get("endTime"), where) / 1000
        verification_failed = False
        if deploy is not None:
            # The verification of this deploy: the stages up to the next deploy, not those
            # checking a later environment's.
            at = next(i for i, s in enumerate(stages) if s is deploy)
            upto = next((i for i in deploys if i > at), len(stages))
            verification_failed = any(
                s.get("type") in config.verification_stages and s.get("status") in FAILED
                for s in stages[at + 1 : upto]
            )
        stage_id = stage.get("id") or stage.get("refId")
        facts.append(
            DeployFact(
                id=f"{ident}/{stage_id}",
                execution=ident,
                application=text(execution.get("application"), where),
                environment=environment,
                build_ms=int(number(execution.get("buildTime"), where)),
                end_s=end,
                result=result,
                start_s=start,
                verification_failed=verification_failed,
                image=None if deploy is None else deployed_image(execution, deploy),
            )
        )
    return facts


def deployed_image(execution: dict[str, Any], stage: dict[str, Any]) -> str | None:
    """The image a deploy shipped: a `docker/image` trigger artifact, the docker trigger's
    `repository:tag` (`orca-core/.../pipeline/model/DockerTrigger.kt`), or the first container
    image of the manifests the stage deployed."""
    trigger = execution.get("trigger") if isinstance(execution.get("trigger"), dict) else {}
    assert isinstance(trigger, dict)
    for artifact in trigger.get("artifacts") or ():
        if isinstance(artifact, dict) and artifact.get("type") == "docker/image":
            reference = artifact.get("reference")
            if isinstance(reference, str) and reference:
                return reference
    if trigger.get("type") == "docker" and trigger.get("repository") and trigger.get("tag"):
        return f"{trigger['repository']}:{trigger['tag']}"
    context = stage.get("context")
    # What the stage deployed, else (a deploy that failed) what it was given to deploy.
    for source, name in (
        (stage.get("outputs"), "outputs.manifests"),
        (context, "outputs.manifests"),
        (context, "manifests"),
    ):
        manifests = source.get(name) if isinstance(source, dict) else None
        for manifest in manifests or ():
            image = _manifest_image(manifest)
            if image:
                return image
    return None


def _manifest_image(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return None
    spec = manifest.get("spec") or {}
    pod = ((spec.get("template") or {}).get("spec") or {}) if isinstance(spec, dict) else {}
    for container in pod.get("containers") or () if isinstance(pod, dict) else ():
        if isinstance(container, dict) and isinstance(container.get("image"), str):
            return str(container["image"])
    return None


@dataclass(frozen=True, slots=True)
class ImageRef:
    project: str
    repository: str
    reference: str  # a tag or a digest


def image_ref(image: str | None, registry: str) -> ImageRef:
    """`harbor.example/proj/repo:tag` (or `@sha256:...`) inside the configured registry; a docker
    trigger's `repository:tag` has no host and is taken as the registry's own."""
    if not image:
        raise Unlinked("no_image")
    name, digest = image.split("@", 1) if "@" in image else (image, None)
    tag = None
    if digest is None:
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if "." in first or ":" in first or first == "localhost":
        if first != registry:
            raise Unlinked("other_registry")
        name = rest
    project, _, repository = name.partition("/")
    if not repository or not (digest or tag):
        raise Unlinked("other_registry" if not repository else "no_image")
    return ImageRef(project, repository, digest or tag or "")


@dataclass(frozen=True, slots=True)
class ArtifactFact:
    digest: str
    push_s: float
    revision: str | None
    tags: tuple[str, ...]


def artifact_fact(artifact: Any, where: str) -> ArtifactFact:
    """Harbor's Artifact (`api/v2.0/swagger.yaml`): `digest`, `push_time`, `tags[].name`, the
    manifest `annotations` and the image config labels Harbor keeps under `extra_attrs.config`
    (goharbor/harbor `src/controller/artifact/processor/image/manifest_v2.go`)."""
    body = expect_dict(artifact, where)
    revision = None
    annotations = body.get("annotations")
    if isinstance(annotations, dict) and isinstance(annotations.get(REVISION_KEY), str):
        revision = annotations[REVISION_KEY]
    if revision is None:
        extra = body.get("extra_attrs")
        config = extra.get("config") if isinstance(extra, dict) else None
        labels = config.get("Labels") if isinstance(config, dict) else None
        if isinstance(labels, dict) and isinstance(labels.get(REVISION_KEY), str):
            revision = labels[REVISION_KEY]
    tags = tuple(
        str(t["name"])
        for t in expect_list(body.get("tags") or [], where)
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    )
    return ArtifactFact(
        digest=text(body.get("digest"), where),
        push_s=parse_time(body.get("push_time"), where),
        revision=revision or None,
        tags=tags,
    )


def parse_time(value: Any, where: str) -> float:
    try:
        return datetime.fromisoformat(text(value, where)).timestamp()
    except ValueError:
        raise UpstreamError(f"expected an RFC 3339 time, got {value!r:.60}", where=where) from None


@dataclass(frozen=True, slots=True)
class BuildFact:
    number: int
    start_s: float
    end_s: float
    result: str | None
    revision: str | None
    #: (sha, commit time or None when Jenkins does not know it)
    commits: tuple[tuple[str, float | None], ...]
    remote: str | None


BUILD_TREE = (
    "number,timestamp,duration,result,building,"
    "actions[lastBuiltRevision[SHA1],remoteUrls],"
    "changeSet[items[commitId,timestamp]],changeSets[items[commitId,timestamp]]"
)


def build_fact(raw: Any, where: str) -> BuildFact | None:
    """A finished build: the Git plugin's `BuildData` action (`lastBuiltRevision.SHA1`,
    `remoteUrls`; jenkinsci/git-plugin `src/main/java/hudson/plugins/git/util/BuildData.java`)
    and its change set (`changeSet` on freestyle builds, `changeSets` on Pipeline runs), each
    item's `commitId` and `timestamp` in ms, -1 when Git's date did not parse
    (`src/main/java/hudson/plugins/git/GitChangeSet.java`). A running build gives None."""
    build = expect_dict(raw, where)
    if build.get("building") is True:
        return None
    revision = remote = None
    for action in build.get("actions") or ():
        if isinstance(action, dict) and isinstance(action.get("lastBuiltRevision"), dict):
            sha = action["lastBuiltRevision"].get("SHA1")
            revision = sha if isinstance(sha, str) else None
            urls = action.get("remoteUrls") or []
            remote = urls[0] if urls and isinstance(urls[0], str) else None
    sets = list(build.get("changeSets") or ())
    if isinstance(build.get("changeSet"), dict):
        sets.append(build["changeSet"])
    commits: dict[str, float | None] = {}
    for change_set in sets:
        for item in (change_set or {}).get("items") or ():
            if isinstance(item, dict) and isinstance(item.get("commitId"), str):
                stamp = item.get("timestamp")
                if isinstance(stamp, int | float) and not isinstance(stamp, bool) and stamp > 0:
                    commits[item["commitId"]] = stamp / 1000
                else:  # -1: Git's date did not parse
                    commits[item["commitId"]] = None
    if not commits and revision:  # the first build of a branch: its revision, time unknown
        commits[revision] = None
    start = number(build.get("timestamp"), where) / 1000
    result = build.get("result")
    return BuildFact(
        number=int(number(build.get("number"), where)),
        start_s=start,
        end_s=start + number(build.get("duration"), where, default=0) / 1000,
        result=result if isinstance(result, str) else None,
        revision=revision,
        commits=tuple(commits.items()),
        remote=remote,
    )


def match_build(
    builds: dict[int, BuildFact], artifact: ArtifactFact, tag: str | None, pattern: re.Pattern[str]
) -> BuildFact:
    """The build that pushed `artifact`: by its revision (the newest such build started before
    the push), else by the tag pattern's `number` or `built` minute; never a guess."""
    if artifact.revision is not None:
        found = [
            b
            for b in builds.values()
            if b.revision == artifact.revision and b.start_s <= artifact.push_s
        ]
        if found:
            return max(found, key=lambda b: b.number)
        raise Unlinked("no_build")
    for candidate in (tag, *artifact.tags):
        match = pattern.fullmatch(candidate) if candidate else None
        if match is None:
            continue
        groups = match.groupdict()
        # The tag is whatever a pipeline pushed: digits that are no build number or no date
        # (`1.4_20261399_1200`) link to no build; raising would fail the whole view's poll.
        if groups.get("number"):
            if not (groups["number"].isascii() and groups["number"].isdecimal()):
                raise Unlinked("no_build")
            build = builds.get(int(groups["number"]))
            if build is None:
                raise Unlinked("no_build")
            return build
        try:
            built = datetime.strptime(groups["built"] or "", "%Y%m%d_%H%M")
        except ValueError:
            raise Unlinked("no_build") from None
        minute = built.replace(tzinfo=UTC).timestamp()
        found = [b for b in builds.values() if minute <= b.start_s < minute + 60]
        if len(found) > 1:
            raise Unlinked("ambiguous_build")
        if found:
            return found[0]
        raise Unlinked("no_build")
    raise Unlinked("no_build")


def job_path(full_name: str) -> str:
    """`a/b` -> `/job/a/job/b` (Jenkins' URL of a job inside folders)."""
    from urllib.parse import quote

    return "".join(f"/job/{quote(part, safe='')}" for part in full_name.split("/"))


def git_project(remote: str) -> tuple[str, str] | None:
    """(host, path) of a remote URL: `https://host/group/repo.git` or `git@host:group/repo.git`."""
    match = re.fullmatch(
        r"(?:[a-z+]+://)?(?:[^@/]+@)?([^/:]+)(?::\d+)?[:/](.+?)(?:\.git)?/?", remote
    )
    return (match[1], match[2]) if match else None
