"""The vector selectors of a PromQL expression, for lint and the dead-reference check.

Not a PromQL parser: a scanner that knows enough of the grammar (strings, label matchers, ranges,
function calls, grouping clauses, keywords; Grafana variables included) to find every selector,
with or without braces, the function it sits directly inside and whether it takes a range.
`promtool` remains the judge of whether a query parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Selector", "selectors"]

_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})
_AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
     "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
)  # fmt: skip
_TOKEN = re.compile(
    r"""(?P<skip>\s+|\#[^\n]*)
      |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      |(?P<matchers>\{(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|[^{}"'`]|\$\{[^}]*\})*\})
      |(?P<range>\[[^\]]*\])
      |(?P<variable>\$\{[^}]*\}|\$\w+)
      |(?P<number>\d[\w.]*)
      |(?P<name>[a-zA-Z_:][\w:]*)
      |(?P<open>\()
      |(?P<close>\))
      |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Selector:
    """One vector selector: `metric{matchers}[range]`, any part but one of the first two absent."""

    metric: str | None
    matchers: str  # the text between the braces, "" without braces
    range: str | None  # the text between the brackets of a range selector
    function: str | None  # the function it is a direct argument of, if any


def _tokens(expr: str) -> list[tuple[str, str]]:
    return [
        (kind, match.group())
        for match in _TOKEN.finditer(expr)
        if (kind := match.lastgroup or "other") != "skip"
    ]


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of `expr`, in order."""
    tokens = _tokens(expr)
    found: list[Selector] = []
    stack: list[str] = []  # per open parenthesis: a function name, "" or "(grouping)"
    pending = ""  # an aggregation whose `by (...)` clause comes before its arguments
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        after = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if kind == "name" and text in _AGGREGATIONS and after[1] in ("by", "without"):
            pending = text
        elif kind == "open":
            stack.append(pending)
            pending = ""
        elif kind == "close":
            if stack:
                stack.pop()
        elif kind == "name" and after[0] == "open":
            stack.append("(grouping)" if text in _GROUPING else text)
            index += 1
        elif kind in ("name", "matchers") and (not stack or stack[-1] != "(grouping)"):
            if kind == "name" and text.lower() in _KEYWORDS | _GROUPING:
                index += 1
                continue
            metric = text if kind == "name" else None
            matchers = ""
            if kind == "matchers":
                matchers = text[1:-1]
            elif after[0] == "matchers":
                matchers = after[1][1:-1]
                index += 1
            window = None
            if index + 1 < len(tokens) and tokens[index + 1][0] == "range":
                window = tokens[index + 1][1][1:-1].strip()
            function = stack[-1] if stack and stack[-1] != "(grouping)" else None
            found.append(Selector(metric, matchers, window, function or None))
        index += 1
    return found
