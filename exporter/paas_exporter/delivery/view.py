"""One poll of the delivery view: the executions that completed since the last poll (one search
across all applications, usually one request), their images looked up in Harbor, the builds in
Jenkins and, when Jenkins lacks them, commit times in GitLab or Gitee; then the ledger.

The first poll reads the whole history window (per repository and per job lists, not a request
per deploy) so the rolling gauges are whole after a restart. Every request of a poll is made
before the ledger changes, so a poll that fails changes nothing and is simply done again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from paas_exporter.config import DeliveryConfig, ExporterConfig, GitSource
from paas_exporter.delivery.ledger import Delivered, Ledger, load_state, save_state
from paas_exporter.delivery.links import (
    BUILD_TREE,
    COMPLETE,
    ArtifactFact,
    BuildFact,
    DeployFact,
    ImageRef,
    Unlinked,
    artifact_fact,
    build_fact,
    deploy_facts,
    deploy_stages,
    environment_matchers,
    git_project,
    image_ref,
    job_path,
    match_build,
    parse_time,
)
from paas_exporter.exposition import MetricFamily
from paas_exporter.upstream import Upstream, expect_dict, expect_list, number, text

log = logging.getLogger("paas_exporter")
T = TypeVar("T")
API = "/api/v2.0"
#: Executions stored a little after their trigger time are still found by the next search.
OVERLAP_MS = 5 * 60_000
BUILD_PAGE = 100
#: Applications whose history the first poll reads at once. Each one in flight holds its decoded
#: pages, and what outlives them (the ledger, the builds kept) stays scattered among the memory
#: they took, which the process keeps: at 200 applications x 30 days, reading four at once added
#: 11 % to the exporter's resident memory, two at once 8.5 %. Two still overlap one
#: application's waits with another's work.
REPLAY_APPLICATIONS = 2


Link = tuple[ArtifactFact, BuildFact, ImageRef] | Unlinked


class DeliveryUpstreams:
    """The clients of one delivery poll loop, counted together as the view's requests."""

    def __init__(
        self, config: ExporterConfig, transports: dict[str, httpx.AsyncBaseTransport]
    ) -> None:
        delivery = config.delivery
        assert delivery is not None
        self.target = delivery

        def client(target: Any) -> Upstream:
            return Upstream(target, transport=transports.get(target.name), timeout=delivery.timeout)

        self.spinnaker = client(config.target(delivery.spinnaker))
        self.harbor = client(config.target(delivery.harbor))
        self.jenkins = client(config.target(delivery.jenkins))
        self.git = {source.name: client(source) for source in delivery.git}
        self._all = [self.spinnaker, self.harbor, self.jenkins, *self.git.values()]

    @property
    def requests(self) -> int:
        return sum(u.requests for u in self._all)

    @property
    def errors(self) -> int:
        return sum(u.errors for u in self._all)

    @errors.setter
    def errors(self, value: int) -> None:  # the poller counts a parse failure on the first
        self.spinnaker.errors += value - self.errors

    async def close(self) -> None:
        for upstream in self._all:
            await upstream.close()


