"""Kubernetes API server: traffic, errors and latency as the SLO sees them, etcd behind it,
flow control and client certificates, per API server instance."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from paas_sdk.dash.panels import base_dashboard, stat_panel, timeseries_panel

FOLDER = "paas-platform"
S = 'job=~"$job", instance=~"$instance"'
RATE = "[$__rate_interval]"
READ = 'verb=~"LIST|GET"'
WRITE = 'verb=~"POST|PUT|PATCH|DELETE"'


def dashboard() -> Dashboard:
    return (
        base_dashboard(
            "PaaS / Kubernetes API server",
            "kube-apiserver",
            selector_metric="apiserver_request_total",
            description="The API server: requests, errors, latency, etcd, flow control.",
            tags=["paas", "platform", "kubernetes"],
        )
        .with_panel(
            stat_panel(
                "Requests",
                "Requests served per second by the selected API servers.",
                "reqps",
                f"sum(rate(apiserver_request_total{{{S}}}{RATE}))",
                steps=((None, "green"),),
            )
        )
        .with_panel(
            stat_panel(
                "Error share",
                "Share of requests answered 5xx (part of the error budget KubeAPIErrorBudgetBurn"
                " watches).",
                "percentunit",
                f'(sum(rate(apiserver_request_total{{{S}, code=~"5.."}}{RATE})) or vector(0))'
                f" / sum(rate(apiserver_request_total{{{S}}}{RATE}))",
                steps=((None, "green"), (0.01, "orange"), (0.05, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Requests in flight",
                "Requests being served now, reads and mutations.",
                "short",
                f"sum(apiserver_current_inflight_requests{{{S}}})",
                steps=((None, "green"), (400, "orange"), (600, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Shortest client certificate",
                "Remaining lifetime of the client certificates presented recently, first"
                " percentile (KubeClientCertificateExpiration at 7 days and 24 hours).",
                "s",
                "histogram_quantile(0.01, sum by (le) (rate("
                f"apiserver_client_certificate_expiration_seconds_bucket{{{S}}}{RATE})))",
                steps=((None, "red"), (86400, "orange"), (604800, "green")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Requests by verb and code",
                "Requests per second by verb and HTTP status code.",
                "reqps",
                [
                    (
                        f"sum by (verb, code) (rate(apiserver_request_total{{{S}}}{RATE}))",
                        "{{verb}} {{code}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Read latency p99",
                "99th percentile of LIST and GET requests by resource, as the SLO measures it"
                " (apiserver_request_sli_duration_seconds, webhooks excluded).",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (resource, le) (rate("
                        f"apiserver_request_sli_duration_seconds_bucket{{{S}, {READ}}}{RATE})))",
                        "{{resource}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Write latency p99",
                "99th percentile of mutating requests by resource, as the SLO measures it.",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (resource, le) (rate("
                        f"apiserver_request_sli_duration_seconds_bucket{{{S}, {WRITE}}}{RATE})))",
                        "{{resource}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "etcd request latency p99",
                "99th percentile of the API server's requests to etcd, by operation.",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (operation, le) (rate("
                        f"etcd_request_duration_seconds_bucket{{{S}}}{RATE})))",
                        "{{operation}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Flow control seats",
                "Seats in use and the current seat limit per priority level (API Priority and"
                " Fairness); requests queue, then are rejected, when use reaches the limit.",
                "short",
                [
                    (
                        "sum by (priority_level) (apiserver_flowcontrol_current_executing_seats"
                        f"{{{S}}})",
                        "{{priority_level}} in use",
                    ),
                    (
                        "sum by (priority_level) (apiserver_flowcontrol_current_limit_seats"
                        f"{{{S}}})",
                        "{{priority_level}} limit",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Stored objects",
                "Objects stored per resource, the ten largest (what etcd holds).",
                "short",
                [
                    (
                        f"topk(10, max by (resource) (apiserver_resource_objects{{{S}}}))",
                        "{{resource}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Admission latency p99",
                "99th percentile of each admission controller's work, by name and operation.",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (name, operation, le) (rate("
                        "apiserver_admission_controller_admission_duration_seconds_bucket"
                        f"{{{S}}}{RATE})))",
                        "{{name}} {{operation}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Memory",
                "Resident memory of each API server process.",
                "bytes",
                [(f"process_resident_memory_bytes{{{S}}}", "{{instance}}")],
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "CPU",
                "CPU seconds used per second by each API server process.",
                "short",
                [(f"rate(process_cpu_seconds_total{{{S}}}{RATE})", "{{instance}}")],
                width=12,
            )
        )
    )
