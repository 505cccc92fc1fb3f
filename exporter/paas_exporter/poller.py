"""Background polling: one asyncio task per target, each poll building an immutable snapshot that
replaces the target's previous one; after every poll the whole exposition is recomposed once.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from paas_exporter import __version__
from paas_exporter.config import (
    DeliveryConfig,
    ExporterConfig,
    HarborTarget,
    JenkinsTarget,
    SpinnakerTarget,
)
from paas_exporter.delivery import DeliveryUpstreams, DeliveryView
from paas_exporter.exposition import Exposition, MetricFamily, RenderedFamily, render_target
from paas_exporter.harbor import collect_harbor
from paas_exporter.jenkins import collect_jenkins
from paas_exporter.spinnaker import collect_spinnaker
from paas_exporter.upstream import AnyTarget, Upstream
from paas_sdk.errors import UpstreamError

log = logging.getLogger("paas_exporter")
# Why a target is down, as `paas_exporter_target_down_reason` tells it: a fixed set, so that
# alerts and dashboards can name each one; `internal` is a failure of the exporter itself.
DOWN_REASONS = ("auth", "timeout", "connect", "http_4xx", "http_5xx", "malformed", "internal")


@dataclass(frozen=True)
class TargetSnapshot:
    """What one poll of one target produced; replaced whole by the next poll."""

    families: tuple[RenderedFamily, ...] = ()
    up: bool = False
    last_success: float | None = None
    poll_seconds: float = 0.0
    render_seconds: float = 0.0
    error: str | None = None
    reason: str | None = None  # one of DOWN_REASONS while the target is down


@dataclass
class TargetState:
    target: AnyTarget | DeliveryConfig
    snapshot: TargetSnapshot = field(default_factory=TargetSnapshot)
    polls: int = 0
    requests: int = 0
    errors: int = 0
    probe_exposition: Exposition | None = None


async def collect(upstream: Upstream, target: AnyTarget, now: float) -> list[MetricFamily]:
    if isinstance(target, HarborTarget):
        return await collect_harbor(upstream, target)
    if isinstance(target, JenkinsTarget):
        return await collect_jenkins(upstream, target, now)
    assert isinstance(target, SpinnakerTarget)
    return await collect_spinnaker(upstream, target, now)


class Poller:
    """Polls every configured target in a background thread named `paas-exporter-poll`."""

    def __init__(
        self,
        config: ExporterConfig,
        *,
        transport_for: dict[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.config = config
        self.targets = {t.name: TargetState(t) for t in config.targets}
        kinds = [t.kind for t in config.targets]
        # A kind's own label (harbor=..., jenkins=...) only when several targets share the kind.
        self._const_labels: dict[str, tuple[tuple[str, str], ...]] = {
            t.name: ((t.kind, t.name),) if kinds.count(t.kind) > 1 else () for t in config.targets
        }
        # The delivery view polls like a target of its own, with its own clients and counts.
        self.delivery = DeliveryView(config) if config.delivery is not None else None
        if config.delivery is not None:
            self.targets[config.delivery.name] = TargetState(config.delivery)
            self._const_labels[config.delivery.name] = ()
        self._transports = transport_for or {}
        self.exposition = Exposition.compose([self_families(self.targets.values())])
        self.polled = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    # -- life -----------------------------------------------------------------------------------
    def start(self) -> None:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._stopping = asyncio.Event()
            started.set()
            self._loop.run_until_complete(self._run_all())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="paas-exporter-poll", daemon=True)
        self._thread.start()
        started.wait()

    def close(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=15)

    def wait_for_polls(self, count: int = 1, timeout: float = 30.0) -> bool:
        """Block until every target has been polled `count` times (for tests and `--once`)."""
        with self.polled:
            return self.polled.wait_for(
                lambda: all(s.polls >= count for s in self.targets.values()), timeout
            )

    def wait_for_polls_of(self, name: str, count: int, timeout: float = 30.0) -> bool:
        """Block until the target (or view) `name` has been polled `count` times."""
        with self.polled:
            return self.polled.wait_for(lambda: self.targets[name].polls >= count, timeout)

    async def _run_all(self) -> None:
        assert self._stopping is not None
        tasks = [asyncio.create_task(self._run(state)) for state in self.targets.values()]
        await self._stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _connect(self, target: AnyTarget | DeliveryConfig) -> Upstream | DeliveryUpstreams:
        if isinstance(target, DeliveryConfig):
            return DeliveryUpstreams(self.config, self._transports)
        return Upstream(target, transport=self._transports.get(target.name))

    async def _collect(
        self, upstream: Upstream | DeliveryUpstreams, target: AnyTarget | DeliveryConfig
    ) -> list[MetricFamily]:
        if isinstance(upstream, DeliveryUpstreams):
            assert self.delivery is not None
            return await self.delivery.collect(upstream, time.time())
        assert not isinstance(target, DeliveryConfig)
        return await collect(upstream, target, time.time())

    async def _run(self, state: TargetState) -> None:
        upstream: Upstream | DeliveryUpstreams | None = None
        try:
            while True:
                started = time.monotonic()
                if upstream is None:
                    try:  # a secret file or a client certificate may be unreadable right now
                        upstream = self._connect(state.target)
                    except Exception as error:  # reported as this target being down
                        self._publish(state, self._failed(state, error, 0.0), 0, 1)
                if upstream is not None and not await self.poll(state, upstream):
                    # A failed poll may have cancelled requests mid-flight (its task group
                    # stops the others); their connections are not trusted again. A new
                    # client also re-reads credentials that may have been rotated meanwhile.
                    await _discard(upstream, state.target.timeout)
                    upstream = None
                release_freed_memory()
                elapsed = time.monotonic() - started
                await asyncio.sleep(max(0.05, state.target.interval - elapsed))
        finally:
            if upstream is not None:
                await upstream.close()

    # -- one poll -------------------------------------------------------------------------------
    async def poll(self, state: TargetState, upstream: Upstream | DeliveryUpstreams) -> bool:
        """Poll `state`'s target once and publish the outcome; True if the poll succeeded."""
        target = state.target
        started = time.perf_counter()
        requests, errors = upstream.requests, upstream.errors
        try:
            # The whole poll is bounded too: a stream of slow pages must not hold it forever.
            async with asyncio.timeout(target.poll_deadline):
                families = await self._collect(upstream, target)
            render_started = time.perf_counter()
            rendered = tuple(render_target(families, self._const_labels[target.name]))
            snapshot = TargetSnapshot(
                families=rendered,
                up=True,
                last_success=time.time(),
                poll_seconds=time.perf_counter() - started,
                render_seconds=time.perf_counter() - render_started,
            )
        except Exception as error:  # one target must not stop the others
            if upstream.errors == errors:  # a parse failure, not yet counted by the client
                upstream.errors += 1
            snapshot = self._failed(state, error, time.perf_counter() - started)
        self._publish(state, snapshot, upstream.requests - requests, upstream.errors - errors)
        return snapshot.up

    @staticmethod
    def _failed(state: TargetState, error: BaseException, seconds: float) -> TargetSnapshot:
        reason = _reason(error)
        target = state.target
        log.warning("poll of %s target %s failed: %s", target.kind, target.name, reason)
        return TargetSnapshot(
            up=False,
            last_success=state.snapshot.last_success,
            poll_seconds=seconds,
            error=reason,
            reason=_category(error),
        )

    def _publish(
        self, state: TargetState, snapshot: TargetSnapshot, requests: int, errors: int
    ) -> None:
        """Swap in the target's new snapshot and recompose what scrapes serve."""
        # Under the lock a waiter for `polls` never sees the count before the exposition.
        with self.polled:
            state.requests += requests
            state.errors += errors
            state.snapshot = snapshot
            state.polls += 1
            if self.config.probe:
                state.probe_exposition = self.compose([state.target.name])
            self.exposition = self.compose()
            self.polled.notify_all()

    def compose(self, names: Sequence[str] | None = None) -> Exposition:
        chosen = [self.targets[n] for n in names] if names is not None else self.targets.values()
        parts = [state.snapshot.families for state in chosen]
        return Exposition.compose([*parts, self_families(chosen)])


