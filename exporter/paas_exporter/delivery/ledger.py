"""The delivery ledger: each application and environment's deploys, change failures, lead times
and restores, as counters counted once and as rolling 1 d / 7 d / 30 d gauges.

The rolling part is rebuilt from upstream history after a restart; the counted part (counter
values, which executions were counted) survives restarts through an optional state file written
whole and renamed into place, so a restart never counts an execution twice.
"""

from __future__ import annotations

import bisect
import os
import statistics
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from paas_exporter.config import read_file
from paas_exporter.delivery.links import DeployFact
from paas_exporter.exposition import HistogramFamily, MetricFamily
from paas_sdk.errors import ExporterConfigError

DAY = 86400.0
WINDOWS = (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
#: One minute to thirty days: lead times span minutes (hotfixes) to weeks (batched releases).
BOUNDS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 345600, 604800,
          1209600, 2592000)  # fmt: skip
RESULTS = ("succeeded", "failed", "canceled")
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Delivered:
    """What a linked, successful deploy brought to its environment."""

    lead_times: tuple[float, ...] = ()
    stages: tuple[tuple[str, float], ...] = ()
    revision: str = ""
    #: Set when a link could not be made (the metric's `reason` label).
    reason: str | None = None


@dataclass(slots=True)
class Lane:
    """One application in one environment: the history the rolling gauges are computed from."""

    deploys: array[float] = field(default_factory=lambda: array("d"))  # (end, result index)
    failures: array[float] = field(default_factory=lambda: array("d"))  # deploy end times
    lead: array[float] = field(default_factory=lambda: array("d"))  # (end, seconds)
    restore: array[float] = field(default_factory=lambda: array("d"))  # (end, seconds)
    #: Newest build number deployed here, per Jenkins job: commits up to it have shipped.
    last_build: dict[str, int] = field(default_factory=dict)
    open_failure: float | None = None
    streak: int = 0
    last_success: float | None = None
    last: tuple[float, str, str, str] | None = None  # end, result, image, revision


def _pairs(values: array[float]) -> list[tuple[float, float]]:
    return list(zip(values[0::2], values[1::2], strict=True))


def _median_since(pairs: list[tuple[float, float]], since: float) -> float | None:
    values = [v for t, v in pairs if t > since]
    return statistics.median(values) if values else None


def _prune(values: array[float], width: int, before: float) -> None:
    keep = 0
    while keep < len(values) and values[keep] <= before:
        keep += width
    del values[:keep]


