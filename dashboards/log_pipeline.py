"""Log pipeline: every service's log records from emission to Kafka delivery, and what is lost;
then the indexers that take the topic into Elasticsearch (`paas-logs index --metrics-port`)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from paas_sdk.dash.panels import (
    RECORDS_PER_SECOND,
    base_dashboard,
    or_none,
    query_variable,
    stat_panel,
    timeseries_panel,
)

FOLDER = "paas"
S = 'job=~"$job", instance=~"$instance"'
RATE = "[$__rate_interval]"
IX = "paas_logs_indexer"
# The indexers are a job of their own (`paas-logs index --metrics-port`), chosen apart.
IXS = '{job=~"$indexer_job"}'


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
        .with_variable(
            query_variable("indexer_job", f"label_values({IX}_records_consumed_total, job)")
        )
        .with_panel(
            stat_panel(
                "Indexer lag",
                "Records in the log topic not yet consumed by the indexers.",
                "short",
                f"sum({IX}_consumer_lag{IXS}) or vector(0)",
                steps=((None, "green"), (10000, "orange"), (100000, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Dead-lettered (range)",
                "Records Elasticsearch refused, kept in the dead-letter topic "
                "(paas-logs dlq list).",
                "short",
                f"sum(increase({IX}_records_dead_lettered_total{IXS}[$__range])) or vector(0)",
                steps=((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            stat_panel(
                "Indexers waiting",
                "Indexers waiting on Elasticsearch or Kafka right now.",
                "short",
                f"sum({IX}_waiting{IXS}) or vector(0)",
                steps=((None, "green"), (1, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Bulk latency p99",
                "99th percentile of the time Elasticsearch takes to answer a bulk request.",
                "s",
                "histogram_quantile(0.99, sum by (le) "
                f"(rate({IX}_bulk_duration_seconds_bucket{IXS}{RATE})))",
                steps=((None, "green"), (5, "orange"), (20, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Indexed",
                "Records per second the indexers consumed, indexed, found already present.",
                RECORDS_PER_SECOND,
                [
                    (f"sum(rate({IX}_records_consumed_total{IXS}{RATE}))", "consumed"),
                    (f"sum(rate({IX}_records_indexed_total{IXS}{RATE}))", "indexed"),
                    (
                        f"sum(rate({IX}_records_already_present_total{IXS}{RATE}))",
                        "already present",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Dead-lettered and retried",
                "Records dead-lettered per second by reason, and bulk requests sent again.",
                RECORDS_PER_SECOND,
                [
                    (
                        f"sum by (reason) (rate({IX}_records_dead_lettered_total{IXS}{RATE}))",
                        "dead-lettered {{reason}}",
                    ),
                    (f"sum(rate({IX}_retries_total{IXS}{RATE}))", "retries"),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Lag by partition",
                "Records not yet consumed, per partition of the log topic.",
                "short",
                [
                    (
                        f"sum by (topic, partition) ({IX}_consumer_lag{IXS})",
                        "{{topic}}/{{partition}}",
                    )
                ],
            )
        )
    )