def _reason(error: BaseException) -> str:
    if isinstance(error, UpstreamError):
        return str(error)
    if isinstance(error, TimeoutError):
        return "poll did not finish in time"
    if isinstance(error, BaseExceptionGroup):
        return _reason(error.exceptions[0])
    return f"{error.__class__.__name__}: {error}"


def _category(error: BaseException) -> str:
    if isinstance(error, UpstreamError):
        return error.reason
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, BaseExceptionGroup):
        return _category(error.exceptions[0])
    return "internal"


def self_families(states: object) -> list[RenderedFamily]:
    """The exporter's own metrics, rebuilt from the targets' counters after every poll."""
    chosen = list(states)  # type: ignore[call-overload]
    labels = ("target", "kind")
    up = MetricFamily(
        "paas_exporter_target_up", "gauge", "1 when the target's last poll succeeded", labels
    )
    success = MetricFamily(
        "paas_exporter_last_success_timestamp_seconds",
        "gauge",
        "When the target was last polled successfully",
        labels,
    )
    duration = MetricFamily(
        "paas_exporter_poll_duration_seconds",
        "gauge",
        "How long the target's last poll took",
        labels,
    )
    requests = MetricFamily(
        "paas_exporter_upstream_requests_total",
        "counter",
        "HTTP requests sent to the target",
        labels,
    )
    errors = MetricFamily(
        "paas_exporter_upstream_errors_total",
        "counter",
        "Failed requests and unusable answers from the target",
        labels,
    )
    down = MetricFamily(
        "paas_exporter_target_down_reason",
        "gauge",
        "1 for the reason the target's last poll failed, 0 for the others (all 0 while up): "
        + ", ".join(DOWN_REASONS),
        (*labels, "reason"),
    )
    build = MetricFamily(
        "paas_exporter_build_info", "info", "paas-exporter's version", ("version",)
    )
    build.add(1, __version__)
    for state in chosen:
        key = (state.target.name, state.target.kind)
        snapshot = state.snapshot
        up.add(1 if snapshot.up else 0, *key)
        for reason in DOWN_REASONS:
            down.add(1 if reason == snapshot.reason else 0, *key, reason)
        if snapshot.last_success is not None:
            success.add(snapshot.last_success, *key)
        if state.polls:
            duration.add(snapshot.poll_seconds, *key)
        requests.add(state.requests, *key)
        errors.add(state.errors, *key)
    return render_target([up, down, success, duration, requests, errors, build])


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_trim = _malloc_trim()


def release_freed_memory() -> None:
    """Hand the heap a poll's answers occupied back to the system (glibc keeps freed memory in
    the process otherwise, so RSS would stay at the largest poll's peak)."""
    if _trim is not None:
        _trim(0)


async def _discard(upstream: Upstream | DeliveryUpstreams, timeout: float) -> None:
    """Close `upstream`'s client, waiting at most `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            await upstream.close()
    except Exception as error:  # closing a broken pool must not stop the poll loop
        log.debug("closing the client of %s: %s", upstream.target.name, error)
