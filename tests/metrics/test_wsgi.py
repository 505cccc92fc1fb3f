"""The WSGI middleware on Flask, and the endpoints mounted into a WSGI app."""

from __future__ import annotations

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry
from werkzeug.test import TestResponse

from paas_sdk.metrics import HealthEndpoints, WsgiMetricsMiddleware

COUNT = "http_server_request_duration_seconds_count"


def _flask_service(registry: CollectorRegistry) -> Flask:
    app = Flask("orders")

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    @app.get("/stream")
    def stream() -> Response:
        return app.response_class(chunk for chunk in (b"a", b"b", b"c"))

    app.wsgi_app = WsgiMetricsMiddleware(app.wsgi_app, registry=registry)  # type: ignore[method-assign]
    endpoints = HealthEndpoints(registry=registry, readiness_checks={"db": lambda: False})
    app.wsgi_app = endpoints.mount_wsgi(app.wsgi_app)  # type: ignore[method-assign,assignment]
    return app


def _get(client: FlaskClient, path: str) -> TestResponse:
    """GET `path` and close the response, as a WSGI server does after sending it."""
    response = client.get(path)
    response.get_data()
    response.close()
    return response


def test_flask_requests_are_labelled_by_url_rule(registry: CollectorRegistry) -> None:
    client = _flask_service(registry).test_client()
    assert _get(client, "/orders/1").status_code == 200
    assert _get(client, "/orders/2").status_code == 200
    assert _get(client, "/stream").data == b"abc"
    assert _get(client, "/orders/x").status_code == 404
    assert (
        registry.get_sample_value(
            COUNT, {"method": "GET", "route": "/orders/<int:order_id>", "status": "200"}
        )
        == 2
    )
    assert (
        registry.get_sample_value(COUNT, {"method": "GET", "route": "/stream", "status": "200"})
        == 1
    )
    assert (
        registry.get_sample_value(COUNT, {"method": "GET", "route": "<unmatched>", "status": "404"})
        == 1
    )
    assert registry.get_sample_value("http_server_requests_in_flight", {"method": "GET"}) == 0


def test_endpoints_mounted_into_a_wsgi_app(registry: CollectorRegistry) -> None:
    client = _flask_service(registry).test_client()
    _get(client, "/orders/9")
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert 'route="/orders/<int:order_id>"' in scraped.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "not ready", "checks": {"db": "failed"}}


def test_a_custom_resolver_names_routes_for_other_frameworks(registry: CollectorRegistry) -> None:
    def bare(environ: dict[str, object], start_response: object) -> list[bytes]:
        environ["myframework.route"] = "/things/:id"
        start_response("201 Created", [])  # type: ignore[operator]
        return [b"made"]

    app = WsgiMetricsMiddleware(
        bare, registry=registry, route_resolver=lambda env: str(env["myframework.route"])
    )
    body = app({"REQUEST_METHOD": "PUT", "PATH_INFO": "/things/3"}, lambda *a: None)
    assert b"".join(body) == b"made"
    getattr(body, "close")()  # noqa: B009 - the server closes the body; that ends the timing
    assert (
        registry.get_sample_value(COUNT, {"method": "PUT", "route": "/things/:id", "status": "201"})
        == 1
    )


def test_an_app_that_raises_is_counted_as_500(registry: CollectorRegistry) -> None:
    def broken(environ: dict[str, object], start_response: object) -> list[bytes]:
        raise RuntimeError("bug")

    app = WsgiMetricsMiddleware(broken, registry=registry, route_resolver=lambda env: "/x")
    with pytest.raises(RuntimeError):
        app({"REQUEST_METHOD": "GET"}, lambda *a: None)
    assert (
        registry.get_sample_value(COUNT, {"method": "GET", "route": "<unmatched>", "status": "500"})
        == 1
    )
