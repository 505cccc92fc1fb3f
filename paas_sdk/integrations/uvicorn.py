"""uvicorn with the SDK, one process or ``--workers N``: uvicorn's own command line, plus the pod.

    python -m paas_sdk.integrations.uvicorn app:app --host 0.0.0.0 --port 8000 --workers 4

Takes every option uvicorn's command takes. With more than one worker this process, uvicorn's
supervisor, binds the pod's `/metrics`, `/healthz` and `/readyz` once (`PodEndpoints`) and the
workers write their metrics to the multiprocess directory. The app is wrapped in the ASGI
lifespan (`paas_sdk.integrations.asgi`), so each worker starts the platform inside uvicorn's
serve loop and hands SIGTERM on to uvicorn once its drain is over. In code, for one process:

    paas_sdk.integrations.uvicorn.run(app, port=8000)      # like uvicorn.run
"""

from __future__ import annotations

import os
import sys
from typing import Any

from paas_sdk.errors import PaasError
from paas_sdk.integrations._pod import PodEndpoints
from paas_sdk.integrations.asgi import PlatformLifespan

__all__ = ["main", "run"]

_TARGET = "PAAS_ASGI_APP"  # the user's "module:attribute", for `_wrapped_app` in each worker


def run(app: Any, **options: Any) -> None:
    """`uvicorn.run(app, **options)` with the platform's lifespan around `app` (one process)."""
    import uvicorn

    uvicorn.run(PlatformLifespan(app, exiting=True), **options)


def _wrapped_app() -> Any:
    """The factory uvicorn imports in each worker: the user's app inside the lifespan."""
    from uvicorn.importer import import_from_string

    app = import_from_string(os.environ[_TARGET])
    if os.environ.get(f"{_TARGET}_FACTORY") == "1":
        app = app()
    return PlatformLifespan(app, exiting=True)


def _workers(args: list[str]) -> int:
    count = os.environ.get("WEB_CONCURRENCY", "1")
    for index, arg in enumerate(args):
        if arg == "--workers" and index + 1 < len(args):
            count = args[index + 1]
        elif arg.startswith("--workers="):
            count = arg.split("=", 1)[1]
    return int(count) if count.isdigit() else 1


def _app_index(args: list[str]) -> int | None:
    """Where uvicorn's APP argument is in `args`: the first argument that is neither an option
    nor the value of one (``--host ::`` has a colon too), read from uvicorn's own command."""
    import click
    import uvicorn

    takes_value = {
        name: param.nargs
        for param in uvicorn.main.params
        if isinstance(param, click.Option) and not param.is_flag and not param.count
        for name in param.opts
    }
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return index + 1 if index + 1 < len(args) else None
        if not arg.startswith("-") or arg == "-":
            return index
        index += 1 + takes_value.get(arg, 0)  # ``--host=::`` carries its value
    return None


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = list(sys.argv[1:] if argv is None else argv)
    app = _app_index(args)
    # without "module:attribute" uvicorn's own message says what is wrong
    if app is None or ":" not in args[app] or {"-h", "--help", "--version"} & set(args):
        uvicorn.main.main(args=args, prog_name="python -m paas_sdk.integrations.uvicorn")
        return
    os.environ[_TARGET] = args[app]
    args[app] = f"{__name__}:_wrapped_app"
    if "--factory" in args:
        os.environ[f"{_TARGET}_FACTORY"] = "1"
        args.remove("--factory")
    pod = None
    if _workers(args) > 1:
        try:
            pod = PodEndpoints().prepare()
        except PaasError as error:
            sys.exit(f"paas_sdk: {error}")
    try:
        uvicorn.main.main(
            args=[*args, "--factory"], prog_name="python -m paas_sdk.integrations.uvicorn"
        )
    finally:
        if pod is not None:
            pod.close()


if __name__ == "__main__":
    main()
