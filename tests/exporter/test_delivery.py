"""The delivery view against the simulators' correlated world: every value is computed here from
the world's own history (which build each deploy shipped, each commit's time), never from the
exporter's reading of the APIs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from paas_exporter.config import parse_config
from paas_exporter.delivery import DeliveryUpstreams, DeliveryView
from paas_exporter.exposition import render_target
from paas_exporter.poller import Poller

from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator, SpinnakerSimulator
from paas_sdk.testing.simulators.delivery import DeliveryWorld, Deploy, install
from paas_sdk.testing.simulators.git import GitSimulator
from tests.exporter.conftest import Samples, key, parse_samples, series

WINDOW = 2 * 3600
EXPORTER = str(Path(sys.executable).with_name("paas-exporter"))
DAY = 86400


@pytest.fixture
def simulators() -> Iterator[tuple[HarborSimulator, JenkinsSimulator, SpinnakerSimulator]]:
    with (
        HarborSimulator(projects=2) as harbor,
        JenkinsSimulator(jobs=3) as jenkins,
        SpinnakerSimulator(applications=1) as spinnaker,
    ):
        yield harbor, jenkins, spinnaker


def config(sims: tuple[Any, ...], **delivery: Any) -> dict[str, Any]:
    harbor, jenkins, spinnaker = sims
    return {
        "targets": [
            {"name": "harbor", "kind": "harbor", "url": harbor.url, "interval": 60,
             "auth": {"username": "admin", "password_env": "TEST_HARBOR_PASSWORD"}},
            {"name": "jenkins", "kind": "jenkins", "url": jenkins.url, "interval": 60,
             "auth": {"username": "exporter", "password_env": "TEST_JENKINS_TOKEN"}},
            {"name": "spin", "kind": "spinnaker", "url": spinnaker.url, "interval": 60},
        ],
        "delivery": {
            "spinnaker": "spin", "harbor": "harbor", "jenkins": "jenkins",
            "registry": "harbor.example", "interval": 0.3,
            "environments": {"staging": ["staging-k8s"], "production": ["prod-k8s"]},
            **delivery,
        },
    }  # fmt: skip


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HARBOR_PASSWORD", "Harbor12345")
    monkeypatch.setenv("TEST_JENKINS_TOKEN", "api-token")


def poll(cfg: dict[str, Any], polls: int = 1) -> tuple[Poller, Samples]:
    poller = Poller(parse_config(cfg, "test"))
    poller.start()
    try:
        assert poller.wait_for_polls_of("delivery", polls, 60)
    finally:
        poller.close()
    state = poller.targets["delivery"]
    assert state.snapshot.up, state.snapshot.error
    return poller, parse_samples(poller.exposition.text.decode())


# -- the expected values, from the world's truth ---------------------------------------------------
class Expected:
    """What the four keys are, worked out from the world's history alone."""

    def __init__(  # noqa: PLR0912 - one pass, every key
        self, world: DeliveryWorld, *, commit_times_from_git: bool = False
    ) -> None:
        self.deployments: Counter[tuple[str, str, str]] = Counter()
        self.failures: Counter[tuple[str, str, str]] = Counter()
        self.unlinked: Counter[tuple[str, str, str]] = Counter()
        self.lead: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        self.restore: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        self.ends: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
        self.failed_at: dict[tuple[str, str], list[float]] = defaultdict(list)
        builds = {(b.application, b.number): b for b in world.builds}
        shipped_up_to: dict[tuple[str, str], int] = {}
        last_good: dict[tuple[str, str], float | None] = {}
        open_failure: dict[tuple[str, str], float | None] = {}

        def fail(lane: tuple[str, str], at: float, cause: str) -> None:
            self.failures[(*lane, cause)] += 1
            self.failed_at[lane].append(at)
            last_good[lane] = None
            if open_failure.get(lane) is None:
                open_failure[lane] = at

        for d in sorted(world.deploys, key=lambda d: (d.deploy_end_ms, d.id)):
            lane = (d.application, d.environment)
            end = d.deploy_end_ms / 1000
            if d.rollback:
                good = last_good.get(lane)
                if good is not None and d.deploy_start_ms / 1000 - good <= WINDOW:
                    fail(lane, good, "rollback")
                continue
            result = "succeeded" if d.deploy_status == "SUCCEEDED" else "failed"
            self.deployments[(*lane, result)] += 1
            self.ends[lane].append((end, result))
            reason = self._reason(d)
            if result == "failed":
                fail(lane, end, "deploy_failed")
            elif d.verification_failed:
                fail(lane, end, "verification_failed")
            else:
                if open_failure.get(lane) is not None:
                    self.restore[lane].append((end, end - open_failure[lane]))  # type: ignore[operator]
                    open_failure[lane] = None
                last_good[lane] = end
            if result == "succeeded" and d.build is not None:
                previous = shipped_up_to.get(lane)
                low = d.build.number - 1 if previous is None else previous
                for n in range(low + 1, d.build.number + 1):
                    for commit in builds[d.application, n].commits:
                        if commit.in_change_set or commit_times_from_git:
                            self.lead[lane].append((end, end - commit.time_ms / 1000))
                        else:
                            reason = "no_commit_time"
                shipped_up_to[lane] = max(previous or 0, d.build.number)
            if reason:
                self.unlinked[(*lane, reason)] += 1

    @staticmethod
    def _reason(d: Deploy) -> str | None:
        if not d.image:
            return "no_image"
        if not d.image.startswith("harbor.example/"):
            return "other_registry"
        return "no_build" if d.build is None else None


