"""The platform's start inside uvicorn's own lifespan handling: a start that fails stops the
server with the error's message, instead of serving without the SDK."""

from __future__ import annotations

import asyncio
import logging

import pytest
import uvicorn
from starlette.applications import Starlette
from uvicorn.lifespan.on import LifespanOn

from paas_sdk.integrations.asgi import PlatformLifespan
from paas_sdk.metrics._http import Receive, Scope, Send


async def _no_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError(f"unsupported scope {scope['type']}")


@pytest.mark.parametrize("app", [Starlette(), _no_lifespan], ids=["starlette", "no-lifespan"])
def test_a_malformed_setting_fails_the_startup_with_its_message(
    app: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PAAS_METRICS_PORT", "ninety")
    config = uvicorn.Config(PlatformLifespan(app), lifespan="auto", log_config=None)  # type: ignore[arg-type]
    lifespan = LifespanOn(config)
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        asyncio.run(lifespan.startup())
    assert lifespan.startup_failed
    assert lifespan.should_exit
    messages = [r.getMessage() for r in caplog.records if r.name == "uvicorn.error"]
    assert not any("unsupported" in m for m in messages)
    assert any("PAAS_METRICS_PORT" in m and "Traceback" not in m for m in messages)
