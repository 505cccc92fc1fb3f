"""WSGI apps (Flask, Django) under any WSGI server: the platform and HTTP metrics in one call.

    app.wsgi_app = instrument(app.wsgi_app)                      # Flask
    application = instrument(get_wsgi_application())             # Django, in wsgi.py

`instrument` starts the platform (or takes the running one) and wraps the app in the HTTP metrics
middleware. Flask's own server (``flask run``, ``app.run()``) and Django's ``runserver`` keep
serving through the drain and stop on the signal handed on to them; under gunicorn use the
config module `paas_sdk.integrations.gunicorn` as well.
"""

from __future__ import annotations

import paas_sdk
from paas_sdk.metrics import WsgiMetricsMiddleware
from paas_sdk.metrics._http import WSGIApp, WsgiRouteResolver

__all__ = ["instrument"]


def instrument(app: WSGIApp, *, route_resolver: WsgiRouteResolver | None = None) -> WSGIApp:
    """`app` counted in the HTTP metrics, with the platform started for this process."""
    platform = paas_sdk.init()
    return WsgiMetricsMiddleware(
        app, registry=platform.metrics_registry, route_resolver=route_resolver
    )
