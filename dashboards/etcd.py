"""etcd: leadership, the database against its quota, disk latency and gRPC traffic per member.

The panels of etcd's own mixin that a member exposes on its client URL's `/metrics`; the gRPC
latency histogram needs `--metrics=extensive`. Selected by the `job` of the scrape.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from paas_sdk.dash.panels import GOOD_WHEN_ZERO, base_dashboard, stat_panel, timeseries_panel

FOLDER = "paas-platform"
S = 'job=~"$job", instance=~"$instance"'
RATE = "[$__rate_interval]"


def dashboard() -> Dashboard:
    return (
        base_dashboard(
            "PaaS / etcd",
            "etcd",
            selector_metric="etcd_server_has_leader",
            description="etcd members: leader, database size against quota, disk and gRPC.",
            tags=["paas", "platform", "etcd"],
        )
        .with_panel(
            stat_panel(
                "Members up",
                "Members Prometheus scrapes successfully.",
                "short",
                f"sum(up{{{S}}})",
                steps=((None, "red"), (1, "green")),
            )
        )
        .with_panel(
            stat_panel(
                "Members without a leader",
                "Members that report no leader; anything above 0 stalls writes (etcdNoLeader).",
                "short",
                f"count(etcd_server_has_leader{{{S}}} == 0) or vector(0)",
                steps=GOOD_WHEN_ZERO,
            )
        )
        .with_panel(
            stat_panel(
                "Leader changes (range)",
                "Elections seen over the range, highest of any member.",
                "short",
                f"max(increase(etcd_server_leader_changes_seen_total{{{S}}}[$__range]))",
                steps=((None, "green"), (4, "orange")),
            )
        )
        .with_panel(
            stat_panel(
                "Database of quota",
                "Largest member database as a share of its quota (etcdDatabaseQuotaLowSpace at"
                " 95 %).",
                "percentunit",
                f"max(etcd_mvcc_db_total_size_in_bytes{{{S}}}"
                f" / etcd_server_quota_backend_bytes{{{S}}})",
                steps=((None, "green"), (0.8, "orange"), (0.95, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "gRPC requests",
                "Unary gRPC calls started per second, per method.",
                "reqps",
                [
                    (
                        f"sum by (grpc_method) (rate(grpc_server_started_total"
                        f'{{{S}, grpc_type="unary"}}{RATE}))',
                        "{{grpc_method}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "gRPC failed share",
                "Share of gRPC calls that ended with a code other than OK"
                " (etcdHighNumberOfFailedGRPCRequests at 1 % and 5 %).",
                "percentunit",
                [
                    (
                        f'sum(rate(grpc_server_handled_total{{{S}, grpc_code!="OK"}}{RATE}))'
                        f" / sum(rate(grpc_server_handled_total{{{S}}}{RATE}))",
                        "failed",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "gRPC latency p99",
                "99th percentile of unary gRPC calls, per method (etcdGRPCRequestsSlow at 150 ms).",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (grpc_method, le) (rate("
                        f'grpc_server_handling_seconds_bucket{{{S}, grpc_type="unary"}}{RATE})))',
                        "{{grpc_method}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Raft proposals",
                "Proposals committed and applied per second, and those pending, per member.",
                "ops",
                [
                    (
                        f"rate(etcd_server_proposals_committed_total{{{S}}}{RATE})",
                        "{{instance}} committed",
                    ),
                    (
                        f"rate(etcd_server_proposals_applied_total{{{S}}}{RATE})",
                        "{{instance}} applied",
                    ),
                    (f"etcd_server_proposals_pending{{{S}}}", "{{instance}} pending"),
                    (
                        f"rate(etcd_server_proposals_failed_total{{{S}}}{RATE})",
                        "{{instance}} failed",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "WAL fsync p99",
                "99th percentile of write-ahead-log fsyncs (etcdHighFsyncDurations at 0.5 s and"
                " 1 s).",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (instance, le) (rate("
                        f"etcd_disk_wal_fsync_duration_seconds_bucket{{{S}}}{RATE})))",
                        "{{instance}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Backend commit p99",
                "99th percentile of backend commits (etcdHighCommitDurations at 250 ms).",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (instance, le) (rate("
                        f"etcd_disk_backend_commit_duration_seconds_bucket{{{S}}}{RATE})))",
                        "{{instance}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Database size",
                "Allocated and in-use database size, and the quota, per member.",
                "bytes",
                [
                    (f"etcd_mvcc_db_total_size_in_bytes{{{S}}}", "{{instance}} allocated"),
                    (f"etcd_mvcc_db_total_size_in_use_in_bytes{{{S}}}", "{{instance}} in use"),
                    (f"etcd_server_quota_backend_bytes{{{S}}}", "{{instance}} quota"),
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Client traffic",
                "Bytes received from and sent to gRPC clients per second.",
                "Bps",
                [
                    (
                        f"rate(etcd_network_client_grpc_received_bytes_total{{{S}}}{RATE})",
                        "{{instance}} in",
                    ),
                    (
                        f"rate(etcd_network_client_grpc_sent_bytes_total{{{S}}}{RATE})",
                        "{{instance}} out",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Memory",
                "Resident memory of each member's process.",
                "bytes",
                [(f"process_resident_memory_bytes{{{S}}}", "{{instance}}")],
            )
        )
    )
