"""Platform overview: one line per service and per CI/CD system, with links to the details."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink
from grafana_foundation_sdk.models.dashboard import DashboardLinkType

from paas_sdk.dash.panels import base_dashboard, managed_uid, stat_panel, timeseries_panel

FOLDER = "paas"
S = 'job=~"$job", instance=~"$instance"'
DETAILS = {
    "Service overview": "service-overview",
    "Log pipeline": "log-pipeline",
    "Harbor": "harbor",
    "Jenkins": "jenkins",
    "Spinnaker": "spinnaker",
    "etcd": "etcd",
    "Kubernetes API server": "kube-apiserver",
    "CoreDNS": "coredns",
}


def dashboard() -> Dashboard:
    board = base_dashboard(
        "PaaS / Platform overview",
        "platform-overview",
        selector_metric="paas_service_info",
        description="Services and delivery systems at a glance; links lead to each detail.",
        tags=["paas", "overview"],
    )
    for title, slug in DETAILS.items():
        board = board.link(
            DashboardLink(title)
            .type(DashboardLinkType.LINK)
            .url(f"/d/{managed_uid(slug)}")
            .include_vars(False)
            .keep_time(True)
        )
    return (
        board.with_panel(
            stat_panel(
                "Services",
                "Services reporting paas_service_info.",
                "short",
                f"count(count by (job) (paas_service_info{{{S}}}))",
            )
        )
        .with_panel(
            stat_panel(
                "Exporter targets down",
                "Harbor, Jenkins and Spinnaker targets the exporter cannot poll.",
                "short",
                "count(paas_exporter_target_up == 0) or vector(0)",
            )
        )
        .with_panel(
            stat_panel(
                "Harbor healthy",
                "1 when every Harbor reports healthy.",
                "short",
                "min(harbor_health)",
            )
        )
        .with_panel(
            stat_panel(
                "Failing CI/CD",
                "Failing Jenkins jobs plus failing Spinnaker pipelines.",
                "short",
                '(count(jenkins_job_last_build_result{result="FAILURE"} == 1) or vector(0))'
                ' + (count(spinnaker_pipeline_last_execution_status{status="TERMINAL"} == 1)'
                " or vector(0))",
            )
        )
        .with_panel(
            timeseries_panel(
                "Error ratio by service",
                "Share of HTTP requests answered 5xx, per service (recording rule).",
                "percentunit",
                [('job:http_server_request_errors:ratio_rate5m{job=~"$job"}', "{{job}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Versions running",
                "Instances per service and version.",
                "short",
                [(f"count by (app, version) (paas_service_info{{{S}}})", "{{app}} {{version}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Exporter targets",
                "1 when the exporter's last poll of the target succeeded.",
                "short",
                [("paas_exporter_target_up", "{{kind}} {{target}}")],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Exporter data age",
                "Time since the exporter last polled each target successfully.",
                "s",
                [("time() - paas_exporter_last_success_timestamp_seconds", "{{target}}")],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Exporter upstream calls",
                "Upstream requests and errors per second, and poll duration, per target.",
                "short",
                [
                    (
                        "sum by (target) (rate(paas_exporter_upstream_requests_total"
                        "[$__rate_interval]))",
                        "{{target}} requests",
                    ),
                    (
                        "sum by (target) (rate(paas_exporter_upstream_errors_total"
                        "[$__rate_interval]))",
                        "{{target}} errors",
                    ),
                    ("paas_exporter_poll_duration_seconds", "{{target}} poll s"),
                    ("count by (version) (paas_exporter_build_info)", "exporter {{version}}"),
                ],
                width=8,
            )
        )
    )
