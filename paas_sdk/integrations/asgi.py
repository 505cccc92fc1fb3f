"""ASGI: the platform started and stopped by the server's lifespan (FastAPI, Starlette, any app).

    app = FastAPI(lifespan=paas_sdk.integrations.asgi.lifespan)      # FastAPI / Starlette
    app = PlatformLifespan(app)                                       # any ASGI app

The lifespan runs inside the server, after it installed its signal handlers, so the SDK's handler
goes on top and hands SIGTERM on to the server once the drain is over; when the server has stopped
serving, the lifespan's end stops the platform (logs flushed last). It yields the lifespan state
``{"platform": platform}`` (``request.state.platform`` in Starlette and FastAPI); with a lifespan
of your own, ``async with lifespan(app) as state:`` inside it. A platform that cannot start (a
malformed ``PAAS_*`` variable) fails the server's startup with the error's message.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import paas_sdk
from paas_sdk.errors import PaasError
from paas_sdk.metrics._http import ASGIApp, Message, Receive, Scope, Send
from paas_sdk.platform import Platform

__all__ = ["PlatformLifespan", "lifespan"]


@asynccontextmanager
async def lifespan(app: object = None) -> AsyncIterator[dict[str, Platform]]:
    """Start the platform (or take the running one) for the server's lifetime."""
    platform = await asyncio.to_thread(paas_sdk.init, install_signal_handlers=False)
    if threading.current_thread() is threading.main_thread():
        platform.lifecycle.install_signal_handlers()  # on top of the server's own
    try:
        yield {"platform": platform}
    finally:
        # the server stops serving before the lifespan ends: no drain left to do here
        await asyncio.to_thread(platform.shutdown, "server stopped", drain=False)


class PlatformLifespan:
    """ASGI middleware running `lifespan` around `app`'s own lifespan (if it has one).

    `exiting=True` when the lifespan's end is the process's end (the SDK's own runners): the
    objects are then frozen for the interpreter's teardown, whose last garbage collection over a
    loaded app otherwise keeps a stopping worker alive for a second on a busy machine.
    """

    def __init__(self, app: ASGIApp, *, exiting: bool = False) -> None:
        self.app = app
        self.exiting = exiting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        try:
            await self._lifespan(scope, receive, send)
        finally:
            if self.exiting:
                gc.freeze()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = lifespan(self.app)
        received: list[str] = []
        failed: list[BaseException] = []

        async def receive_starting() -> Message:
            message = await receive()
            received.append(message["type"])
            if message["type"] == "lifespan.startup" and not await _start(context, send, failed):
                raise failed[0]  # ends the app's lifespan; the server already has the failure
            return message

        async def send_stopping(message: Message) -> None:
            if failed:
                return  # the app reporting the platform's failure again, as a traceback
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await context.__aexit__(None, None, None)
            await send(message)

        try:
            await self.app(scope, receive_starting, send_stopping)
        except Exception:
            if failed:
                return
            if received:
                raise
            await _lifespan_alone(context, receive, send)  # the app has no lifespan of its own


async def _start(context: Any, send: Send, failed: list[BaseException]) -> bool:
    """Start the platform; if it cannot start, tell the server so (appending the error).

    An error escaping from the lifespan instead reads to uvicorn's `lifespan="auto"` as an app
    without lifespan support, and it would serve without the platform.
    """
    try:
        await context.__aenter__()
    except Exception as error:
        failed.append(error)
        message = str(error) if isinstance(error, PaasError) else traceback.format_exc()
        await send({"type": "lifespan.startup.failed", "message": message})
        return False
    return True


async def _lifespan_alone(context: Any, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if not await _start(context, send, []):
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await context.__aexit__(None, None, None)
            await send({"type": "lifespan.shutdown.complete"})
            return
