"""The service the server tests run: one slow-ish route, as WSGI (Flask, Django) and ASGI
(Starlette).

    gunicorn -c python:paas_sdk.integrations.gunicorn -w 2 tests.integrations.service:wsgi
    python -m paas_sdk.integrations.uvicorn tests.integrations.service:asgi --workers 2
    python -m tests.integrations.service flask|django|uvicorn PORT

It exposes one Dubbo provider (``TEST_INTERFACE``) so the tests can watch it leave ZooKeeper.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import paas_sdk
from paas_sdk.integrations.asgi import lifespan
from paas_sdk.integrations.wsgi import instrument
from paas_sdk.metrics import AsgiMetricsMiddleware
from paas_sdk.registry import DubboURL

_DELAY = float(os.environ.get("TEST_DELAY", "0.01"))


def _expose(platform: paas_sdk.Platform) -> None:
    """A provider node for this process, so the tests can watch it leave at SIGTERM."""
    interface = os.environ.get("TEST_INTERFACE")
    if interface and platform.registry is not None:
        port = int(os.environ.get("TEST_PORT", "1"))
        url = DubboURL.provider(
            interface, "127.0.0.1", port, application=platform.context.app_id, methods=["work"]
        )
        platform.registry.register(url)


flask_app = Flask(__name__)


@flask_app.get("/work")
def work() -> str:
    time.sleep(_DELAY)
    return f"ok {os.getpid()}\n"


def _make_wsgi() -> object:
    wsgi_app = instrument(flask_app.wsgi_app)
    platform = paas_sdk.platform.current()
    assert platform is not None
    _expose(platform)
    return wsgi_app


async def _work(_: Request) -> PlainTextResponse:
    time.sleep(_DELAY)  # a blocking handler, as many are
    return PlainTextResponse(f"ok {os.getpid()}\n")


@asynccontextmanager
async def _asgi_lifespan(app: Starlette) -> AsyncIterator[None]:
    async with lifespan(app) as state:
        _expose(state["platform"])
        yield


asgi = Starlette(routes=[Route("/work", _work)], lifespan=_asgi_lifespan)
asgi.add_middleware(AsgiMetricsMiddleware)


def wsgi(environ: dict[str, object], start_response: object) -> object:
    """The Flask app, instrumented on first use (in the worker, after the server forked)."""
    global _wsgi  # noqa: PLW0603
    if _wsgi is None:
        _wsgi = _make_wsgi()
    return _wsgi(environ, start_response)  # type: ignore[operator]


_wsgi: object = None


def django_application() -> object:
    """The Django app as its `wsgi.py` builds it, instrumented (`WSGI_APPLICATION` names this)."""
    from django.core.wsgi import get_wsgi_application

    application = instrument(get_wsgi_application())
    platform = paas_sdk.platform.current()
    assert platform is not None
    _expose(platform)
    return application


def _run_django(port: int) -> None:
    """Django's own server, as `manage.py runserver --noreload` runs it, settings in code."""
    from django.conf import settings
    from django.core.management import call_command
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    def django_work(_: HttpRequest) -> HttpResponse:
        time.sleep(_DELAY)
        return HttpResponse(f"ok {os.getpid()}\n", content_type="text/plain")

    global urlpatterns  # noqa: PLW0603
    urlpatterns = [path("work", django_work)]
    settings.configure(
        DEBUG=False,
        SECRET_KEY="server-tests-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        WSGI_APPLICATION=f"{__name__}.django_wsgi",
    )
    global django_wsgi  # noqa: PLW0603
    django_wsgi = django_application()
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)


urlpatterns: list[object] = []
django_wsgi: object = None


if __name__ == "__main__":
    runner, port = sys.argv[1], int(sys.argv[2])
    if runner == "flask":
        flask_app.wsgi_app = _make_wsgi()  # type: ignore[method-assign,assignment]
        flask_app.run(port=port)
    elif runner == "django":
        _run_django(port)
    else:
        from paas_sdk.integrations.uvicorn import run

        run(asgi, port=port, log_config=None)
