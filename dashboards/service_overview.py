"""Service overview: RED from the SDK's HTTP and RPC metrics, logs, config sync and registry."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from paas_sdk.dash.panels import (
    RECORDS_PER_SECOND,
    base_dashboard,
    error_ratio,
    or_none,
    stat_panel,
    timeseries_panel,
)

FOLDER = "paas"
S = 'job=~"$job", instance=~"$instance"'
RATE = "[$__rate_interval]"
HTTP = "http_server_request_duration_seconds"
# the gRPC statuses OpenTelemetry counts as server-side errors (alert_rules/services.yaml too)
RPC_SERVER_ERRORS = "UNKNOWN|DEADLINE_EXCEEDED|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS"


def dashboard() -> Dashboard:
    return (
        base_dashboard(
            "PaaS / Service overview",
            "service-overview",
            selector_metric="paas_service_info",
            description="One service built on paas-sdk: requests, logs, config and registry.",
            tags=["paas", "service"],
        )
        .with_panel(
            stat_panel(
                "Instances",
                "Running instances reporting paas_service_info.",
                "short",
                f"count(paas_service_info{{{S}}})",
                steps=((None, "red"), (1, "green")),
            )
        )
        .with_panel(
            stat_panel(
                "Error ratio",
                "Share of the selected instances' HTTP requests answered 5xx.",
                "percentunit",
                error_ratio(f"{HTTP}_count", S),
                steps=((None, "green"), (0.01, "orange"), (0.05, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "p99 latency",
                "99th percentile HTTP latency of the selected instances.",
                "s",
                f"histogram_quantile(0.99, sum by (le) (rate({HTTP}_bucket{{{S}}}{RATE})))",
                steps=((None, "green"), (0.5, "orange"), (1, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Requests",
                "HTTP requests per second served by the selected instances.",
                "reqps",
                f"sum(rate({HTTP}_count{{{S}}}{RATE}))",
                steps=((None, "blue"),),
            )
        )
        .with_row(Row("Requests"))
        .with_panel(
            timeseries_panel(
                "Request rate by route",
                "HTTP requests per second, per route template.",
                "reqps",
                [(f"sum by (route) (rate({HTTP}_count{{{S}}}{RATE}))", "{{route}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Error ratio by route",
                "Share of requests answered with a 5xx status.",
                "percentunit",
                [
                    (
                        error_ratio(f"{HTTP}_count", S, by="route"),
                        "{{route}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Latency",
                "HTTP request duration quantiles over all routes.",
                "s",
                [
                    (
                        f"histogram_quantile({q}, sum by (le) (rate({HTTP}_bucket{{{S}}}{RATE})))",
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.9, 0.99)
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Requests in flight",
                "HTTP requests being served right now, per instance.",
                "short",
                [(f"sum by (instance) (http_server_requests_in_flight{{{S}}})", "{{instance}}")],
            )
        )
        .with_row(Row("Dubbo RPC"))
        .with_panel(
            timeseries_panel(
                "RPC server calls",
                "Dubbo calls served per second, by service and status.",
                "reqps",
                [
                    (
                        "sum by (service, status) "
                        f"(rate(rpc_server_duration_seconds_count{{{S}}}{RATE}))",
                        "{{service}} {{status}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "RPC client calls",
                "Dubbo calls made per second, by service and status.",
                "reqps",
                [
                    (
                        or_none(
                            "sum by (service, status) "
                            f"(rate(rpc_client_duration_seconds_count{{{S}}}{RATE}))",
                            "service",
                        ),
                        "{{service}} {{status}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "RPC server error ratio",
                "Share of served Dubbo calls failing with a server-side gRPC status, by service.",
                "percentunit",
                [
                    (
                        error_ratio(
                            "rpc_server_duration_seconds_count",
                            S,
                            by="service",
                            errors=f'status=~"{RPC_SERVER_ERRORS}"',
                        ),
                        "{{service}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "RPC latency p99",
                "99th percentile of Dubbo calls served and made, by service.",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (service, le) "
                        f"(rate(rpc_{side}_duration_seconds_bucket{{{S}}}{RATE})))",
                        f"{side} {{{{service}}}}",
                    )
                    for side in ("server", "client")
                ],
            )
        )
        .with_row(Row("Log shipping"))
        .with_panel(
            timeseries_panel(
                "Log records",
                "Records emitted, delivered to Kafka and failed per second.",
                RECORDS_PER_SECOND,
                [
                    (f"sum(rate(paas_log_records_emitted_total{{{S}}}{RATE}))", "emitted"),
                    (f"sum(rate(paas_log_records_delivered_total{{{S}}}{RATE}))", "delivered"),
                    (f"sum(rate(paas_log_records_failed_total{{{S}}}{RATE}))", "failed"),
                    (f"sum(rate(paas_log_records_truncated_total{{{S}}}{RATE}))", "truncated"),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Dropped log records",
                "Records dropped before Kafka per second, by reason.",
                RECORDS_PER_SECOND,
                [
                    (
                        or_none(
                            f"sum by (reason) (rate(paas_log_records_dropped_total{{{S}}}{RATE}))",
                            "reason",
                        ),
                        "{{reason}}",
                    ),
                ],
                width=6,
                steps=((None, "green"), (0.001, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Log records in flight",
                "Records handed to the Kafka producer and not yet acknowledged.",
                "short",
                [(f"sum(paas_log_records_in_flight{{{S}}})", "in flight")],
                width=6,
            )
        )
        .with_row(Row("Config sync"))
        .with_panel(
            timeseries_panel(
                "Seconds since last config sync",
                "Age of the last successful sync, per namespace.",
                "s",
                [
                    (
                        "time() - max by (namespace) "
                        f"(paas_config_last_sync_timestamp_seconds{{{S}}})",
                        "{{namespace}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Config reloads and errors",
                "Reloads applied, updates rejected by validation, and sync errors.",
                "short",
                [
                    (f"sum(increase(paas_config_reloads_total{{{S}}}{RATE}))", "reloads"),
                    (
                        f"sum(increase(paas_config_rejected_updates_total{{{S}}}{RATE}))",
                        "rejected",
                    ),
                    (f"sum(increase(paas_config_sync_errors_total{{{S}}}{RATE}))", "errors"),
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Active config source",
                "Instances reading each namespace from remote, cache or file.",
                "short",
                [
                    (
                        f"sum by (namespace, source) (paas_config_source{{{S}}} == 1)",
                        "{{namespace}} {{source}}",
                    )
                ],
                width=8,
            )
        )
        .with_row(Row("Registry"))
        .with_panel(
            timeseries_panel(
                "Registry connection",
                "Instances connected to ZooKeeper, and URLs registered by side.",
                "short",
                [
                    (f"sum(paas_registry_connected{{{S}}})", "connected"),
                    (f"sum by (side) (paas_registry_registered{{{S}}})", "registered {{side}}"),
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Sessions re-established",
                "ZooKeeper sessions re-established after expiry.",
                "short",
                [
                    (
                        f"sum(increase(paas_registry_sessions_reestablished_total{{{S}}}{RATE}))",
                        "sessions",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Providers seen",
                "Providers discovered for each subscribed interface.",
                "short",
                [
                    (
                        or_none(
                            f"max by (interface) (paas_registry_providers{{{S}}})", "interface"
                        ),
                        "{{interface}}",
                    )
                ],
                width=8,
            )
        )
        .with_row(Row("Process"))
        .with_panel(
            timeseries_panel(
                "CPU",
                "CPU seconds used per second, per instance.",
                "percentunit",
                [(f"rate(process_cpu_seconds_total{{{S}}}{RATE})", "{{instance}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Resident memory",
                "Resident set size, per instance.",
                "bytes",
                [(f"process_resident_memory_bytes{{{S}}}", "{{instance}}")],
            )
        )
    )
