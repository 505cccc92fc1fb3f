"""Log pipeline: every service's log records from emission to Kafka delivery, and what is lost."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from paas_sdk.dash.panels import (
    RECORDS_PER_SECOND,
    base_dashboard,
    or_none,
    stat_panel,
    timeseries_panel,
)

FOLDER = "paas"
S = 'job=~"$job", instance=~"$instance"'
RATE = "[$__rate_interval]"


def dashboard() -> Dashboard:
    return (
        base_dashboard(
            "PaaS / Log pipeline",
            "log-pipeline",
            selector_metric="paas_log_records_emitted_total",
            description="Log records per service: emitted, delivered to Kafka, dropped, failed.",
            tags=["paas", "logs"],
        )
        .with_panel(
            stat_panel(
                "Delivered share",
                "Share of emitted records delivered to Kafka over the range.",
                "percentunit",
                f"sum(increase(paas_log_records_delivered_total{{{S}}}[$__range]))"
                f" / sum(increase(paas_log_records_emitted_total{{{S}}}[$__range]))",
                steps=((None, "red"), (0.99, "orange"), (0.999, "green")),
            )
        )
        .with_panel(
            stat_panel(
                "Dropped",
                "Records dropped per second before reaching Kafka.",
                RECORDS_PER_SECOND,
                f"sum(rate(paas_log_records_dropped_total{{{S}}}{RATE})) or vector(0)",
                steps=((None, "green"), (0.001, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "In flight",
                "Records handed to the Kafka producer and not yet acknowledged.",
                "short",
                f"sum(paas_log_records_in_flight{{{S}}})",
                steps=((None, "green"), (1000, "orange"), (10000, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Truncated (range)",
                "Records cut to the size limit over the range.",
                "short",
                f"sum(increase(paas_log_records_truncated_total{{{S}}}[$__range]))",
                steps=((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Emitted by service",
                "Log records emitted per second, per job.",
                RECORDS_PER_SECOND,
                [(f"sum by (job) (rate(paas_log_records_emitted_total{{{S}}}{RATE}))", "{{job}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Delivered by service",
                "Log records acknowledged by Kafka per second, per job.",
                RECORDS_PER_SECOND,
                [
                    (
                        f"sum by (job) (rate(paas_log_records_delivered_total{{{S}}}{RATE}))",
                        "{{job}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Dropped by reason",
                "Records dropped before reaching Kafka per second, per job and reason.",
                RECORDS_PER_SECOND,
                [
                    (
                        or_none(
                            f"sum by (job, reason) (rate(paas_log_records_dropped_total{{{S}}}"
                            f"{RATE}))",
                            "reason",
                        ),
                        "{{job}} {{reason}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Failed deliveries",
                "Records Kafka refused or that timed out per second, per job.",
                RECORDS_PER_SECOND,
                [(f"sum by (job) (rate(paas_log_records_failed_total{{{S}}}{RATE}))", "{{job}}")],
            )
        )
    )
