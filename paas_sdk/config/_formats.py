"""Namespace formats: the suffix decides how a namespace's text is read (properties by default).

Properties values stay strings (never `eval()`ed); JSON and YAML namespaces become nested mappings
for typed settings, and flattened `a.b.c` keys for key lookups.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

from paas_sdk.errors import ConfigFormatError

FORMATS = ("properties", "xml", "json", "yml", "yaml", "txt")
_BLANK = " \t\f"  # the only whitespace java.util.Properties skips


def namespace_format(namespace: str) -> str:
    """`db.json` -> `json`; a name without a known suffix is a properties namespace."""
    _, dot, suffix = namespace.rpartition(".")
    return suffix.lower() if dot and suffix.lower() in FORMATS else "properties"


def parse_properties(text: str, *, where: str) -> dict[str, str]:
    """Java `.properties` text: `=`/`:`/space separators, `#`/`!` comments, `\\` escapes and
    continuation lines."""
    result: dict[str, str] = {}
    # Only CR/LF end a line: str.splitlines() would also split on \x1c-\x1e, \x85, \u2028.
    lines = re.split(r"\r\n|\r|\n", text)
    index = 0
    while index < len(lines):
        line = lines[index].lstrip(_BLANK)
        index += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and index < len(lines):
            line = line[:-1] + lines[index].lstrip(_BLANK)
            index += 1
        key, value = _split_property(line)
        try:
            result[_unescape(key)] = _unescape(value)
        except ValueError as error:
            raise ConfigFormatError(f"line {index}: {error}", where=where) from None
    return result


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _split_property(line: str) -> tuple[str, str]:
    escaped = False
    for position, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "=: \t\f":
            rest = line[position:].lstrip(" \t\f")
            if (rest[:1] in ("=", ":") and char in " \t\f") or char in "=:":
                rest = rest[1:]
            return line[:position], rest.lstrip(" \t\f")
    return line, ""


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    chars = iter(enumerate(text))
    for position, char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, None)
        if nxt is None:
            break
        _, code = nxt
        if code == "u":
            digits = text[position + 2 : position + 6]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"bad unicode escape \\u{digits}")
            out.append(chr(int(digits, 16)))
            for _ in range(4):
                next(chars, None)
        else:
            out.append(_ESCAPES.get(code, code))
    return "".join(out)


def dump_properties(values: Mapping[str, str]) -> str:
    """The inverse of `parse_properties`, for the local cache file."""

    def escape(text: str, *, key: bool) -> str:
        out = []
        for position, char in enumerate(text):
            if char == "\\":
                out.append("\\\\")
            elif char in "\t\n\r\f":
                out.append("\\" + {"\t": "t", "\n": "n", "\r": "r", "\f": "f"}[char])
            elif char in "=:#!" or (char == " " and (key or position == 0)):
                out.append("\\" + char)
            elif ord(char) > 0x7E or ord(char) < 0x20:
                out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else char)
            else:
                out.append(char)
        return "".join(out)

    return "".join(
        f"{escape(k, key=True)}={escape(v, key=False)}\n" for k, v in sorted(values.items())
    )


def parse_document(text: str, fmt: str, *, where: str) -> Any:
    """Parse a json/yaml/yml/xml namespace's content; txt stays text."""
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigFormatError(
                f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}",
                where=where,
            ) from None
    if fmt in ("yaml", "yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error)
            raise ConfigFormatError(f"invalid YAML{at}: {problem}", where=where) from None
    if fmt == "xml":
        try:
            ElementTree.fromstring(text)  # noqa: S314 (config text from our own service)
        except ElementTree.ParseError as error:
            raise ConfigFormatError(f"invalid XML: {error}", where=where) from None
    return text


def flatten(document: Any, prefix: str = "") -> dict[str, str]:
    """Nested mappings -> `a.b.c` string keys (lists keep JSON text)."""
    if not isinstance(document, Mapping):
        return {prefix: _scalar(document)} if prefix else {}
    flat: dict[str, str] = {}
    for key, value in document.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(value, path))
        else:
            flat[path] = _scalar(value)
    return flat


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def nest(flat: Mapping[str, str]) -> dict[str, Any]:
    """`db.url` keys -> `{"db": {"url": ...}}`; a key that is both a leaf and a parent keeps the
    parent (the more specific settings win)."""
    tree: dict[str, Any] = {}
    for key in sorted(flat, key=lambda k: k.count(".")):
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        if not isinstance(node.get(leaf), dict):
            node[leaf] = flat[key]
    return tree
