"""One collector of each kind per Prometheus registry, whatever asks for it."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY, CollectorRegistry

from paas_sdk._collectors import collector_in
from paas_sdk.config._metrics import ConfigCollector
from paas_sdk.logs import LogMetrics


def test_each_registry_gets_its_own_collector_of_each_kind_once() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    logs = collector_in(first, LogMetrics)
    assert collector_in(first, LogMetrics) is logs
    assert collector_in(second, LogMetrics) is not logs
    assert isinstance(collector_in(first, ConfigCollector), ConfigCollector)
    assert first.get_sample_value("paas_log_records_emitted_total") == 0
    assert collector_in(None, LogMetrics) is collector_in(REGISTRY, LogMetrics)


def test_a_new_registry_never_inherits_a_collected_ones_collector() -> None:
    """A registry that is gone takes its collectors along, even if its id() is reused."""
    for _ in range(50):
        registry = CollectorRegistry()
        collector_in(registry, LogMetrics)
        del registry
        gc.collect()
        fresh = CollectorRegistry()
        collector_in(fresh, LogMetrics)
        assert fresh.get_sample_value("paas_log_records_emitted_total") == 0