def assert_lead_times(samples: Samples, want: Expected) -> None:
    counts = series(samples, "delivery_lead_time_seconds_count")
    sums = series(samples, "delivery_lead_time_seconds_sum")
    for (app, env), values in want.lead.items():
        labels = key(application=app, environment=env)
        assert counts[labels] == len(values)
        assert sums[labels] == pytest.approx(sum(v for _, v in values), rel=1e-9)


def check(path: Path) -> subprocess.CompletedProcess[str]:
    """`paas-exporter --check` as a user runs it."""
    return subprocess.run(
        [EXPORTER, "--config", str(path), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"TEST_HARBOR_PASSWORD": "x", "TEST_JENKINS_TOKEN": "y", "PATH": "/usr/bin"},
    )  # fmt: skip


def test_every_value_equals_the_worlds_history(simulators: tuple[Any, ...], tmp_path: Path) -> None:
    world = DeliveryWorld.generate(8, 20, now_ms=int(time.time() * 1000) - 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    _, samples = poll(config(simulators, state_file=str(tmp_path / "state.json")))
    now = time.time()
    want = Expected(world)
    assert want.unlinked  # the world has every case
    assert want.failures
    assert want.restore
    # promotion pipelines, some deploying to an untracked account first: a deploy per stage
    assert any(d.promotion is not None and d.untracked_first for d in world.deploys)
    assert any(d.promotion is not None and not d.untracked_first for d in world.deploys)

    got = series(samples, "delivery_deployments_total")
    assert got == {key(application=a, environment=e, result=r): v
                   for (a, e, r), v in want.deployments.items()}  # fmt: skip
    got = series(samples, "delivery_change_failures_total")
    assert got == {key(application=a, environment=e, cause=c): v
                   for (a, e, c), v in want.failures.items()}  # fmt: skip
    got = series(samples, "delivery_unlinked_deployments_total")
    assert got == {key(application=a, environment=e, reason=r): v
                   for (a, e, r), v in want.unlinked.items()}  # fmt: skip
    assert_lead_times(samples, want)
    for window, width in (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
        since = now - width
        recent = series(samples, "delivery_recent_deployments")
        for (app, env), ends in want.ends.items():
            for result in ("succeeded", "failed"):
                expected = sum(1 for t, r in ends if t > since and r == result)
                labels = key(application=app, environment=env, result=result, window=window)
                assert recent[labels] == expected
        failures = series(samples, "delivery_recent_change_failures")
        for (app, env), times in want.failed_at.items():
            labels = key(application=app, environment=env, window=window)
            assert failures[labels] == sum(1 for t in times if t > since)
        medians = series(samples, "delivery_recent_lead_time_median_seconds")
        for (app, env), values in want.lead.items():
            inside = [v for t, v in values if t > since]
            labels = key(application=app, environment=env, window=window)
            if inside:
                assert medians[labels] == pytest.approx(statistics.median(inside))
            else:
                assert labels not in medians
        restores = series(samples, "delivery_recent_time_to_restore_median_seconds")
        for (app, env), values in want.restore.items():
            inside = [v for t, v in values if t > since]
            labels = key(application=app, environment=env, window=window)
            if inside:
                assert restores[labels] == pytest.approx(statistics.median(inside))


def test_a_restart_counts_nothing_twice(simulators: tuple[Any, ...], tmp_path: Path) -> None:
    world = DeliveryWorld.generate(3, 5, now_ms=int(time.time() * 1000) - 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    cfg = config(simulators, state_file=str(tmp_path / "state.json"))
    lane = key(application="svc001", environment="production", result="succeeded")
    first = series(poll(cfg)[1], "delivery_deployments_total").get(lane, 0)
    # The same history again after a restart: the counters stay where they were.
    again = series(poll(cfg)[1], "delivery_deployments_total").get(lane, 0)
    assert again == first
    # A deploy while the exporter is down is counted once, by the next start.
    world.add_release("svc001", int(time.time() * 1000))
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    samples = poll(cfg)[1]
    assert series(samples, "delivery_deployments_total")[lane] == first + 1
    samples = poll(cfg)[1]
    assert series(samples, "delivery_deployments_total")[lane] == first + 1
    lead = series(samples, "delivery_lead_time_seconds_count")
    assert lead[key(application="svc001", environment="production")] >= 2


def test_without_a_state_file_history_is_not_counted_but_new_deploys_are(
    simulators: tuple[Any, ...],
) -> None:
    world = DeliveryWorld.generate(2, 3, now_ms=int(time.time() * 1000) - 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    poller = Poller(parse_config(config(simulators), "test"))
    poller.start()
    try:
        assert poller.wait_for_polls_of("delivery", 1, 60)
        samples = parse_samples(poller.exposition.text.decode())
        assert series(samples, "delivery_deployments_total") == {}
        assert series(samples, "delivery_recent_deployments")  # history is in the gauges
        _, deploy = world.add_release("svc000", int(time.time() * 1000) + 1500)
        time.sleep(1.6)
        install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
        polls = poller.targets["delivery"].polls
        assert poller.wait_for_polls_of("delivery", polls + 2, 30)
        samples = parse_samples(poller.exposition.text.decode())
    finally:
        poller.close()
    lane = key(application="svc000", environment="production", result="succeeded")
    assert series(samples, "delivery_deployments_total") == {lane: 1}
    info = series(samples, "delivery_last_deployment_info")
    assert any(("image", deploy.image) in labels for labels in info)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"jenkins": "nope"}, "delivery.jenkins: no jenkins target named 'nope'"),
        ({"tag_pattern": "(unclosed"}, "delivery.tag_pattern: a regular expression"),
        ({"tag_pattern": "^v.+$"}, "named group `built`"),
        ({"environments": {}}, "delivery.environments"),
        ({"jenkins_job": "{team}/{repository}"}, "delivery.jenkins_job: placeholders"),
        ({"failure_window": -1}, "delivery.failure_window"),
    ],
)
def test_bad_delivery_config_exits_2_naming_the_field(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    sims = tuple(type("S", (), {"url": f"http://127.0.0.1:{9 + i}"})() for i in range(3))
    cfg = config(sims, **change)
    path = tmp_path / "exporter.yaml"
    path.write_text(yaml.safe_dump(cfg))
    done = check(path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_state_file_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    sims = tuple(type("S", (), {"url": f"http://127.0.0.1:{9 + i}"})() for i in range(3))
    state = tmp_path / "state.json"
    state.write_text('{"hello": 1}')
    path = tmp_path / "exporter.yaml"
    path.write_text(yaml.safe_dump(config(sims, state_file=str(state))))
    done = check(path)
    assert done.returncode == 2
    assert f"{state}" in done.stderr
    assert "not a paas-exporter delivery state file" in done.stderr


def test_a_deploy_running_across_polls_is_counted_once_it_ends(
    simulators: tuple[Any, ...], tmp_path: Path
) -> None:
    """Triggered before the next poll's search window, it is asked for by id until it ends."""
    world = DeliveryWorld.generate(2, 2, now_ms=int(time.time() * 1000) - 60_000)
    _, deploy = world.add_release("svc000", int(time.time() * 1000) - 10 * 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    spinnaker = simulators[2]
    running = next(e for e in spinnaker.state.executions["svc000"] if e["id"] == deploy.id)
    finished = {k: running[k] for k in ("status", "endTime", "stages")}
    stages = [{**s, "status": "RUNNING", "endTime": None} for s in running["stages"]]
    running.update(status="RUNNING", endTime=None, stages=stages)
    lane = key(application="svc000", environment="production", result="succeeded")
    poller = Poller(parse_config(config(simulators, state_file=str(tmp_path / "s.json")), "t"))
    poller.start()
    try:
        assert poller.wait_for_polls_of("delivery", 2, 60)
        before = series(
            parse_samples(poller.exposition.text.decode()), "delivery_deployments_total"
        )
        running.update(finished)
        polls = poller.targets["delivery"].polls
        assert poller.wait_for_polls_of("delivery", polls + 3, 30)
        after = series(parse_samples(poller.exposition.text.decode()), "delivery_deployments_total")
    finally:
        poller.close()
    assert after[lane] == before.get(lane, 0) + 1


def test_a_first_poll_cut_short_by_harbor_leaves_nothing_half_counted(
    simulators: tuple[Any, ...], tmp_path: Path
) -> None:
    world = DeliveryWorld.generate(4, 10, now_ms=int(time.time() * 1000) - 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    harbor = simulators[0]
    harbor.faults.error_status = 503
    # The application replayed last (in name order), so the others are recorded when it fails.
    last = max(world.applications)
    harbor.faults.path_prefix = f"/api/v2.0/projects/apps/repositories/{last}"
    poller = Poller(parse_config(config(simulators, state_file=str(tmp_path / "s.json")), "t"))
    poller.start()
    try:
        assert poller.wait_for_polls_of("delivery", 2, 60)
        state = poller.targets["delivery"]
        assert not state.snapshot.up
        assert "HTTP 503" in (state.snapshot.error or "")
        harbor.faults.clear()
        deadline = time.monotonic() + 30
        while True:  # the exposition of the first poll that succeeds
            samples = parse_samples(poller.exposition.text.decode())
            if series(samples, "delivery_recent_deployments"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        poller.close()
    want = Expected(world)
    assert series(samples, "delivery_deployments_total") == {
        key(application=a, environment=e, result=r): v for (a, e, r), v in want.deployments.items()
    }


@pytest.mark.parametrize("kind", ["gitlab", "gitee"])
def test_commit_times_jenkins_lacks_come_from_the_git_server(
    simulators: tuple[Any, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    world = DeliveryWorld.generate(4, 10, now_ms=int(time.time() * 1000) - 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    want = Expected(world, commit_times_from_git=True)
    assert any(not c.in_change_set for b in world.builds for c in b.commits)
    monkeypatch.setenv("TEST_GIT_TOKEN", "git-token")
    with GitSimulator(world) as git:
        source = {"name": "git", "kind": kind, "url": git.url, "hosts": ["gitlab.example"],
                  "auth": {"token_env": "TEST_GIT_TOKEN"}}  # fmt: skip
        cfg = config(simulators, state_file=str(tmp_path / "s.json"), git=[source])
        _, samples = poll(cfg)
    assert "no_commit_time" not in {r for (_, _, r) in want.unlinked}
    got = series(samples, "delivery_unlinked_deployments_total")
    assert got == {key(application=a, environment=e, reason=r): v
                   for (a, e, r), v in want.unlinked.items()}  # fmt: skip
    assert_lead_times(samples, want)


def test_an_unreadable_git_token_is_refused_at_load(tmp_path: Path) -> None:
    sims = tuple(type("S", (), {"url": f"http://127.0.0.1:{9 + i}"})() for i in range(3))
    source = {"name": "gl", "kind": "gitlab", "url": "https://gitlab.example",
              "auth": {"token_file": str(tmp_path / "missing")}}  # fmt: skip
    path = tmp_path / "exporter.yaml"
    path.write_text(yaml.safe_dump(config(sims, git=[source])))
    done = check(path)
    assert done.returncode == 2
    assert "delivery.git[0].auth.token_file: cannot read" in done.stderr


def test_at_200_applications_x_30_days_a_poll_adds_a_few_requests(
    simulators: tuple[Any, ...],
) -> None:
    """Counted at the issue's size: after the first poll (the whole history), a poll with
    nothing new is one search, and each new deploy costs one Harbor and one Jenkins request."""
    world = DeliveryWorld.generate(200, 30, now_ms=int(time.time() * 1000) - 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    cfg = parse_config(config(simulators, timeout=60), "test")
    view = DeliveryView(cfg)

    async def polls() -> tuple[int, list[int], int, Samples]:
        up = DeliveryUpstreams(cfg, {})
        try:
            await view.collect(up, time.time())
            first = up.requests
            steady = []
            for _ in range(3):
                before = up.requests
                await view.collect(up, time.time())
                steady.append(up.requests - before)
            now = int(time.time() * 1000)
            for app in world.applications[:5]:
                world.add_release(app, now)
            install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
            before = up.requests
            families = await view.collect(up, time.time())
            text = b"".join(f.lines for f in render_target(families)).decode()
            return first, steady, up.requests - before, parse_samples(text)
        finally:
            await up.close()

    first, steady, new, samples = asyncio.run(polls())
    # The application list, each application's search in pages of 50 (the simulator's own
    # application too), one artifact list per repository, one build list per job and, for an
    # application with a deploy of an image no build pushed, one more look for that build.
    per_app = Counter(d.application for d in world.deploys).values()
    assert first <= 1 + sum(n // 50 + 1 for n in per_app) + 1 + 3 * len(world.applications)
    assert steady == [1, 1, 1]
    assert new <= 1 + 2 * 5
    assert len(series(samples, "delivery_recent_deployments")) == 400 * 3 * 3


def _resident_mib(sims: tuple[Any, ...], tmp_path: Path, delivery: bool) -> float:
    """Resident memory between polls of a real `paas-exporter` (its own process; the simulators
    are in this one) once every target, and the view if configured, has been polled three
    times: the least VmRSS seen over the next 4 s, sampled every 50 ms (a poll under way holds
    its answers until it ends)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    cfg = config(sims, timeout=60, interval=2)
    for target in cfg["targets"]:
        target.update(interval=5, timeout=60)
    if not delivery:
        del cfg["delivery"]
    path = tmp_path / f"exporter-{delivery}.yaml"
    path.write_text(yaml.safe_dump({**cfg, "listen": {"host": "127.0.0.1", "port": port}}))
    wanted = ["harbor", "jenkins", "spin", *(["delivery"] if delivery else [])]
    child = subprocess.Popen([EXPORTER, "--config", str(path), "--log-level", "WARNING"])
    status = Path(f"/proc/{child.pid}/status")
    try:
        successes: dict[str, set[float]] = defaultdict(set)
        deadline = time.monotonic() + 240
        while min(len(successes[t]) for t in wanted) < 3:
            assert time.monotonic() < deadline, f"polled {dict(successes)} in 240 s"
            assert child.poll() is None, "the exporter stopped"
            time.sleep(0.5)
            with contextlib.suppress(httpx.HTTPError):
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
                last = series(parse_samples(text), "paas_exporter_last_success_timestamp_seconds")
                for labels, value in last.items():
                    successes[dict(labels)["target"]].add(value)
        least = float("inf")
        for _ in range(80):
            rss = next(line for line in status.read_text().splitlines() if line[:6] == "VmRSS:")
            least = min(least, int(rss.split()[1]) / 1024)
            time.sleep(0.05)
        return least
    finally:
        child.terminate()
        child.wait(timeout=30)


def test_at_200_applications_x_30_days_the_view_adds_at_most_a_tenth_to_resident_memory(
    tmp_path: Path,
) -> None:
    """The same exporter polling the same world (the world's jobs, repositories and pipelines
    among others), with and without the delivery view, measured between polls."""
    world = DeliveryWorld.generate(200, 30, now_ms=int(time.time() * 1000) - 60_000)
    with (
        HarborSimulator(projects=20) as harbor,
        JenkinsSimulator(jobs=200, folders=10, depth=2) as jenkins,
        SpinnakerSimulator(applications=5) as spinnaker,
    ):
        install(world, harbor=harbor, jenkins=jenkins, spinnaker=spinnaker)
        sims = (harbor, jenkins, spinnaker)
        without = _resident_mib(sims, tmp_path, delivery=False)
        with_view = _resident_mib(sims, tmp_path, delivery=True)
    assert with_view <= without * 1.10, f"{without:.1f} MiB without the view, {with_view:.1f} with"


def test_once_waits_for_the_delivery_views_first_poll_however_long_its_deadline(
    simulators: tuple[Any, ...], tmp_path: Path
) -> None:
    world = DeliveryWorld.generate(1, 2, now_ms=int(time.time() * 1000) - 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    # The targets' polls are bound to about a second, the view's to a minute; its Jenkins
    # calls (job paths, which the Jenkins target never asks for) take longer than the former.
    simulators[1].faults.latency = 7
    simulators[1].faults.path_prefix = "/job/"
    cfg = config(simulators, timeout=20, poll_timeout=60)
    for target in cfg["targets"]:
        target.update(interval=1, timeout=0.3)
    path = tmp_path / "exporter.yaml"
    path.write_text(yaml.safe_dump(cfg))
    done = subprocess.run(
        [EXPORTER, "--config", str(path), "--once"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"TEST_HARBOR_PASSWORD": "Harbor12345", "TEST_JENKINS_TOKEN": "api-token",
             "PATH": "/usr/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 'paas_exporter_target_up{target="delivery",kind="delivery"} 1' in done.stdout


@pytest.mark.parametrize("where", ["missing/dir", "a-file/dir"])
def test_check_refuses_a_state_file_in_a_directory_it_cannot_write(
    tmp_path: Path, where: str
) -> None:
    (tmp_path / "a-file").write_text("")
    sims = tuple(type("S", (), {"url": f"http://127.0.0.1:{9 + i}"})() for i in range(3))
    state = tmp_path / where / "state.json"
    path = tmp_path / "exporter.yaml"
    path.write_text(yaml.safe_dump(config(sims, state_file=str(state))))
    done = check(path)
    assert done.returncode == 2, done.stdout
    assert f"delivery.state_file: cannot write in {state.parent}: " in done.stderr
    assert "Traceback" not in done.stderr
    # a directory it can write in passes, and --check leaves nothing behind
    (tmp_path / "ok").mkdir()
    path.write_text(yaml.safe_dump(config(sims, state_file=str(tmp_path / "ok" / "s.json"))))
    assert check(path).returncode == 0
    assert not list((tmp_path / "ok").iterdir())


def test_only_windows_the_history_covers_are_exported(simulators: tuple[Any, ...]) -> None:
    world = DeliveryWorld.generate(1, 3, now_ms=int(time.time() * 1000) - 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    _, samples = poll(config(simulators, history=7 * DAY))
    for name in ("delivery_recent_deployments", "delivery_recent_change_failures"):
        windows = {dict(labels)["window"] for labels in series(samples, name)}
        assert windows == {"1d", "7d"}, name


def test_a_search_page_of_executions_the_view_sets_aside_ends_the_search(
    simulators: tuple[Any, ...],
) -> None:
    """A full page whose executions all share one trigger time and are none of the view's
    (orchestrations here) is read once: the next page would be the same one again."""
    world = DeliveryWorld.generate(2, 2, now_ms=int(time.time() * 1000) - 60_000)
    install(world, harbor=simulators[0], jenkins=simulators[1], spinnaker=simulators[2])
    cfg = parse_config(config(simulators, search_page_size=10), "test")
    view = DeliveryView(cfg)

    async def polls() -> int:
        up = DeliveryUpstreams(cfg, {})
        try:
            await view.collect(up, time.time())
            burst = int(time.time() * 1000) - 1000
            simulators[2].state.executions["svc000"] += [
                {"id": f"orch-{n}", "type": "ORCHESTRATION", "application": "svc000",
                 "name": "resize", "status": "SUCCEEDED", "buildTime": burst,
                 "startTime": burst, "endTime": burst + 10, "stages": [],
                 "pipelineConfigId": None}
                for n in range(12)
            ]  # fmt: skip
            before = up.requests
            await asyncio.wait_for(view.collect(up, time.time()), timeout=20)
            return up.requests - before
        finally:
            await up.close()

    assert asyncio.run(polls()) <= 2
