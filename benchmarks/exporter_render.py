"""Render time per poll at 20 000 jobs + 2 000 projects: the direct renderer against
prometheus-client's generic rendering (a custom collector + generate_latest) of the same samples.

    .venv/bin/python benchmarks/exporter_render.py [--quick]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

from _exporter_setup import config_for, large_simulators, poll_directly
from paas_exporter.exposition import Exposition, MetricFamily, render_target
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class SameSamples(Collector):
    """The same families through prometheus-client's generic path, built fresh per collect."""

    def __init__(self, families: list[MetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            if family.kind == "counter":
                metric: CounterMetricFamily | GaugeMetricFamily = CounterMetricFamily(
                    family.name, family.help, labels=family.label_names
                )
            else:
                metric = GaugeMetricFamily(family.name, family.help, labels=family.label_names)
            for values, value in family.samples:
                metric.add_metric(list(values), value)
            yield metric


def best_of(runs: int, action: object) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    quick = "--quick" in sys.argv
    harbor, jenkins = large_simulators(quick)
    try:
        families_by_target, _, _ = poll_directly(config_for(harbor, jenkins))
    finally:
        harbor.stop()
        jenkins.stop()
    families = [f for fams in families_by_target.values() for f in fams]
    samples = sum(len(f.samples) for f in families)

    def text_only() -> bytes:
        parts = render_target(families)
        return b"".join(
            f"# HELP {f.name} {f.help}\n# TYPE {f.name} {f.kind}\n".encode() + f.lines
            for f in parts
        )

    def publish() -> Exposition:
        return Exposition.compose([render_target(families)])

    registry = CollectorRegistry()
    registry.register(SameSamples(families))
    like_for_like = best_of(5, text_only)
    full = best_of(5, publish)
    generic = best_of(3, lambda: generate_latest(registry))
    print(f"samples per poll: {samples}")
    print(f"prometheus-client generate_latest (text):              {generic * 1000:.0f} ms")
    print(f"direct renderer, text (like for like):                {like_for_like * 1000:.0f} ms")
    print(f"direct renderer, whole publish (text, OpenMetrics, gzip): {full * 1000:.0f} ms")
    print(
        f"ratio: {generic / like_for_like:.1f}x faster like for like, "
        f"{generic / full:.1f}x for the whole publish (target >= 5x, <= 300 ms)"
    )


if __name__ == "__main__":
    main()