class Ledger:
    """Counters, histograms and lanes of the delivery view."""

    def __init__(self, failure_window: float, history: float) -> None:
        self.failure_window = failure_window
        self.history = history
        # Only windows the history covers: a 30d window over 7 days of history would show the
        # 7d figures under a 30d label. Its series are left out, so a panel shows no data.
        self.windows = tuple((name, width) for name, width in WINDOWS if width <= history)
        self.lanes: dict[tuple[str, str], Lane] = {}
        self.counters: dict[tuple[str, ...], float] = {}
        self.histograms: dict[tuple[str, ...], list[float]] = {}

    def lane(self, app: str, env: str) -> Lane:
        found = self.lanes.get((app, env))
        if found is None:
            found = self.lanes[app, env] = Lane()
        return found

    # -- recording ------------------------------------------------------------------------------
    def _count(self, counted: bool, *key: str) -> None:
        if counted:
            self.counters[key] = self.counters.get(key, 0.0) + 1

    def _observe(self, counted: bool, value: float, *key: str) -> None:
        if not counted:
            return
        buckets = self.histograms.get(key)
        if buckets is None:
            buckets = self.histograms[key] = [0.0] * (len(BOUNDS) + 2)
        buckets[bisect.bisect_left(BOUNDS, value)] += 1
        buckets[-1] += value

    def record(self, fact: DeployFact, delivered: Delivered, counted: bool) -> None:
        """Add one completed execution; `counted` says whether counters take it (they took it
        before a restart otherwise). The rolling lanes always take it."""
        app, env = fact.application, fact.environment
        lane = self.lane(app, env)
        if fact.result == "rollback":
            deployed = lane.last_success
            if deployed is not None and fact.start_s - deployed <= self.failure_window:
                self._failure(lane, deployed, counted, app, env, "rollback")
            return
        lane.deploys.extend((fact.end_s, RESULTS.index(fact.result)))
        self._count(counted, "deployments", app, env, fact.result)
        lane.last = (fact.end_s, fact.result, fact.image or "", delivered.revision)
        if delivered.reason is not None:
            self._count(counted, "unlinked", app, env, delivered.reason)
        if fact.result == "failed":
            lane.streak += 1
            self._failure(lane, fact.end_s, counted, app, env, "deploy_failed")
        elif fact.result == "succeeded":
            lane.streak = 0
            if fact.verification_failed:
                self._failure(lane, fact.end_s, counted, app, env, "verification_failed")
            else:
                if lane.open_failure is not None:
                    seconds = fact.end_s - lane.open_failure
                    lane.restore.extend((fact.end_s, seconds))
                    self._observe(counted, seconds, "restore", app, env)
                    lane.open_failure = None
                lane.last_success = fact.end_s
            for seconds in delivered.lead_times:
                lane.lead.extend((fact.end_s, seconds))
                self._observe(counted, seconds, "lead", app, env)
            for stage, seconds in delivered.stages:
                self._observe(counted, seconds, "stage", app, env, stage)

    def _failure(  # noqa: PLR0917 - the lane's key and the cause, as the counters take them
        self, lane: Lane, at: float, counted: bool, app: str, env: str, cause: str
    ) -> None:
        lane.failures.append(at)
        lane.last_success = None
        if lane.open_failure is None:
            lane.open_failure = at
        self._count(counted, "change_failures", app, env, cause)

    def prune(self, now: float) -> None:
        before = now - self.history
        for lane in self.lanes.values():
            _prune(lane.deploys, 2, before)
            _prune(lane.failures, 1, before)
            _prune(lane.lead, 2, before)
            _prune(lane.restore, 2, before)

    # -- state across restarts ------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "counters": [[*k, v] for k, v in self.counters.items()],
            "histograms": [[*k, *v] for k, v in self.histograms.items()],
        }

    def restore_counts(self, data: dict[str, Any]) -> None:
        sizes = {"deployments": 4, "unlinked": 4, "change_failures": 4}
        for row in data.get("counters", []):
            width = sizes[row[0]]
            self.counters[tuple(row[:width])] = float(row[width])
        widths = {"lead": 3, "restore": 3, "stage": 4}
        for row in data.get("histograms", []):
            width = widths[row[0]]
            values = [float(v) for v in row[width:]]
            if len(values) != len(BOUNDS) + 2:
                raise ValueError("histogram buckets changed")
            self.histograms[tuple(row[:width])] = values

    # -- metrics ----------------------------------------------------------------------------
    def families(self, now: float) -> list[MetricFamily]:
        fam = _families()
        for key, value in sorted(self.counters.items()):
            fam[key[0]].add(value, *key[1:])
        for key, buckets in sorted(self.histograms.items()):
            family = fam[key[0]]
            assert isinstance(family, HistogramFamily)
            family.add_histogram(buckets[:-1], buckets[-1], *key[1:])
        for (app, env), lane in sorted(self.lanes.items()):
            labels = (app, env)
            fam["streak"].add(lane.streak, *labels)
            if lane.last is not None:
                end, result, image, revision = lane.last
                fam["last"].add(end, *labels)
                fam["info"].add(1, *labels, result, image, revision)
            deploys, lead_times, restores = (
                _pairs(lane.deploys),
                _pairs(lane.lead),
                _pairs(lane.restore),
            )
            for window, width in self.windows:
                since = now - width
                counts = [0, 0, 0]
                for end, result_index in deploys:
                    if end > since:
                        counts[int(result_index)] += 1
                for result, count in zip(RESULTS, counts, strict=True):
                    fam["recent_deployments"].add(count, *labels, result, window)
                failures = sum(1 for t in lane.failures if t > since)
                fam["recent_failures"].add(failures, *labels, window)
                lead = _median_since(lead_times, since)
                if lead is not None:
                    fam["recent_lead"].add(lead, *labels, window)
                restore = _median_since(restores, since)
                if restore is not None:
                    fam["recent_restore"].add(restore, *labels, window)
        return list(fam.values())


