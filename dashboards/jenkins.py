"""Jenkins: job results, running builds, queue, executors and nodes.

The Jenkins job name arrives as `jenkins_job`: Prometheus keeps `job` for the scrape job.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from paas_sdk.dash.panels import GOOD_WHEN_ZERO, base_dashboard, stat_panel, timeseries_panel

FOLDER = "paas-delivery"
S = 'job=~"$job", instance=~"$instance"'


def dashboard() -> Dashboard:
    return (
        base_dashboard(
            "PaaS / Jenkins",
            "jenkins",
            selector_metric="jenkins_queue_length",
            description="Jenkins as paas-exporter sees it.",
            tags=["paas", "jenkins"],
        )
        .with_panel(
            stat_panel(
                "Failing jobs",
                "Jobs whose last completed build failed.",
                "short",
                f'count(jenkins_job_last_build_result{{{S}, result="FAILURE"}} == 1) or vector(0)',
                steps=GOOD_WHEN_ZERO,
            )
        )
        .with_panel(
            stat_panel(
                "Building",
                "Jobs with a build running.",
                "short",
                f"sum(jenkins_job_building{{{S}}})",
                steps=((None, "blue"),),
            )
        )
        .with_panel(
            stat_panel(
                "Stuck in queue",
                "Queue items Jenkins marks stuck.",
                "short",
                f"sum(jenkins_queue_stuck{{{S}}})",
                steps=GOOD_WHEN_ZERO,
            )
        )
        .with_panel(
            stat_panel(
                "Nodes offline",
                "Build nodes offline.",
                "short",
                f"sum(jenkins_nodes_offline{{{S}}})",
                steps=GOOD_WHEN_ZERO,
            )
        )
        .with_row(Row("Jobs"))
        .with_panel(
            timeseries_panel(
                "Last build results",
                "Jobs per result of their last completed build.",
                "short",
                [(f"count by (result) (jenkins_job_last_build_result{{{S}}} == 1)", "{{result}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Builds started",
                "Builds started over the interval (changes of the last build number).",
                "short",
                [
                    (
                        f"sum(changes(jenkins_job_last_build_number{{{S}}}[$__rate_interval]))",
                        "builds",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Longest last builds (top 10)",
                "Duration of each job's last completed build.",
                "s",
                [
                    (
                        f"topk(10, jenkins_job_last_build_duration_seconds{{{S}}})",
                        "{{jenkins_job}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Longest running builds (top 10)",
                "Age of builds still running.",
                "s",
                [
                    (
                        f"topk(10, jenkins_job_running_build_age_seconds{{{S}}})",
                        "{{jenkins_job}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Least healthy jobs (bottom 10)",
                "Jenkins health score (0-100) of each job.",
                "short",
                [(f"bottomk(10, jenkins_job_health_score{{{S}}})", "{{jenkins_job}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Since last build start",
                "Time since the most recent build of any job started.",
                "s",
                [
                    (
                        f"time() - max(jenkins_job_last_build_start_timestamp_seconds{{{S}}})",
                        "any job",
                    )
                ],
            )
        )
        .with_row(Row("Queue and capacity"))
        .with_panel(
            timeseries_panel(
                "Queue",
                "Items waiting in the build queue.",
                "short",
                [
                    (f"sum(jenkins_queue_length{{{S}}})", "waiting"),
                    (f"sum(jenkins_queue_stuck{{{S}}})", "stuck"),
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Oldest queue wait",
                "How long the oldest queue item has waited.",
                "s",
                [(f"max(jenkins_queue_oldest_wait_seconds{{{S}}})", "oldest")],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Executors and nodes",
                "Busy and total executors, online and offline nodes.",
                "short",
                [
                    (f"sum(jenkins_executors_busy{{{S}}})", "executors busy"),
                    (f"sum(jenkins_executors{{{S}}})", "executors"),
                    (f"sum(jenkins_nodes_online{{{S}}})", "nodes online"),
                    (f"sum(jenkins_nodes_offline{{{S}}})", "nodes offline"),
                ],
                width=8,
            )
        )
    )