class DeliveryView:
    """The delivery view's memory between polls: what was counted, caches, and the ledger."""

    def __init__(self, config: ExporterConfig) -> None:
        delivery = config.delivery
        assert delivery is not None
        self.config: DeliveryConfig = delivery
        harbor = config.target(delivery.harbor)
        self.registry = delivery.registry or urlsplit(harbor.url).netloc
        self.keep = delivery.applications.matcher()
        self.envs = environment_matchers(delivery)
        self.tag_pattern = re.compile(delivery.tag_pattern)
        self.ledger = Ledger(delivery.failure_window, delivery.history)
        self.pending: dict[str, int] = {}  # incomplete execution id -> build time (ms)
        self.seen: dict[str, int] = {}  # processed ids with build times at or after `floor`
        self.floor: int | None = None  # executions triggered before it are all processed
        self.artifacts: dict[str, ArtifactFact | None] = {}  # "proj/repo@ref" -> artifact
        self.builds: dict[str, dict[int, BuildFact]] = {}  # job -> number -> build
        self.commit_times: dict[str, float | None] = {}
        # What was counted before a restart (from the state file).
        self._counted_floor: int | None = None
        self._counted: set[str] = set()
        self._uncounted: set[str] = set()
        self._started = time.time()
        state = self._state = load_state(delivery.state_file)
        if state is not None:
            self.ledger.restore_counts(state)
            self._counted_floor = int(state["floor"])
            self._counted = set(state["seen"])
            self._uncounted = set(state["pending"])

    # -- the poll -------------------------------------------------------------------------------
    async def collect(self, up: DeliveryUpstreams, now: float) -> list[MetricFamily]:
        now_ms = int(now * 1000)
        history_start = now_ms - int(self.config.history * 1000)
        if self.floor is None:
            pending, seen = await self._replay(up, history_start, now_ms)
        else:
            pending, seen = await self._since(up, max(self.floor, history_start), now_ms)
        self.seen.update(seen)
        self.pending = {k: v for k, v in pending.items() if v >= history_start}
        self.floor = now_ms - OVERLAP_MS
        self.seen = {k: v for k, v in self.seen.items() if v >= self.floor}
        self._forget(now)
        if self.config.state_file is not None:
            save_state(self.config.state_file, {
                **self.ledger.dump(), "floor": self.floor, "seen": sorted(self.seen),
                "pending": sorted(self.pending),
            })  # fmt: skip
        return self.ledger.families(now)

    async def _since(
        self, up: DeliveryUpstreams, start: int, now_ms: int
    ) -> tuple[dict[str, int], dict[str, int]]:
        """A steady poll: what completed since the last one, across all applications."""
        found, pending, seen = await self._search(up.spinnaker, "*", start, now_ms)
        # Deploys still running from before the window (a manual judgment waiting for days):
        # each asked for by id rather than widening every search back to them.
        older = [i for i, built in self.pending.items() if built < start and i not in pending]
        for execution in await _gather_results(self._execution(up.spinnaker, i) for i in older):
            if execution is not None:
                self._classify(execution, found, pending, seen, again=True)
        facts = _in_order(found)
        links = await self._link(up, facts, False, start / 1000)
        # Every request is done: from here on nothing can fail half-way.
        for fact in facts:
            self._record(fact, links)
        seen.update((f.execution, f.build_ms) for f in facts)
        return pending, seen

    def _record(self, fact: DeployFact, links: dict[str, Link]) -> None:
        self.ledger.record(fact, self._delivered(fact, links.get(fact.id)), self._counts(fact))

    async def _replay(
        self, up: DeliveryUpstreams, start: int, now_ms: int
    ) -> tuple[dict[str, int], dict[str, int]]:
        """The first poll: the whole history, one application at a time (its executions, its
        repository's artifacts, its job's builds), so no more than one application's history
        is held at once. Should a request fail, the ledger goes back to what the state file
        holds and the next poll starts over."""
        body, _ = await up.spinnaker.get("/applications")
        apps = sorted(
            {
                text(expect_dict(a, "/applications").get("name"), "application name")
                for a in expect_list(body, "/applications")
            }
        )
        pending: dict[str, int] = {}
        seen: dict[str, int] = {}
        recent = now_ms - OVERLAP_MS
        room = asyncio.Semaphore(REPLAY_APPLICATIONS)

        async def one(app: str) -> None:
            async with room:
                found, waiting, skipped = await self._search(up.spinnaker, app, start, now_ms)
                facts = _in_order(found)
                links = await self._link(up, facts, True, start / 1000)
            for fact in facts:  # the application's lanes are its own: no other task's
                self._record(fact, links)
            pending.update(waiting)
            skipped.update((f.execution, f.build_ms) for f in facts)
            seen.update((k, v) for k, v in skipped.items() if v >= recent)
            used = [link for link in links.values() if not isinstance(link, Unlinked)]
            for repo in {f"{ref.project}/{ref.repository}@" for _, _, ref in used}:
                for key in [k for k in self.artifacts if k.startswith(repo)]:
                    del self.artifacts[key]
            self._prune_builds({self._job(ref, app) for _, _, ref in used})

        try:
            await _gather(one(app) for app in apps if self.keep(app))
        except BaseException:
            self.ledger = Ledger(self.config.failure_window, self.config.history)
            if self._state is not None:
                self.ledger.restore_counts(self._state)
            self.builds = {}
            raise
        return pending, seen

    def _counts(self, fact: DeployFact) -> bool:
        """Whether counters take this execution: not if they took it before a restart."""
        if self.config.state_file is None:
            # Nothing remembers what was counted: history before this process is left out,
            # so a restart never adds it again; the rolling gauges cover it.
            return fact.end_s >= self._started
        if self._counted_floor is None:  # the first start: the whole history, once
            return True
        if fact.execution in self._counted:
            return False
        return not (fact.build_ms < self._counted_floor and fact.execution not in self._uncounted)

    def _forget(self, now: float) -> None:
        """Keep only what later polls need: the builds from the oldest one still deployed
        somewhere (the next deploy ships the commits after it); artifacts are asked for again
        by reference, one request per new deploy, rather than held for 30 days."""
        self.ledger.prune(now)
        self.artifacts = {}
        self.commit_times = {}
        self._prune_builds()

    def _prune_builds(self, jobs: set[str] | None = None) -> None:
        """Drop the builds of `jobs` (all) older than the oldest still deployed somewhere."""
        lowest: dict[str, int] = {}
        for lane in self.ledger.lanes.values():
            for job, built in lane.last_build.items():
                lowest[job] = min(lowest.get(job, built), built)
        for job, builds in self.builds.items():
            if jobs is None or job in jobs:
                keep = lowest.get(job, max(builds, default=0))
                self.builds[job] = {n: b for n, b in builds.items() if n >= keep}

    # -- Spinnaker ------------------------------------------------------------------------------
    async def _search(
        self, spinnaker: Upstream, app: str, start: int, now_ms: int
    ) -> tuple[dict[str, list[DeployFact]], dict[str, int], dict[str, int]]:
        """Executions triggered since `start`, newest first, paged by moving the exclusive
        `triggerTimeEndBoundary` to the oldest trigger time seen: Orca stops reading once it
        holds `size` matches, so `startIndex` cannot page (spinnaker/orca
        `orca-web/.../controllers/TaskController.groovy`, `searchForPipelinesByTrigger`). Each
        page is reduced to facts at once. `app` may be `*`, every application."""
        size = self.config.search_page_size
        path = f"/applications/{quote(app, safe='*')}/executions/search"
        facts: dict[str, list[DeployFact]] = {}  # execution id -> its deploys
        pending: dict[str, int] = {}
        skipped: dict[str, int] = {}
        # Every execution read, those set aside on no pile (another application's, an
        # orchestration) included: a page of only those ends the search rather than repeating.
        read: set[str] = set()
        high = now_ms + 60_000
        while True:
            query: dict[str, str | int] = {
                "triggerTimeStartBoundary": start - 1,
                "triggerTimeEndBoundary": high + 1,
                "size": size,
                "expand": "true",
            }
            body, _ = await spinnaker.get(path, query)
            page = expect_list(body, path)
            fresh = 0
            oldest = high
            for raw in page:
                execution = expect_dict(raw, path)
                ident = text(execution.get("id"), path)
                oldest = min(oldest, int(number(execution.get("buildTime"), path)))
                if ident in read:
                    continue
                read.add(ident)
                fresh += 1
                self._classify(execution, facts, pending, skipped)
            if len(page) < size or not fresh or oldest <= start:
                break
            high = oldest
        return facts, pending, skipped

    async def _execution(self, spinnaker: Upstream, ident: str) -> dict[str, Any] | None:
        """One execution, expanded (Gate `GET /pipelines/{id}`, Orca `TaskController.getPipeline`);
        None once it is gone."""
        path = f"/pipelines/{quote(ident, safe='')}"
        body, _ = await spinnaker.get(path, missing_ok=True)
        return None if body is None else expect_dict(body, path)

    def _classify(
        self,
        execution: dict[str, Any],
        facts: dict[str, list[DeployFact]],
        pending: dict[str, int],
        skipped: dict[str, int],
        *,
        again: bool = False,
    ) -> None:
        """Put an execution on its pile: a deploy fact, still running, or nothing to count."""
        ident = text(execution.get("id"), "execution id")
        built = int(number(execution.get("buildTime"), "execution buildTime"))
        app = execution.get("application")
        if execution.get("type", "PIPELINE") != "PIPELINE" or not isinstance(app, str):
            return
        if not self.keep(app):
            return
        if execution.get("status") not in COMPLETE:
            if deploy_stages(execution, self.config, self.envs)[1]:
                pending[ident] = built
            return
        done_before = ident in self.seen or (
            not again
            and self.floor is not None
            and built < self.floor
            and ident not in self.pending
        )
        if done_before:
            return
        found = deploy_facts(execution, self.config, self.envs)
        if found:
            facts[ident] = found
        else:
            skipped[ident] = built

    # -- Harbor and Jenkins ---------------------------------------------------------------------
    async def _link(
        self, up: DeliveryUpstreams, facts: list[DeployFact], first: bool, history_start: float
    ) -> dict[str, Link]:
        """Each deploy's artifact and build, or why not; lookups batched per repository and
        per job on the first poll, one per unknown image or build afterwards."""
        refs: dict[str, ImageRef | Unlinked] = {}
        for fact in facts:
            if fact.result == "rollback":
                continue
            try:
                refs[fact.id] = image_ref(fact.image, self.registry)
            except Unlinked as why:
                refs[fact.id] = why
        wanted = {_key(r) for r in refs.values() if isinstance(r, ImageRef)} - set(self.artifacts)
        if first and wanted:
            repos = {k.split("@", 1)[0] for k in wanted}
            await _gather(self._list_artifacts(up.harbor, repo, history_start) for repo in repos)
        await _gather(
            self._get_artifact(up.harbor, r)
            for r in {_key(r): r for r in refs.values() if isinstance(r, ImageRef)}.values()
            if _key(r) not in self.artifacts
        )
        jobs: dict[str, ImageRef] = {}
        for fact in facts:
            ref = refs.get(fact.id)
            if isinstance(ref, ImageRef) and self.artifacts.get(_key(ref)) is not None:
                jobs.setdefault(self._job(ref, fact.application), ref)
        await _gather(
            self._list_builds(up.jenkins, job, history_start if first else None)
            for job in jobs
            if first or job not in self.builds
        )
        out: dict[str, Link] = {}
        refreshed: set[str] = set()
        for fact in facts:
            ref = refs.get(fact.id)
            if ref is not None:
                out[fact.id] = await self._resolve(up.jenkins, fact, ref, refreshed)
        await self._commit_times(up, out, facts)
        return out

    async def _resolve(
        self, jenkins: Upstream, fact: DeployFact, ref: ImageRef | Unlinked, refreshed: set[str]
    ) -> Link:
        if isinstance(ref, Unlinked):
            return ref
        artifact = self.artifacts.get(_key(ref))
        if artifact is None:
            return Unlinked("artifact_not_found")
        job = self._job(ref, fact.application)
        try:
            return artifact, self._match(job, artifact, ref), ref
        except Unlinked as why:
            if why.reason != "no_build" or job in refreshed:
                return why
        refreshed.add(job)  # a build we do not hold: ask Jenkins once more
        await self._list_builds(jenkins, job, None)
        try:
            return artifact, self._match(job, artifact, ref), ref
        except Unlinked as why:
            return why

    def _job(self, ref: ImageRef, application: str) -> str:
        return self.config.jenkins_job.format(
            project=ref.project, repository=ref.repository, application=application
        )

    def _match(self, job: str, artifact: ArtifactFact, ref: ImageRef) -> BuildFact:
        tag = None if ref.reference.startswith("sha256:") else ref.reference
        return match_build(self.builds.get(job, {}), artifact, tag, self.tag_pattern)

    async def _list_artifacts(self, harbor: Upstream, repo: str, since: float) -> None:
        """A repository's artifacts newest push first, until older than the history window
        (`sort=-push_time`, labels asked for with `with_label`)."""
        project, _, repository = repo.partition("/")
        path = f"{API}/projects/{project}/repositories/{_escape(repository)}/artifacts"
        for page in range(1, 1000):
            query: dict[str, str | int] = {
                "page": page,
                "page_size": 100,
                "sort": "-push_time",
                "with_label": "true",
            }
            body, _ = await harbor.get(path, query, missing_ok=True)
            if body is None:
                return
            items = [artifact_fact(a, path) for a in expect_list(body, path)]
            for artifact in items:
                self._remember(repo, artifact)
            if len(items) < 100 or min(a.push_s for a in items) < since:
                return

    async def _get_artifact(self, harbor: Upstream, ref: ImageRef) -> None:
        path = (
            f"{API}/projects/{ref.project}/repositories/{_escape(ref.repository)}"
            f"/artifacts/{quote(ref.reference, safe='')}"
        )
        body, _ = await harbor.get(path, {"with_label": "true"}, missing_ok=True)
        if body is None:
            self.artifacts[_key(ref)] = None
            return
        self._remember(f"{ref.project}/{ref.repository}", artifact_fact(body, path))

    def _remember(self, repo: str, artifact: ArtifactFact) -> None:
        self.artifacts[f"{repo}@{artifact.digest}"] = artifact
        for tag in artifact.tags:
            self.artifacts[f"{repo}@{tag}"] = artifact

    async def _list_builds(self, jenkins: Upstream, job: str, since: float | None) -> None:
        """The job's builds newest first through `allBuilds` with a `{M,N}` range (`builds`
        stops at 100), one page when `since` is None, else until older than `since`."""
        path = job_path(job) + "/api/json"
        builds = self.builds.setdefault(job, {})
        for low in range(0, 100_000, BUILD_PAGE):
            tree = f"allBuilds[{BUILD_TREE}]{{{low},{low + BUILD_PAGE}}}"
            body, _ = await jenkins.get(path, {"tree": tree}, missing_ok=True)
            if body is None:
                return
            runs = expect_list(expect_dict(body, path).get("allBuilds") or [], path)
            for run in runs:
                build = build_fact(run, path)
                if build is not None:
                    builds[build.number] = build
            if since is None or len(runs) < BUILD_PAGE:
                return
            oldest = min(number(expect_dict(r, path).get("timestamp"), path) for r in runs) / 1000
            if oldest < since:
                return

    # -- commits --------------------------------------------------------------------------------
    def _shipped(self, build: BuildFact, job: str, last: dict[str, int]) -> list[BuildFact]:
        """The builds whose commits this deploy first shipped to its environment."""
        previous = last.get(job)
        if previous is not None and build.number <= previous:
            return []
        low = build.number - 1 if previous is None else previous
        held = self.builds.get(job, {})
        return [held[n] for n in range(low + 1, build.number + 1) if n in held]

    async def _commit_times(
        self, up: DeliveryUpstreams, links: dict[str, Any], facts: list[DeployFact]
    ) -> None:
        """Times Jenkins does not know, from the Git server its remote URL names."""
        last = {key: dict(lane.last_build) for key, lane in self.ledger.lanes.items()}
        unknown: dict[str, str] = {}
        for fact in facts:
            link = links.get(fact.id)
            if fact.result != "succeeded" or not isinstance(link, tuple) or link[1] is None:
                continue
            job = self._job(link[2], fact.application)
            lane = last.setdefault((fact.application, fact.environment), {})
            for build in self._shipped(link[1], job, lane):
                for sha, when in build.commits:
                    if when is None and sha not in self.commit_times and build.remote:
                        unknown[sha] = build.remote
            lane[job] = max(lane.get(job, 0), link[1].number)
        await _gather(self._git_time(up, sha, remote) for sha, remote in unknown.items())

    async def _git_time(self, up: DeliveryUpstreams, sha: str, remote: str) -> None:
        found = git_project(remote)
        source = None if found is None else self._source(found[0])
        if found is None or source is None:
            self.commit_times[sha] = None
            return
        client = up.git[source.name]
        project = found[1]
        if source.kind == "gitlab":
            # GET /projects/:id/repository/commits/:sha, `committed_date` (GitLab REST API).
            path = f"/api/v4/projects/{quote(project, safe='')}/repository/commits/{sha}"
            body, _ = await client.get(path, missing_ok=True)
            value = None if body is None else expect_dict(body, path).get("committed_date")
        else:
            # GET /repos/{owner}/{repo}/commits/{sha}, `commit.committer.date` (Gitee API v5).
            path = f"/api/v5/repos/{project}/commits/{sha}"
            body, _ = await client.get(path, _gitee_token(source), missing_ok=True)
            commit = None if body is None else expect_dict(body, path).get("commit")
            committer = commit.get("committer") if isinstance(commit, dict) else None
            value = committer.get("date") if isinstance(committer, dict) else None
        self.commit_times[sha] = None if value is None else parse_time(value, path)

    def _source(self, host: str) -> GitSource | None:
        for source in self.config.git:
            hosts = source.hosts or [urlsplit(source.url).hostname or ""]
            if host in hosts:
                return source
        return None

    # -- what a deploy delivered ----------------------------------------------------------------
    def _delivered(self, fact: DeployFact, link: Any) -> Delivered:
        if link is None:
            return Delivered()
        if isinstance(link, Unlinked):
            return Delivered(reason=link.reason)
        artifact, build, ref = link
        assert isinstance(build, BuildFact)
        job = self._job(ref, fact.application)
        lane = self.ledger.lane(fact.application, fact.environment)
        revision = build.revision or artifact.revision or ""
        if fact.result != "succeeded":
            return Delivered(revision=revision)
        shipped = self._shipped(build, job, lane.last_build)
        lane.last_build[job] = max(lane.last_build.get(job, 0), build.number)
        if not shipped:
            return Delivered(revision=revision)
        lead: list[float] = []
        to_build: list[tuple[str, float]] = []
        missing = False
        for shipped_build in shipped:
            for sha, when in shipped_build.commits:
                known = when if when is not None else self.commit_times.get(sha)
                if known is None:
                    missing = True
                    continue
                lead.append(max(0.0, fact.end_s - known))
                to_build.append(("commit_to_build", max(0.0, shipped_build.start_s - known)))
        pushed_end = min(build.end_s, artifact.push_s)
        stages = (
            *to_build,
            ("build", max(0.0, pushed_end - build.start_s)),
            ("build_to_push", max(0.0, artifact.push_s - build.end_s)),
            ("push_to_deploy", max(0.0, fact.start_s - artifact.push_s)),
            ("deploy", max(0.0, fact.end_s - fact.start_s)),
        )
        return Delivered(
            lead_times=tuple(lead),
            stages=stages,
            revision=revision,
            reason="no_commit_time" if missing else None,
        )


def _in_order(found: dict[str, list[DeployFact]]) -> list[DeployFact]:
    """Every execution's deploys, in the order they ended."""
    return sorted((f for facts in found.values() for f in facts), key=lambda f: (f.end_s, f.id))


def _key(ref: ImageRef) -> str:
    return f"{ref.project}/{ref.repository}@{ref.reference}"


def _escape(repository: str) -> str:
    """Harbor wants repository names escaped twice inside artifact paths ("a%252Fb")."""
    return quote(quote(repository, safe=""), safe="")


def _gitee_token(source: GitSource) -> dict[str, str]:
    _, _, token = source.auth.resolve(f"delivery.git[{source.name}].auth")
    return {"access_token": token.get_secret_value()} if token is not None else {}


async def _gather(calls: Iterable[Any]) -> None:
    async with asyncio.TaskGroup() as group:
        for call in calls:
            group.create_task(call)


async def _gather_results(calls: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(call) for call in calls]
    return [task.result() for task in tasks]
