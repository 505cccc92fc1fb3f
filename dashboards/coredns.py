"""CoreDNS: queries, answers by code, latency, the cache, and forwarding to upstream resolvers."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from paas_sdk.dash.panels import base_dashboard, stat_panel, timeseries_panel

FOLDER = "paas-platform"
S = 'job=~"$job", instance=~"$instance"'
RATE = "[$__rate_interval]"
# the forward plugin's upstream calls: CoreDNS 1.11+ counts them in its proxy package
FWD = 'proxy_name="forward"'


def dashboard() -> Dashboard:
    return (
        base_dashboard(
            "PaaS / CoreDNS",
            "coredns",
            selector_metric="coredns_build_info",
            description="CoreDNS: queries, answers, latency, cache and forwarding.",
            tags=["paas", "platform", "dns"],
        )
        .with_panel(
            stat_panel(
                "Queries",
                "DNS queries answered per second.",
                "reqps",
                f"sum(rate(coredns_dns_requests_total{{{S}}}{RATE}))",
                steps=((None, "green"),),
            )
        )
        .with_panel(
            stat_panel(
                "SERVFAIL share",
                "Share of answers that are SERVFAIL (CoreDNSErrorsHigh at 1 % and 3 %).",
                "percentunit",
                f'(sum(rate(coredns_dns_responses_total{{{S}, rcode="SERVFAIL"}}{RATE}))'
                f" or vector(0)) / sum(rate(coredns_dns_responses_total{{{S}}}{RATE}))",
                steps=((None, "green"), (0.01, "orange"), (0.03, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Cache hit share",
                "Share of queries answered from the cache.",
                "percentunit",
                f"sum(rate(coredns_cache_hits_total{{{S}}}{RATE}))"
                f" / (sum(rate(coredns_cache_hits_total{{{S}}}{RATE}))"
                f" + sum(rate(coredns_cache_misses_total{{{S}}}{RATE})))",
                steps=((None, "orange"), (0.5, "green")),
            )
        )
        .with_panel(
            stat_panel(
                "Instances",
                "CoreDNS processes Prometheus scrapes successfully.",
                "short",
                f"sum(up{{{S}}})",
                steps=((None, "red"), (1, "green")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Queries by type",
                "DNS queries per second by record type.",
                "reqps",
                [
                    (
                        f"sum by (type) (rate(coredns_dns_requests_total{{{S}}}{RATE}))",
                        "{{type}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Answers by code",
                "DNS answers per second by response code.",
                "reqps",
                [
                    (
                        f"sum by (rcode) (rate(coredns_dns_responses_total{{{S}}}{RATE}))",
                        "{{rcode}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Latency p99",
                "99th percentile of answering a query, per server block and zone"
                " (CoreDNSLatencyHigh at 4 s).",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (server, zone, le) (rate("
                        f"coredns_dns_request_duration_seconds_bucket{{{S}}}{RATE})))",
                        "{{server}} {{zone}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Cache entries",
                "Entries in the cache, successful and denial answers.",
                "short",
                [(f"sum by (type) (coredns_cache_entries{{{S}}})", "{{type}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Forwarded queries",
                "Queries forwarded per second to each upstream.",
                "reqps",
                [
                    (
                        "sum by (to) (rate(coredns_proxy_request_duration_seconds_count"
                        f"{{{S}, {FWD}}}{RATE}))",
                        "{{to}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Forward answers by code",
                "Upstream answers per second by response code, per upstream"
                " (CoreDNSForwardErrorsHigh on SERVFAIL).",
                "reqps",
                [
                    (
                        "sum by (to, rcode) (rate(coredns_proxy_request_duration_seconds_count"
                        f"{{{S}, {FWD}}}{RATE}))",
                        "{{to}} {{rcode}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Forward latency p99",
                "99th percentile of upstream round trips, per upstream"
                " (CoreDNSForwardLatencyHigh at 4 s).",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (to, le) (rate("
                        f"coredns_proxy_request_duration_seconds_bucket{{{S}, {FWD}}}{RATE})))",
                        "{{to}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Upstream health checks failed",
                "Failed health checks per second to each upstream, and queries sent while every"
                " upstream was down (CoreDNSForwardHealthcheckFailureCount, ...BrokenCount).",
                "ops",
                [
                    (
                        "sum by (to) (rate(coredns_proxy_healthcheck_failures_total"
                        f"{{{S}, {FWD}}}{RATE}))",
                        "{{to}}",
                    ),
                    (
                        f"sum(rate(coredns_forward_healthcheck_broken_total{{{S}}}{RATE}))",
                        "all upstreams down",
                    ),
                ],
                width=24,
            )
        )
    )
