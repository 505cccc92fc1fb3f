"""The SDK's uvicorn command finds the app among uvicorn's own options."""

from __future__ import annotations

import os
from typing import Any

import pytest
import uvicorn

from paas_sdk.integrations import uvicorn as command


@pytest.mark.parametrize(
    "args",
    [
        ["app:app", "--host", "::", "--port", "8000"],
        ["--host", "::", "--port", "8000", "app:app"],
        ["--host=::", "--reload-dir", "a:b", "app:app", "--log-level", "info"],
        ["--ws-per-message-deflate", "true", "--proxy-headers", "app:app"],
        ["--port", "8000", "--", "app:app"],
    ],
)
def test_the_app_is_the_positional_argument_not_an_option_value(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[list[str]] = []

    def serve(args: list[str], **options: Any) -> None:
        given.append(args)

    monkeypatch.setenv("PAAS_ASGI_APP", "")
    monkeypatch.setattr(uvicorn.main, "main", serve)
    command.main(list(args))
    assert os.environ["PAAS_ASGI_APP"] == "app:app"
    served = given[0]
    assert served[args.index("app:app")] == "paas_sdk.integrations.uvicorn:_wrapped_app"
    assert [a for a in served if a not in args] == [
        "paas_sdk.integrations.uvicorn:_wrapped_app",
        "--factory",
    ]
