"""Spinnaker: pipeline outcomes, durations, running and stuck executions, failed stages."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from paas_sdk.dash.panels import GOOD_WHEN_ZERO, base_dashboard, stat_panel, timeseries_panel

FOLDER = "paas-delivery"
S = 'job=~"$job", instance=~"$instance"'
P = "spinnaker_pipeline"


def dashboard() -> Dashboard:
    return (
        base_dashboard(
            "PaaS / Spinnaker",
            "spinnaker",
            selector_metric=f"{P}_last_execution_status",
            description="Spinnaker pipelines as paas-exporter sees them.",
            tags=["paas", "spinnaker"],
        )
        .with_panel(
            stat_panel(
                "Failing pipelines",
                "Pipelines whose last execution ended TERMINAL.",
                "short",
                f'count({P}_last_execution_status{{{S}, status="TERMINAL"}} == 1) or vector(0)',
                steps=GOOD_WHEN_ZERO,
            )
        )
        .with_panel(
            stat_panel(
                "Running executions",
                "Executions running now.",
                "short",
                f"sum({P}_running_executions{{{S}}})",
                steps=((None, "blue"),),
            )
        )
        .with_panel(
            stat_panel(
                "Oldest running",
                "Age of the oldest running execution.",
                "s",
                f"max({P}_oldest_running_execution_age_seconds{{{S}}})",
                steps=((None, "green"), (1800, "orange"), (3600, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Since last start",
                "Time since any pipeline last started.",
                "s",
                f"time() - max({P}_last_execution_start_timestamp_seconds{{{S}}})",
                steps=((None, "blue"),),
            )
        )
        .with_panel(
            timeseries_panel(
                "Last execution outcomes",
                "Pipelines per status of their last execution.",
                "short",
                [(f"count by (status) ({P}_last_execution_status{{{S}}} == 1)", "{{status}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Executions by application",
                "Executions in the exporter's search window, per application and status.",
                "short",
                [
                    (
                        f"sum by (application, status) (spinnaker_application_executions{{{S}}})",
                        "{{application}} {{status}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Last execution duration (top 10)",
                "Duration of each pipeline's last finished execution.",
                "s",
                [
                    (
                        f"topk(10, {P}_last_execution_duration_seconds{{{S}}})",
                        "{{application}}/{{pipeline}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Failed stages (top 10)",
                "Failed stages in each pipeline's last execution.",
                "short",
                [(f"topk(10, {P}_failed_stages{{{S}}})", "{{application}}/{{pipeline}}")],
            )
        )
    )
