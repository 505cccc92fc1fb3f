"""Platform overview: one line per service and per CI/CD system, with links to the details."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink
from grafana_foundation_sdk.models.dashboard import DashboardLinkType

from paas_sdk.dash.panels import (
    GOOD_WHEN_ZERO,
    base_dashboard,
    error_ratio,
    managed_uid,
    query_variable,
    stat_panel,
    timeseries_panel,
)

FOLDER = "paas"
S = 'job=~"$job", instance=~"$instance"'
# The exporter's scrape job(s): its own variable, the services' `job` lists only SDK services.
E = 'job=~"$exporter"'
RATE = "[$__rate_interval]"
HTTP = "http_server_request_duration_seconds"
DETAILS = {
    "Service overview": "service-overview",
    "Log pipeline": "log-pipeline",
    "Harbor": "harbor",
    "Jenkins": "jenkins",
    "Spinnaker": "spinnaker",
    "Delivery": "delivery",
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
    ).with_variable(query_variable("exporter", "label_values(paas_exporter_build_info, job)"))
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
                steps=((None, "red"), (1, "green")),
            )
        )
        .with_panel(
            stat_panel(
                "Exporter targets down",
                "Harbor, Jenkins and Spinnaker targets the exporter cannot poll.",
                "short",
                f"count(paas_exporter_target_up{{{E}}} == 0) or vector(0)",
                steps=GOOD_WHEN_ZERO,
            )
        )
        .with_panel(
            stat_panel(
                "Harbor healthy",
                "Every Harbor reports healthy.",
                "none",
                f"min(harbor_health{{{E}}})",
                steps=((None, "red"), (1, "green")),
                states={0: ("Unhealthy", "red"), 1: ("Healthy", "green")},
            )
        )
        .with_panel(
            stat_panel(
                "Failing CI/CD",
                "Failing Jenkins jobs plus failing Spinnaker pipelines.",
                "short",
                f'(count(jenkins_job_last_build_result{{{E}, result="FAILURE"}} == 1) or vector(0))'
                f' + (count(spinnaker_pipeline_last_execution_status{{{E}, status="TERMINAL"}}'
                " == 1) or vector(0))",
                steps=GOOD_WHEN_ZERO,
            )
        )
        .with_panel(
            timeseries_panel(
                "Error ratio by service",
                "Share of HTTP requests answered 5xx, per service.",
                "percentunit",
                [
                    (
                        error_ratio(f"{HTTP}_count", S, by="job"),
                        "{{job}}",
                    )
                ],
                steps=((None, "green"), (0.01, "orange"), (0.05, "red")),
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
                "none",
                [(f"paas_exporter_target_up{{{E}}}", "{{kind}} {{target}}")],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Exporter data age",
                "Time since the exporter last polled each target successfully.",
                "s",
                [(f"time() - paas_exporter_last_success_timestamp_seconds{{{E}}}", "{{target}}")],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Exporter upstream calls",
                "Upstream requests and errors per second, per target.",
                "reqps",
                [
                    (
                        f"sum by (target) (rate(paas_exporter_upstream_requests_total{{{E}}}"
                        f"{RATE}))",
                        "{{target}} requests",
                    ),
                    (
                        f"sum by (target) (rate(paas_exporter_upstream_errors_total{{{E}}}{RATE}))",
                        "{{target}} errors",
                    ),
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Exporter poll duration",
                "How long the exporter's last poll of each target took.",
                "s",
                [(f"paas_exporter_poll_duration_seconds{{{E}}}", "{{target}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Exporter versions",
                "Exporter instances per version.",
                "short",
                [(f"count by (version) (paas_exporter_build_info{{{E}}})", "{{version}}")],
            )
        )
    )