def _families() -> dict[str, MetricFamily]:
    lane = ("application", "environment")
    return {
        "deployments": MetricFamily(
            "delivery_deployments_total",
            "counter",
            "Deploys to the environment by the deploy stage's result, each stage counted once",
            (*lane, "result"),
        ),
        "change_failures": MetricFamily(
            "delivery_change_failures_total",
            "counter",
            "Deploys that failed, failed verification or were rolled back within the failure "
            "window, by cause",
            (*lane, "cause"),
        ),
        "unlinked": MetricFamily(
            "delivery_unlinked_deployments_total",
            "counter",
            "Deploys whose image, build or commits could not be linked, by reason",
            (*lane, "reason"),
        ),
        "lead": HistogramFamily(
            "delivery_lead_time_seconds",
            "Time from each commit to the successful deploy that first shipped it",
            lane,
            BOUNDS,
        ),
        "stage": HistogramFamily(
            "delivery_stage_duration_seconds",
            "Where lead time goes: commit_to_build (per commit), build, build_to_push, "
            "push_to_deploy and deploy (per deploy)",
            (*lane, "stage"),
            BOUNDS,
        ),
        "restore": HistogramFamily(
            "delivery_time_to_restore_seconds",
            "Time from a change failure to the next successful deploy of the application there",
            lane,
            BOUNDS,
        ),
        "recent_deployments": MetricFamily(
            "delivery_recent_deployments",
            "gauge",
            "Deploys whose deploy stage ended within the window, by result (from upstream history)",
            (*lane, "result", "window"),
        ),
        "recent_failures": MetricFamily(
            "delivery_recent_change_failures",
            "gauge",
            "Change failures among deploys that ended within the window (from upstream history)",
            (*lane, "window"),
        ),
        "recent_lead": MetricFamily(
            "delivery_recent_lead_time_median_seconds",
            "gauge",
            "Median lead time of commits shipped within the window (from upstream history)",
            (*lane, "window"),
        ),
        "recent_restore": MetricFamily(
            "delivery_recent_time_to_restore_median_seconds",
            "gauge",
            "Median time to restore of restores within the window (from upstream history)",
            (*lane, "window"),
        ),
        "streak": MetricFamily(
            "delivery_consecutive_failed_deployments",
            "gauge",
            "Deploys in a row whose deploy stage failed, 0 after a successful one",
            lane,
        ),
        "last": MetricFamily(
            "delivery_last_deployment_timestamp_seconds",
            "gauge",
            "When the newest deploy to the environment ended",
            lane,
        ),
        "info": MetricFamily(
            "delivery_last_deployment_info",
            "info",
            "The newest deploy to the environment: its result, image and revision",
            (*lane, "result", "image", "revision"),
        ),
    }


# -- the state file -----------------------------------------------------------------------------
def load_state(path: Path | None) -> dict[str, Any] | None:
    """The saved state, None when there is none yet; a file that is not ours is refused."""
    if path is None or not path.exists():
        return None
    raw = read_file(path, "state file")
    try:
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"expected version {STATE_VERSION}")
        Ledger(1, 1).restore_counts(data)
        # What the view reads back besides the counts (DeliveryView.__init__): checked here so
        # a hand-edited or truncated file is refused like any other, not a traceback.
        floor = data.get("floor")
        if isinstance(floor, bool) or not isinstance(floor, int):
            raise ValueError(f"floor: expected an integer, got {floor!r:.40}")
        for key in ("seen", "pending"):
            ids = data.get(key)
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValueError(f"{key}: expected a list of execution ids")
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise ExporterConfigError(
            f"not a paas-exporter delivery state file ({error}); move it away to start afresh",
            where=str(path),
        ) from None
    return data


def save_state(path: Path, data: dict[str, Any]) -> None:
    """Write whole, then rename: a crash leaves the old file or the new one, never half."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(orjson.dumps({"version": STATE_VERSION, **data}))
    os.replace(temporary, path)
