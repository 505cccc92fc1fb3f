"""Harbor: health, projects and quotas, replication, task queues, vulnerabilities, storage, GC."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from paas_sdk.dash.panels import base_dashboard, stat_panel, timeseries_panel

FOLDER = "paas-delivery"
S = 'job=~"$job", instance=~"$instance"'


def dashboard() -> Dashboard:
    return (
        base_dashboard(
            "PaaS / Harbor",
            "harbor",
            selector_metric="harbor_health",
            description="Harbor as paas-exporter sees it.",
            tags=["paas", "harbor"],
        )
        .with_panel(
            stat_panel(
                "Healthy",
                "Harbor's own health check: every component healthy.",
                "none",
                f"min(harbor_health{{{S}}})",
                steps=((None, "red"), (1, "green")),
                states={0: ("Unhealthy", "red"), 1: ("Healthy", "green")},
            )
        )
        .with_panel(
            stat_panel(
                "Projects",
                "Projects, public and private.",
                "short",
                f"sum(harbor_project_total{{{S}}})",
                steps=((None, "blue"),),
            )
        )
        .with_panel(
            stat_panel(
                "Storage free",
                "Free share of the registry storage.",
                "percentunit",
                f"sum(harbor_storage_free_bytes{{{S}}}) / sum(harbor_storage_total_bytes{{{S}}})",
                steps=((None, "red"), (0.1, "orange"), (0.2, "green")),
            )
        )
        .with_panel(
            stat_panel(
                "Since last GC",
                "Time since garbage collection last ran.",
                "s",
                f"time() - max(harbor_gc_last_run_timestamp_seconds{{{S}}})",
                steps=((None, "green"), (7 * 86400, "orange"), (14 * 86400, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Components",
                "1 per healthy Harbor component.",
                "none",
                [(f"harbor_up{{{S}}}", "{{component}}")],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Scanners",
                "1 per healthy vulnerability scanner.",
                "none",
                [(f"harbor_scanner_healthy{{{S}}}", "{{scanner}}")],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Last GC status",
                "Status of the last garbage collection run.",
                "short",
                [(f"harbor_gc_last_run_status{{{S}}} == 1", "{{status}}")],
                width=8,
            )
        )
        .with_row(Row("Projects"))
        .with_panel(
            timeseries_panel(
                "Quota used (top 10)",
                "Share of the storage quota used, projects with a limited quota.",
                "percentunit",
                [
                    (
                        f"topk(10, harbor_project_quota_usage_byte{{{S}}}"
                        f" / (harbor_project_quota_byte{{{S}}} > 0))",
                        "{{project_name}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Repositories (top 10)",
                "Repositories per project.",
                "short",
                [(f"topk(10, harbor_project_repo_total{{{S}}})", "{{project_name}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Pulls (top 10)",
                "Repository pulls per second (only when repository_pulls is enabled).",
                "reqps",
                [
                    (
                        f"topk(10, rate(harbor_repository_pull_total{{{S}}}[$__rate_interval]))",
                        "{{project_name}}/{{repository}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Vulnerabilities",
                "Known vulnerabilities by severity.",
                "short",
                [(f"sum by (severity) (harbor_vulnerabilities{{{S}}})", "{{severity}}")],
            )
        )
        .with_row(Row("Replication and jobs"))
        .with_panel(
            timeseries_panel(
                "Replication executions",
                "Executions per status over all policies.",
                "short",
                [(f"sum by (status) (harbor_replication_executions{{{S}}})", "{{status}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Policies whose last execution failed",
                "1 for each replication policy whose newest execution failed, else 0.",
                "short",
                [
                    (
                        f"max by (policy) (harbor_replication_last_execution_status"
                        f'{{{S}, status="Failed"}})',
                        "{{policy}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Job service queues",
                "Pending jobs per type.",
                "short",
                [(f"harbor_task_queue_size{{{S}}}", "{{job_type}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Job service queue latency",
                "Age of the oldest pending job per type.",
                "s",
                [(f"harbor_task_queue_latency_seconds{{{S}}}", "{{job_type}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Harbor version",
                "Harbor version and authentication mode.",
                "short",
                [(f"harbor_system_info{{{S}}}", "{{harbor_version}} {{auth_mode}}")],
                width=24,
                height=4,
            )
        )
    )
