"""Metric families built by a poll, and the direct renderer that turns them into exposition bytes.

A poll fills `MetricFamily` objects; `render_target` turns one target's families into text lines
once; `Exposition.compose` joins every target's lines under one HELP/TYPE header per family and
keeps the text and OpenMetrics bodies, plain and gzipped, ready to serve. Nothing here is touched
by a scrape except the finished bytes.
"""

from __future__ import annotations

import gzip
import math
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["gauge", "counter", "info", "histogram"]

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class MetricFamily:
    """One metric name with its HELP, type, label names and the samples of one poll."""

    __slots__ = ("help", "kind", "label_names", "name", "samples")

    def __init__(self, name: str, kind: Kind, help: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.kind: Kind = kind
        self.help = help
        self.label_names = tuple(label_names)
        self.samples: list[tuple[tuple[str, ...], float]] = []

    def add(self, value: float, *label_values: str) -> None:
        if len(label_values) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {label_values}")
        self.samples.append((label_values, value))


class HistogramFamily(MetricFamily):
    """A histogram: per label set, the count in each cumulative bucket, the sum and the count."""

    __slots__ = ("bounds", "series")

    def __init__(
        self, name: str, help: str, label_names: Sequence[str], bounds: Sequence[float]
    ) -> None:
        super().__init__(name, "histogram", help, label_names)
        self.bounds = tuple(bounds)
        self.series: list[tuple[tuple[str, ...], Sequence[float], float]] = []

    def add_histogram(self, buckets: Sequence[float], total: float, *label_values: str) -> None:
        """`buckets`: non-cumulative counts per bound plus one for +Inf; `total`: the sum."""
        if len(label_values) != len(self.label_names) or len(buckets) != len(self.bounds) + 1:
            raise ValueError(f"{self.name}: wrong labels or bucket count")
        self.series.append((label_values, buckets, total))
        self.samples.append((label_values, sum(buckets)))  # so empty families are skipped

    def render(self, const_labels: Sequence[tuple[str, str]]) -> bytes:
        prefix = "".join(f'{k}="{escape_label_value(v)}",' for k, v in const_labels)
        les = [format_value(float(b)) for b in self.bounds] + ["+Inf"]
        out: list[str] = []
        for values, buckets, total in self.series:
            labels = prefix + "".join(
                f'{k}="{escape_label_value(v)}",'
                for k, v in zip(self.label_names, values, strict=True)
            )
            running = 0.0
            for le, count in zip(les, buckets, strict=True):
                running += count
                out.append(f'{self.name}_bucket{{{labels}le="{le}"}} {format_value(running)}\n')
            plain = f"{{{labels[:-1]}}}" if labels else ""
            out.append(f"{self.name}_sum{plain} {format_value(total)}\n")
            out.append(f"{self.name}_count{plain} {format_value(running)}\n")
        return "".join(out).encode()


def escape_label_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def format_value(value: float) -> str:
    if value.__class__ is int:
        return str(value)
    if value - value == 0:  # finite: NaN and the infinities fail this
        if value.is_integer() and -1e15 < value < 1e15:
            return str(int(value))
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


_SPECIAL = ("\\", '"', "\n")


def _needs_escaping(values: Iterable[str]) -> bool:
    """One pass over a family's label values joined (C speed) instead of a check per value."""
    blob = "\x00".join(values)
    return any(char in blob for char in _SPECIAL)


@dataclass(frozen=True, slots=True)
class RenderedFamily:
    """A family's header facts and its sample lines, already encoded."""

    name: str
    kind: Kind
    help: str
    lines: bytes


def render_family(family: MetricFamily, const_labels: Sequence[tuple[str, str]] = ()) -> bytes:
    """The sample lines of one family; `const_labels` go first on every sample."""
    prefix = "".join(f'{k}="{escape_label_value(v)}",' for k, v in const_labels)
    names = family.label_names
    name = family.name
    samples = family.samples
    fmt = format_value
    esc = escape_label_value
    out: list[str]
    if not names:
        head = f"{name}{{{prefix[:-1]}}} " if prefix else f"{name} "
        out = [f"{head}{fmt(value)}\n" for _, value in samples]
    elif len(names) == 1:
        head = f'{name}{{{prefix}{names[0]}="'
        if _needs_escaping(values[0] for values, _ in samples):
            out = [f'{head}{esc(v0)}"}} {fmt(value)}\n' for (v0,), value in samples]
        else:
            out = [f'{head}{v0}"}} {fmt(value)}\n' for (v0,), value in samples]
    elif len(names) == 2 and not _needs_escaping(v for values, _ in samples for v in values):
        first, second = names
        head = f'{name}{{{prefix}{first}="'
        middle = f'",{second}="'
        out = [f'{head}{v0}{middle}{v1}"}} {fmt(value)}\n' for (v0, v1), value in samples]
    else:
        head = f"{name}{{{prefix}"
        out = [
            head
            + ",".join(f'{k}="{esc(v)}"' for k, v in zip(names, values, strict=True))
            + f"}} {fmt(value)}\n"
            for values, value in samples
        ]
    return "".join(out).encode()


def render_target(
    families: Iterable[MetricFamily], const_labels: Sequence[tuple[str, str]] = ()
) -> list[RenderedFamily]:
    return [
        RenderedFamily(
            f.name,
            f.kind,
            f.help,
            f.render(const_labels)
            if isinstance(f, HistogramFamily)
            else render_family(f, const_labels),
        )
        for f in families
        if f.samples
    ]


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _headers(name: str, kind: Kind, help: str) -> tuple[bytes, bytes]:
    """The text-format and OpenMetrics HELP/TYPE lines of one family."""
    help_text = _escape_help(help)
    text = f"# HELP {name} {help_text}\n# TYPE {name} {'gauge' if kind == 'info' else kind}\n"
    om_name = name
    if kind == "counter" and name.endswith("_total"):
        om_name = name[: -len("_total")]
    elif kind == "info" and name.endswith("_info"):
        om_name = name[: -len("_info")]
    om = f"# HELP {om_name} {help_text}\n# TYPE {om_name} {kind}\n"
    return text.encode(), om.encode()


class Exposition:
    """The bytes a scrape serves, built once per poll and swapped in whole.

    OpenMetrics gzipped (what Prometheus asks for) is compressed with the poll, streamed from the
    targets' rendered lines without joining them first; the other bodies (plain text, plain
    OpenMetrics, gzipped text) are joined on the first scrape that wants them, then kept. So a
    Prometheus-scraped exporter holds each sample once (its target's lines) plus about a tenth of
    that compressed, not three more copies of the whole body.
    """

    __slots__ = ("_bodies", "_lock", "_parts", "created", "openmetrics_gzip", "render_seconds")

    def __init__(
        self,
        parts: Sequence[tuple[bytes, bytes, Sequence[bytes]]],
        created: float,
        render_seconds: float,
    ) -> None:
        # per family: its text header, its OpenMetrics header, each target's lines
        self._parts = parts
        # Level 1: scrapers want it fast; the gain of higher levels on metric text is small.
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing, mtime 0
        pieces = []
        for _, om_header, chunks in parts:
            pieces.append(compressor.compress(om_header))
            pieces.extend(compressor.compress(chunk) for chunk in chunks)
        pieces.append(compressor.compress(b"# EOF\n"))
        pieces.append(compressor.flush())
        self.openmetrics_gzip = b"".join(pieces)
        self.created = created
        self.render_seconds = render_seconds
        self._bodies: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _body(self, kind: str) -> bytes:
        with self._lock:
            body = self._bodies.get(kind)
            if body is None:
                if kind == "text_gzip":
                    body = gzip.compress(self._join(text=True), compresslevel=1, mtime=0)
                else:
                    body = self._join(text=kind == "text")
                self._bodies[kind] = body
            return body

    def _join(self, *, text: bool) -> bytes:
        out: list[bytes] = []
        for text_header, om_header, chunks in self._parts:
            out.append(text_header if text else om_header)
            out.extend(chunks)
        if not text:
            out.append(b"# EOF\n")
        return b"".join(out)

    @property
    def text(self) -> bytes:
        return self._body("text")

    @property
    def openmetrics(self) -> bytes:
        return self._body("openmetrics")

    @property
    def text_gzip(self) -> bytes:
        return self._body("text_gzip")

    @classmethod
    def compose(cls, parts: Iterable[Sequence[RenderedFamily]]) -> Exposition:
        """Merge rendered families of several targets; one header per name, first seen first."""
        started = time.perf_counter()
        merged: dict[str, tuple[RenderedFamily, list[bytes]]] = {}
        for part in parts:
            for family in part:
                entry = merged.get(family.name)
                if entry is None:
                    merged[family.name] = (family, [family.lines])
                else:
                    entry[1].append(family.lines)
        families = [
            (*_headers(first.name, first.kind, first.help), chunks)
            for first, chunks in merged.values()
        ]
        return cls(families, created=time.time(), render_seconds=time.perf_counter() - started)

    def select(self, accept: str, accept_encoding: str) -> tuple[bytes, str, bool]:
        """Body, content type and whether it is gzipped, for a request's Accept headers."""
        openmetrics = "application/openmetrics-text" in accept
        gzipped = "gzip" in accept_encoding
        if openmetrics:
            body = self.openmetrics_gzip if gzipped else self.openmetrics
            return body, OPENMETRICS_CONTENT_TYPE, gzipped
        return (self.text_gzip if gzipped else self.text), TEXT_CONTENT_TYPE, gzipped
