"""Properties parsing and the atomic cache file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paas_sdk.config._cache import ConfigCache
from paas_sdk.config._formats import dump_properties, nest, parse_properties
from paas_sdk.errors import ConfigFormatError


def test_properties_syntax() -> None:
    text = "# c\n! c\na=1\nb : two words\nc three\nlong = x\\\n    y\nesc=\\u00e9\\t\nempty=\n"
    assert parse_properties(text, where="t") == {
        "a": "1",
        "b": "two words",
        "c": "three",
        "long": "xy",
        "esc": "é\t",
        "empty": "",
    }


def test_bad_unicode_escape_names_the_line() -> None:
    with pytest.raises(ConfigFormatError, match=r"app.properties: line 2: bad unicode"):
        parse_properties("a=1\nb=\\u12x\n", where="app.properties")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1), st.text()))
def test_cache_format_round_trips(values: dict[str, str]) -> None:
    assert parse_properties(dump_properties(values), where="t") == values


def test_cache_write_is_atomic_and_named_like_the_java_client(tmp_path: Path) -> None:
    cache = ConfigCache(tmp_path, "orders", "default")
    cache.write("application", {"db.url": "pg://x"})
    assert cache.path("application") == (
        tmp_path / "orders" / "config-cache" / "orders+default+application.properties"
    )
    assert cache.read("application") == {"db.url": "pg://x"}
    assert [p.name for p in cache.directory.iterdir()] == [cache.path("application").name]


def test_nest_builds_nested_mappings() -> None:
    assert nest({"db.url": "u", "db.pool.max": "3", "name": "n"}) == {
        "db": {"url": "u", "pool": {"max": "3"}},
        "name": "n",
    }
