"""Delivery: the four DORA keys per application and environment (deploys, lead time for changes,
change failure rate, time to restore) with their trend, where lead time goes stage by stage, and
the newest deploy of each application with its image and revision."""

from __future__ import annotations

from grafana_foundation_sdk.builders import prometheus, table
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from paas_sdk.dash.panels import (
    DATASOURCE,
    GOOD_WHEN_ZERO,
    base_dashboard,
    query_variable,
    stat_panel,
    timeseries_panel,
)

FOLDER = "paas-delivery"
S = 'job=~"$job", instance=~"$instance", application=~"$application", environment=~"$environment"'
D = "delivery"


def _recent_deploys() -> table.Panel:
    """The newest deploy per application and environment: result, image, revision, when."""
    query = (
        prometheus.Dataquery()
        .expr(
            f"{D}_last_deployment_info{{{S}}} * on (application, environment, job, instance) "
            f"group_left {D}_last_deployment_timestamp_seconds{{{S}}} * 1000"
        )
        .instant()
        .format(PromQueryFormat.TABLE)
        .ref_id("A")
        .datasource(DATASOURCE)
    )
    hidden = {"Time": True, "__name__": True, "job": True, "instance": True}
    return (
        table.Panel()
        .title("Recent deploys")
        .description(
            "The newest deploy of each application to each environment, with the image it "
            "shipped and the commit that image was built from."
        )
        .datasource(DATASOURCE)
        .span(24)
        .height(10)
        .unit("dateTimeAsIso")
        .with_target(query)
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": hidden, "renameByName": {"Value": "ended"}},
            )
        )
    )


def dashboard() -> Dashboard:
    window = f'{D}_recent_deployments{{{S}, window="7d"}}'
    return (
        base_dashboard(
            "PaaS / Delivery",
            "delivery",
            selector_metric=f"{D}_recent_deployments",
            description="Commit to production across Jenkins, Harbor and Spinnaker: the four "
            "DORA keys as paas-exporter's delivery view links them.",
            tags=["paas", "delivery", "dora"],
        )
        .with_variable(
            query_variable(
                "application", f'label_values({D}_recent_deployments{{job=~"$job"}}, application)'
            )
        )
        .with_variable(
            query_variable(
                "environment", f'label_values({D}_recent_deployments{{job=~"$job"}}, environment)'
            )
        )
        .with_panel(
            stat_panel(
                "Deploys per day (7 d)",
                "Deploys in the last 7 days, per day.",
                "short",
                f"sum({window}) / 7",
                steps=((None, "blue"),),
            )
        )
        .with_panel(
            stat_panel(
                "Lead time for changes (7 d)",
                "Median time from a commit to the successful deploy that shipped it, over the "
                "applications shown (the median of their medians).",
                "s",
                f'quantile(0.5, {D}_recent_lead_time_median_seconds{{{S}, window="7d"}})',
                steps=((None, "green"), (86400, "orange"), (7 * 86400, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Change failure rate (7 d)",
                "Deploys that failed, failed verification or were rolled back, out of all.",
                "percentunit",
                f'sum({D}_recent_change_failures{{{S}, window="7d"}}) / sum({window})',
                steps=((None, "green"), (0.15, "orange"), (0.3, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Time to restore (30 d)",
                "Median time from a change failure to the next successful deploy.",
                "s",
                f'quantile(0.5, {D}_recent_time_to_restore_median_seconds{{{S}, window="30d"}})',
                steps=((None, "green"), (3600, "orange"), (86400, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Deploys per day",
                "Deploys in the last day, by application and result.",
                "short",
                [
                    (
                        f"sum by (application, result) "
                        f'({D}_recent_deployments{{{S}, window="1d"}})',
                        "{{application}} {{result}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Lead time for changes",
                "Median lead time over the last 7 days, by application and environment.",
                "s",
                [
                    (
                        f'{D}_recent_lead_time_median_seconds{{{S}, window="7d"}}',
                        "{{application}} {{environment}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Change failure rate",
                "Change failures out of deploys over the last 7 days, by application.",
                "percentunit",
                [
                    (
                        f'sum by (application) ({D}_recent_change_failures{{{S}, window="7d"}}) '
                        f"/ sum by (application) ({window})",
                        "{{application}}",
                    )
                ],
                steps=((None, "green"), (0.3, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Time to restore",
                "Median time to restore over the last 30 days, by application and environment.",
                "s",
                [
                    (
                        f'{D}_recent_time_to_restore_median_seconds{{{S}, window="30d"}}',
                        "{{application}} {{environment}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Where lead time goes",
                "Mean time in each stage over the dashboard's range: commit to build start, "
                "the build, build end to image pushed, pushed to deploy start, the deploy.",
                "s",
                [
                    (
                        f"sum by (stage) (increase({D}_stage_duration_seconds_sum{{{S}}}"
                        "[$__range])) / sum by (stage) "
                        f"(increase({D}_stage_duration_seconds_count{{{S}}}[$__range]))",
                        "{{stage}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Failed deploys in a row",
                "Deploys in a row whose deploy stage failed (alerts at 3).",
                "short",
                [
                    (
                        f"{D}_consecutive_failed_deployments{{{S}}} > 0",
                        "{{application}} {{environment}}",
                    )
                ],
                steps=((None, "green"), (3, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Deploys not linked",
                "Deploys whose image, build or commits could not be linked, by reason, over the "
                "dashboard's range; their lead time is not measured.",
                "short",
                [
                    (
                        f"sum by (reason) "
                        f"(increase({D}_unlinked_deployments_total{{{S}}}[$__range]))",
                        "{{reason}}",
                    )
                ],
                steps=GOOD_WHEN_ZERO,
            )
        )
        .with_panel(_recent_deploys())
    )
