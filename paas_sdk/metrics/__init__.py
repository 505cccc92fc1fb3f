"""Service metrics and health endpoints: HTTP and RPC instrumentation, identity, `/metrics`.

    registry = CollectorRegistry()                      # or prometheus_client.REGISTRY
    app.add_middleware(AsgiMetricsMiddleware, registry=registry)
    register_service_info(ServiceContext.from_env(), registry)
    endpoints = HealthEndpoints(registry=registry, readiness_checks={"config": lambda: cfg.loaded})
    MetricsServer(endpoints, port=9464).start()          # or endpoints.mount_asgi(app)
    MetricsServer(endpoints, web_config=load_web_config("web.yml"))  # TLS, basic auth

Metric names are fixed platform-wide; docs/metrics.md lists every family the SDK exposes.
With several workers, `paas_sdk.integrations` (gunicorn's config module, the uvicorn runner) binds
one `/metrics` per pod over every worker's multiprocess files (`docs/metrics.md`).
"""

from paas_sdk._http_server import Limits
from paas_sdk._web_config import WebConfig, load_web_config
from paas_sdk.metrics._endpoints import HealthEndpoints, MetricsServer, Response
from paas_sdk.metrics._http import (
    UNMATCHED_ROUTE,
    AsgiMetricsMiddleware,
    HttpMetrics,
    WsgiMetricsMiddleware,
    flask_route,
    starlette_route,
)
from paas_sdk.metrics._multiprocess import child_exit, mark_worker_exited
from paas_sdk.metrics._rpc import RpcMetrics, RpcTimer
from paas_sdk.metrics._service import register_runtime_collectors, register_service_info

__all__ = [
    "UNMATCHED_ROUTE",
    "AsgiMetricsMiddleware",
    "HealthEndpoints",
    "HttpMetrics",
    "Limits",
    "MetricsServer",
    "Response",
    "RpcMetrics",
    "RpcTimer",
    "WebConfig",
    "WsgiMetricsMiddleware",
    "child_exit",
    "flask_route",
    "load_web_config",
    "mark_worker_exited",
    "register_runtime_collectors",
    "register_service_info",
    "starlette_route",
]
