"""The delivery view's state file: anything but a whole file of ours is refused, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from paas_exporter.delivery.ledger import STATE_VERSION, Ledger, load_state

from paas_sdk.errors import ExporterConfigError


def whole() -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        **Ledger(1, 1).dump(),
        "floor": 1,
        "seen": ["a"],
        "pending": [],
    }


def test_a_whole_state_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(orjson.dumps(whole()))
    assert load_state(path) == whole()


@pytest.mark.parametrize(
    "change",
    [
        {"floor": None},
        {"seen": None},
        {"pending": None},
        {"floor": "1"},
        {"floor": True},
        {"seen": 3},
        {"pending": [1, 2]},
        {"seen": {"a": 1}},
    ],
)
def test_a_state_file_missing_or_mistyping_a_key_is_refused(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    data = whole()
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    path = tmp_path / "state.json"
    path.write_bytes(orjson.dumps(data))
    with pytest.raises(ExporterConfigError, match="not a paas-exporter delivery state file"):
        load_state(path)
