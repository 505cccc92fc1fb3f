"""A correlated delivery world: commits, Jenkins builds pushing images to Harbor, Spinnaker deploys
of those images, failures, rollbacks, manual deploys with no build and builds never deployed.

`DeliveryWorld.generate()` draws the history from a seed; `install()` puts it into the Harbor,
Jenkins, Spinnaker and Git simulators so each serves its own part as the real API shapes it:

- Jenkins: each application's job `apps/<app>` with `allBuilds`, each build carrying the Git
  plugin's `BuildData` action (`lastBuiltRevision.SHA1`, `remoteUrls`; jenkinsci/git-plugin
  `src/main/java/hudson/plugins/git/util/BuildData.java`) and the change set
  (`changeSets[].items[]` with `commitId`, `timestamp` in ms and `date`;
  `src/main/java/hudson/plugins/git/GitChangeSet.java` and Jenkins core
  `hudson/scm/ChangeLogSet.java`). A build whose change set is empty (the first build of a
  branch) names its revision only.
- Harbor: the artifacts of repository `apps/<app>` with `digest`, `push_time`, `tags[]`,
  the manifest `annotations` (goharbor/harbor `api/v2.0/swagger.yaml` Artifact) and the image
  config's labels under `extra_attrs.config.Labels`
  (`src/controller/artifact/processor/image/manifest_v2.go`).
- Spinnaker: executions whose `deployManifest` stage context carries `account` and the
  `outputs.manifests` of `PromoteManifestKatoOutputsTask` (spinnaker/orca
  `orca-clouddriver/.../tasks/manifest/PromoteManifestKatoOutputsTask.java`), triggered by a
  docker trigger (`account, repository, tag`; `orca-core/.../pipeline/model/DockerTrigger.kt`),
  by artifacts (`trigger.artifacts[]` of type `docker/image`) or by hand. A promotion pipeline
  deploys to staging, waits on a `manualJudgment` stage, then deploys to production, all in one
  execution, some deploying to an account no environment tracks first.

The world keeps the truth a test needs (which build each deploy shipped, each commit's time)
beside what the servers show, so expected metrics are computed from it, never from the exporter.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paas_sdk.testing.simulators.harbor import HarborSimulator
    from paas_sdk.testing.simulators.jenkins import JenkinsSimulator
    from paas_sdk.testing.simulators.spinnaker import SpinnakerSimulator

REGISTRY = "harbor.example"
PROJECT = "apps"
GIT_HOST = "gitlab.example"
ENVIRONMENTS = {"staging": "staging-k8s", "production": "prod-k8s"}
REVISION_KEY = "org.opencontainers.image.revision"
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def iso_time(ms: int) -> str:
    """Epoch milliseconds as the RFC 3339 UTC time Harbor and GitLab write."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def tag_time(ms: int) -> str:
    """The tutorial's `<tag>_<yyyymmdd_HHMM>` suffix: the build's start, UTC, to the minute."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y%m%d_%H%M")


@dataclass
class Commit:
    sha: str
    time_ms: int
    #: False when Jenkins does not know the commit's time (a build naming its revision only).
    in_change_set: bool = True


@dataclass
class Build:
    application: str
    number: int
    start_ms: int
    duration_ms: int
    result: str
    revision: str
    commits: list[Commit]
    #: Pushed image (tag) or None when the build failed before pushing.
    tag: str | None = None
    digest: str | None = None
    push_ms: int | None = None
    #: How the image names its build: "annotation", "label" or "tag" (the tag pattern only).
    provenance: str = "annotation"

    @property
    def job(self) -> str:
        return f"{PROJECT}/{self.application}"


@dataclass
class Deploy:
    """One Spinnaker execution with a deploy stage (or a rollback)."""

    id: str
    application: str
    environment: str
    build_time_ms: int
    deploy_start_ms: int
    deploy_end_ms: int
    #: SUCCEEDED or TERMINAL for the deploy stage; the execution may still fail later.
    deploy_status: str
    image: str | None
    #: The build the image came from; None for manual deploys of images no build pushed.
    build: Build | None
    #: How the image is named: "artifact", "docker" (trigger tag) or "manifest".
    referenced_by: str = "manifest"
    verification_failed: bool = False
    rollback: bool = False
    trigger_type: str = "docker"
    #: A promotion pipeline: this deploy, a manual judgment, then `promotion` in the same
    #: execution, its stages run in order (spinnaker/orca
    #: `orca-core/src/main/java/com/netflix/spinnaker/orca/pipeline/model/StageExecutionImpl.java`:
    #: an execution holds many stages, each with its own id, type, status and context).
    promotion: Deploy | None = None
    #: The execution id of the deploy this one was promoted from (it has no execution of its own).
    promoted_from: str | None = None
    #: The pipeline deploys to an account no environment tracks (`dev-k8s`) before this deploy.
    untracked_first: bool = False

    @property
    def status(self) -> str:
        if self.rollback:
            return "SUCCEEDED"
        if self.deploy_status != "SUCCEEDED" or self.verification_failed:
            return "TERMINAL"
        return "SUCCEEDED"

    @property
    def end_ms(self) -> int:
        return self.deploy_end_ms + (5 * MINUTE if not self.rollback else 0)


@dataclass
class DeliveryWorld:
    """The shared history; `now_ms` is the world's present."""

    now_ms: int
    applications: list[str] = field(default_factory=list)
    builds: list[Build] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)
    #: Images pushed by hand (no build): (application, tag, digest, push time).
    manual_images: list[tuple[str, str, str, int]] = field(default_factory=list)
    _serial: int = 0
    _numbers: dict[str, int] = field(default_factory=dict)

    # -- generation -----------------------------------------------------------------------------
    @classmethod
    def generate(
        cls, applications: int, days: float, *, seed: int = 11, now_ms: int | None = None
    ) -> DeliveryWorld:
        """About two builds a day per application, most deployed to staging, many to production."""
        rnd = random.Random(seed)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        world = cls(now_ms=now)
        start = now - int(days * DAY)
        for index in range(applications):
            app = f"svc{index:03d}"
            world.applications.append(app)
            moment = start + rnd.randint(0, 6 * HOUR)
            last_commit = moment - rnd.randint(HOUR, DAY)
            while True:
                moment += rnd.randint(4 * HOUR, 20 * HOUR)
                if moment > now - 2 * HOUR:
                    break
                build = world._build(rnd, app, moment, last_commit)
                last_commit = moment
                if build.tag is not None and rnd.random() < 0.85:
                    world._deploys_of(rnd, build)
                if rnd.random() < 0.04:
                    world._manual(rnd, app, moment + rnd.randint(HOUR, 3 * HOUR))
        world.deploys.sort(key=lambda d: d.build_time_ms)
        return world

    def _build(self, rnd: random.Random, app: str, start: int, since: int) -> Build:
        number = self._numbers[app] = self._numbers.get(app, 0) + 1
        count = rnd.choice((0, 1, 1, 2, 3)) if number > 1 else 0
        commits = sorted(
            (
                Commit(_sha(app, number, c), rnd.randint(since, start - MINUTE))
                for c in range(count)
            ),
            key=lambda c: c.time_ms,
        )
        revision = commits[-1].sha if commits else _sha(app, number, "head")
        if not commits:  # Jenkins names only the revision; its time comes from Git
            commits = [Commit(revision, since - rnd.randint(MINUTE, HOUR), in_change_set=False)]
        duration = rnd.randint(3 * MINUTE, 25 * MINUTE)
        result = "SUCCESS" if rnd.random() < 0.88 else "FAILURE"
        build = Build(app, number, start, duration, result, revision, commits)
        if result == "SUCCESS":
            build.tag = f"1.{number}_{tag_time(start)}"
            build.digest = "sha256:" + hashlib.sha256(f"{app}{number}".encode()).hexdigest()
            build.push_ms = start + duration - rnd.randint(MINUTE, 2 * MINUTE)
            build.provenance = rnd.choice(("annotation", "annotation", "label", "tag"))
        self.builds.append(build)
        return build

    def _id(self) -> str:
        self._serial += 1
        return f"01K{self._serial:020d}"  # ULID-like, apart from the generic executions

    def _deploy(
        self, rnd: random.Random, build: Build | None, app: str, env: str, at: int, **kw: Any
    ) -> Deploy:
        start = at + rnd.randint(2_000, 60_000)
        end = start + rnd.randint(MINUTE, 10 * MINUTE)
        image = kw.pop("image", None)
        if image is None and build is not None:
            image = f"{REGISTRY}/{PROJECT}/{app}:{build.tag}"
        deploy = Deploy(
            self._id(),
            app,
            env,
            at,
            start,
            end,
            kw.pop("deploy_status", "SUCCEEDED"),
            image,
            build,
            **kw,
        )
        self.deploys.append(deploy)
        return deploy

    def _deploys_of(self, rnd: random.Random, build: Build) -> None:
        assert build.push_ms is not None
        at = build.push_ms + rnd.randint(2 * MINUTE, 40 * MINUTE)
        how = rnd.choice(("artifact", "docker", "manifest"))
        staging = self._deploy(
            rnd, build, build.application, "staging", at, referenced_by=how, **self._outcome(rnd)
        )
        if staging.status != "SUCCEEDED" or rnd.random() > 0.7:
            return
        at = staging.end_ms + rnd.randint(HOUR, 6 * HOUR)
        if at > self.now_ms - 30 * MINUTE:
            return
        prod = self._deploy(
            rnd, build, build.application, "production", at, referenced_by=how, **self._outcome(rnd)
        )
        # Every third build is promoted by one pipeline, every sixth deploying to an untracked
        # account first; chosen by number so the random history stays what it was.
        if build.number % 3 == 0:
            staging.promotion = prod
            prod.promoted_from = staging.id
            staging.untracked_first = build.number % 6 == 0
        latest = self.now_ms - 2 * HOUR
        if prod.status == "SUCCEEDED" and rnd.random() < 0.08:
            back = prod.end_ms + rnd.randint(10 * MINUTE, 50 * MINUTE)
            if back < latest:
                self._deploy(
                    rnd,
                    None,
                    build.application,
                    "production",
                    back,
                    rollback=True,
                    trigger_type="manual",
                    image="",
                    referenced_by="none",
                )
        if prod.status != "SUCCEEDED" and rnd.random() < 0.8:  # fixed forward by a redeploy
            again = prod.end_ms + rnd.randint(15 * MINUTE, 3 * HOUR)
            if again < latest:
                self._deploy(
                    rnd,
                    build,
                    build.application,
                    "production",
                    again,
                    referenced_by="manifest",
                    trigger_type="manual",
                )

    @staticmethod
    def _outcome(rnd: random.Random) -> dict[str, Any]:
        roll = rnd.random()
        if roll < 0.08:
            return {"deploy_status": "TERMINAL"}
        if roll < 0.13:
            return {"verification_failed": True}
        return {}

    def _manual(self, rnd: random.Random, app: str, at: int) -> None:
        """A hand-made deploy: an image pushed without a build, one from another registry, or a
        manifest with no image at all."""
        kind = rnd.choice(("hand_pushed", "other_registry", "no_image"))
        env = rnd.choice(tuple(ENVIRONMENTS))
        if kind == "hand_pushed":
            tag = f"hotfix-{rnd.randint(1, 99)}"
            digest = "sha256:" + hashlib.sha256(f"{app}{tag}{at}".encode()).hexdigest()
            self.manual_images.append((app, tag, digest, at - 10 * MINUTE))
            image = f"{REGISTRY}/{PROJECT}/{app}:{tag}"
        elif kind == "other_registry":
            image = "docker.io/library/nginx:1.27"
        else:
            image = ""
        self._deploy(
            rnd, None, app, env, at, image=image, trigger_type="manual", referenced_by="manifest"
        )

    # -- growing the world while it is served ---------------------------------------------------
    def add_release(
        self,
        app: str,
        now_ms: int,
        *,
        commits: int = 2,
        deploy_status: str = "SUCCEEDED",
        env: str = "production",
    ) -> tuple[Build, Deploy]:
        """New commits built, pushed and deployed; the deploy stage ends a second before
        `now_ms`, which becomes the world's present."""
        self.now_ms = now = now_ms
        number = self._numbers[app] = self._numbers.get(app, 0) + 1
        start = now - 50 * MINUTE
        shas = [
            Commit(_sha(app, number, "new", c), start - (c + 1) * 7 * MINUTE)
            for c in range(commits)
        ]
        build = Build(
            app,
            number,
            start,
            10 * MINUTE,
            "SUCCESS",
            shas[0].sha,
            shas,
            tag=f"1.{number}_{tag_time(start)}",
            digest="sha256:" + hashlib.sha256(f"{app}{number}new".encode()).hexdigest(),
            push_ms=start + 9 * MINUTE,
        )
        self.builds.append(build)
        deploy = Deploy(
            self._id(),
            app,
            env,
            now - 8_000,
            now - 6_000,
            now - 1_000,
            deploy_status,
            f"{REGISTRY}/{PROJECT}/{app}:{build.tag}",
            build,
            referenced_by="artifact",
        )
        self.deploys.append(deploy)
        return build, deploy

    # -- what the servers show ------------------------------------------------------------------
    def jenkins_job(self, app: str, base_url: str = "/") -> dict[str, Any]:
        url = f"{base_url}job/{PROJECT}/job/{app}/"
        builds = sorted((b for b in self.builds if b.application == app), key=lambda b: -b.number)
        runs = [self._jenkins_build(b, url) for b in builds]
        last = runs[0] if runs else None
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
            "name": app,
            "fullName": f"{PROJECT}/{app}",
            "url": url,
            "color": "blue",
            "buildable": True,
            "inQueue": False,
            "healthReport": [],
            "lastBuild": last,
            "lastCompletedBuild": last,
            "builds": runs[:100],
            "allBuilds": runs,
        }

    @staticmethod
    def _jenkins_build(build: Build, job_url: str) -> dict[str, Any]:
        items = [
            {
                "_class": "hudson.plugins.git.GitChangeSet",
                "commitId": c.sha,
                "id": c.sha,
                "timestamp": c.time_ms,
                "date": iso_time(c.time_ms).replace("Z", "+0000"),
                "msg": f"change {c.sha[:7]}",
                "authorEmail": "dev@example.com",
            }
            for c in build.commits
            if c.in_change_set
        ]
        remote = f"https://{GIT_HOST}/{PROJECT}/{build.application}.git"
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": build.number,
            "url": f"{job_url}{build.number}/",
            "result": build.result,
            "building": False,
            "timestamp": build.start_ms,
            "duration": build.duration_ms,
            "actions": [
                {"_class": "hudson.model.CauseAction"},
                {
                    "_class": "hudson.plugins.git.util.BuildData",
                    "lastBuiltRevision": {
                        "SHA1": build.revision,
                        "branch": [{"SHA1": build.revision, "name": "refs/remotes/origin/main"}],
                    },
                    "remoteUrls": [remote],
                    "scmName": "",
                },
            ],
            "changeSets": [
                {"_class": "hudson.plugins.git.GitChangeSetList", "kind": "git", "items": items}
            ]
            if items
            else [],
        }

    def harbor_artifacts(self, app: str) -> list[dict[str, Any]]:
        """The repository's artifacts, newest push first (Harbor's default order is by id)."""
        found: list[tuple[int, str, str, dict[str, str], dict[str, str]]] = []
        for b in self.builds:
            if b.application != app or b.tag is None:
                continue
            assert b.digest is not None
            assert b.push_ms is not None
            annotations = {REVISION_KEY: b.revision} if b.provenance == "annotation" else {}
            labels = {REVISION_KEY: b.revision} if b.provenance == "label" else {}
            labels["maintainer"] = "platform@example.com"
            found.append((b.push_ms, b.tag, b.digest, annotations, labels))
        for a, tag, digest, pushed in self.manual_images:
            if a == app:
                found.append((pushed, tag, digest, {}, {}))
        found.sort(key=lambda f: -f[0])
        return [
            {
                "id": index + 1,
                "type": "IMAGE",
                "media_type": "application/vnd.oci.image.config.v1+json",
                "manifest_media_type": "application/vnd.oci.image.manifest.v1+json",
                "project_id": 1,
                "repository_id": 1,
                "repository_name": f"{PROJECT}/{app}",
                "digest": digest,
                "size": 30_000_000,
                "push_time": iso_time(pushed),
                "pull_time": "0001-01-01T00:00:00.000Z",
                "extra_attrs": {
                    "architecture": "amd64",
                    "os": "linux",
                    "author": "",
                    "created": iso_time(pushed - MINUTE),
                    "config": {"Labels": labels},
                },
                "annotations": annotations or None,
                "tags": [
                    {
                        "id": index + 1,
                        "repository_id": 1,
                        "artifact_id": index + 1,
                        "name": tag,
                        "push_time": iso_time(pushed),
                        "pull_time": "0001-01-01T00:00:00.000Z",
                        "immutable": False,
                    }
                ],
                "labels": None,
                "references": None,
            }
            for index, (pushed, tag, digest, annotations, labels) in enumerate(found)
        ]

    def spinnaker_execution(self, deploy: Deploy) -> dict[str, Any]:
        """The execution of `deploy` as Orca's search answers it; a promotion pipeline's holds
        its later deploy too, after a `manualJudgment` stage."""
        execution = self._single_execution(deploy)
        later = deploy.promotion
        if later is None and not deploy.untracked_first:
            return execution
        stages = execution["stages"]
        if deploy.untracked_first:
            first = stages[0]
            dev = {**first, "id": f"{deploy.id}-dev", "name": "Deploy (dev)"}
            dev["context"] = {**first["context"], "account": "dev-k8s"}
            dev["startTime"] = first["startTime"] - 2 * MINUTE
            dev["endTime"] = first["startTime"] - MINUTE
            stages.insert(0, dev)
        if later is not None:
            then = self._single_execution(later)
            end = then["stages"][0]["startTime"] - 1_000
            judgment = self._stage(
                deploy, 9, "manualJudgment", "Promote?", "SUCCEEDED", stages[-1]["endTime"], end,
                {"judgmentStatus": "continue", "propagateAuthenticationContext": False},
            )  # fmt: skip
            stages += [judgment, *then["stages"]]
            failed = "TERMINAL" in (execution["status"], then["status"])
            execution.update(
                name="promote",
                pipelineConfigId=f"{deploy.application}-promote",
                status="TERMINAL" if failed else "SUCCEEDED",
                endTime=then["endTime"],
            )
        for index, stage in enumerate(stages):
            stage["refId"] = str(index + 1)
        return execution

    def _single_execution(self, deploy: Deploy) -> dict[str, Any]:
        app = deploy.application
        account = ENVIRONMENTS[deploy.environment]
        trigger: dict[str, Any] = {
            "type": deploy.trigger_type,
            "user": "alice",
            "artifacts": [],
            "parameters": {},
        }
        repo_tag = deploy.image.rsplit(":", 1) if deploy.image else None
        if deploy.referenced_by == "docker" and repo_tag:
            repository = repo_tag[0].split("/", 1)[1]
            trigger.update(type="docker", account="harbor", repository=repository, tag=repo_tag[1])
        if deploy.referenced_by == "artifact" and deploy.image:
            trigger["artifacts"] = [
                {
                    "type": "docker/image",
                    "name": repo_tag[0] if repo_tag else "",
                    "reference": deploy.image,
                    "version": repo_tag[1] if repo_tag else "",
                }
            ]
        containers = [{"name": app, "image": deploy.image}] if deploy.image else []
        manifest = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": app, "namespace": deploy.environment},
            "spec": {"template": {"spec": {"containers": containers}}},
        }
        if not deploy.image:
            manifest = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{app}-config", "namespace": deploy.environment},
            }
        start, end = deploy.deploy_start_ms, deploy.deploy_end_ms
        if deploy.rollback:
            stages = [
                self._stage(
                    deploy,
                    0,
                    "undoRolloutManifest",
                    "Undo Rollout",
                    "SUCCEEDED",
                    start,
                    end,
                    {
                        "account": account,
                        "cloudProvider": "kubernetes",
                        "manifestName": f"deployment {app}",
                        "numRevisionsBack": 1,
                    },
                )
            ]
            name = "rollback"
        else:
            outputs = (
                {
                    "outputs.manifests": [manifest],
                    "outputs.boundArtifacts": [],
                    "outputs.createdArtifacts": [],
                }
                if deploy.deploy_status == "SUCCEEDED"
                else {}
            )
            context = {
                "account": account,
                "cloudProvider": "kubernetes",
                "source": "text",
                "manifests": [manifest],
                "moniker": {"app": app},
                **outputs,
            }
            stages = [
                self._stage(
                    deploy,
                    0,
                    "deployManifest",
                    "Deploy",
                    deploy.deploy_status,
                    start,
                    end,
                    context,
                    outputs,
                )
            ]
            if deploy.deploy_status == "SUCCEEDED":
                verify = "TERMINAL" if deploy.verification_failed else "SUCCEEDED"
                stages.append(
                    self._stage(
                        deploy,
                        1,
                        "kayentaCanary",
                        "Canary",
                        verify,
                        end,
                        end + 5 * MINUTE,
                        {"scoreThresholds": {"pass": 75}},
                    )
                )
            name = f"deploy-{deploy.environment}"
        return {
            "type": "PIPELINE",
            "id": deploy.id,
            "application": app,
            "name": name,
            "pipelineConfigId": f"{app}-{name}",
            "status": deploy.status,
            "buildTime": deploy.build_time_ms,
            "startTime": deploy.build_time_ms + 500,
            "endTime": deploy.end_ms if deploy.status != "RUNNING" else None,
            "trigger": trigger,
            "authentication": {"user": "alice"},
            "stages": stages,
        }

    @staticmethod
    def _stage(  # noqa: PLR0917 - a stage's fields, in the order Orca lists them
        deploy: Deploy,
        index: int,
        kind: str,
        name: str,
        status: str,
        start: int,
        end: int,
        context: dict[str, Any],
        outputs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "id": f"{deploy.id}-{index}",
            "refId": str(index + 1),
            "type": kind,
            "name": name,
            "status": status,
            "startTime": start,
            "endTime": end,
            "context": context,
            "outputs": outputs or {},
            "tasks": [{"id": "1", "name": "task", "status": status}],
        }

    def commit(self, sha: str) -> Commit | None:
        for build in self.builds:
            for commit in build.commits:
                if commit.sha == sha:
                    return commit
        return None


def install(
    world: DeliveryWorld,
    *,
    harbor: HarborSimulator | None = None,
    jenkins: JenkinsSimulator | None = None,
    spinnaker: SpinnakerSimulator | None = None,
) -> None:
    """Put (or put again, after the world grew) the world's history into the simulators."""
    if jenkins is not None:
        root = jenkins.state.root["jobs"]
        root[:] = [j for j in root if j.get("name") != PROJECT]
        root.append(
            {
                "_class": "com.cloudbees.hudson.plugins.folder.Folder",
                "name": PROJECT,
                "fullName": PROJECT,
                "url": f"/job/{PROJECT}/",
                "healthReport": [],
                "jobs": [world.jenkins_job(app) for app in world.applications],
            }
        )
        jenkins.changed()
    if harbor is not None:
        hstate = harbor.state
        if not any(p["name"] == PROJECT for p in hstate.projects):
            project_id = max((p["project_id"] for p in hstate.projects), default=0) + 1
            hstate.projects.append(
                {
                    "project_id": project_id,
                    "name": PROJECT,
                    "owner_id": 1,
                    "owner_name": "admin",
                    "repo_count": len(world.applications),
                    "registry_id": None,
                    "deleted": False,
                    "metadata": {"public": "false"},
                }
            )
        project_id = next(p["project_id"] for p in hstate.projects if p["name"] == PROJECT)
        hstate.repositories = [r for r in hstate.repositories if r["project_id"] != project_id]
        for app in world.applications:
            artifacts = world.harbor_artifacts(app)
            name = f"{PROJECT}/{app}"
            repo_id = max((r["id"] for r in hstate.repositories), default=0) + 1
            for artifact in artifacts:
                artifact.update(project_id=project_id, repository_id=repo_id)
            hstate.artifacts[name] = artifacts
            hstate.repositories.append(
                {
                    "id": repo_id,
                    "project_id": project_id,
                    "name": name,
                    "description": "",
                    "artifact_count": len(artifacts),
                    "pull_count": 0,
                    "creation_time": iso_time(world.now_ms - 40 * DAY),
                    "update_time": iso_time(world.now_ms),
                }
            )
    if spinnaker is not None:
        sstate = spinnaker.state
        known = {a["name"] for a in sstate.applications}
        for app in world.applications:
            if app not in known:
                sstate.applications.append(
                    {
                        "name": app,
                        "email": "team@example.com",
                        "cloudProviders": "kubernetes",
                        "user": "alice",
                    }
                )
            names = ["deploy-staging", "deploy-production", "promote", "rollback"]
            sstate.pipeline_configs[app] = [
                {
                    "id": f"{app}-{n}",
                    "name": n,
                    "application": app,
                    "index": i,
                    "stages": [],
                    "triggers": [],
                    "keepWaitingPipelines": False,
                }
                for i, n in enumerate(names)
            ]
            sstate.executions[app] = []
        for deploy in world.deploys:
            if deploy.promoted_from is None:  # else a stage of the execution it came from
                sstate.executions[deploy.application].append(world.spinnaker_execution(deploy))
