"""Dashboards drawn without a Grafana: every panel's queries run against a live Prometheus over a
time range, and each dashboard becomes one PNG laid out as Grafana lays it out (its gridPos),
each panel with its title, unit, legend and thresholds, an empty panel marked "No data".

A reviewer sees what a dashboard change looks like on real data before it reaches a Grafana.
Grafana's variables are filled in as Grafana would with "All" selected (a query variable's
`allValue`), `$__rate_interval` as Grafana computes it from the step and the scrape interval.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from paas_sdk.dash.catalog import Dashboard
from paas_sdk.errors import DashboardError, connection_failure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DashboardPreview", "PanelPreview", "PreviewOptions", "format_value", "preview"]

# Grafana's dark theme and its named colours (packages/grafana-data/src/themes/palette.ts).
_COLOURS = {
    "green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A",
    "blue": "#5794F2", "purple": "#B877D9", "text": "#6E9FFF",
}  # fmt: skip
_SERIES = ("#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9", "#705DA0")
_BACKGROUND, _PANEL, _BORDER, _TEXT, _MUTED = "#111217", "#181B1F", "#2A2D33", "#CCCCDC", "#8E8E99"
_COL_INCHES = 0.75  # one of Grafana's 24 columns
_ROW_INCHES = 0.34  # one gridPos height unit (30 px against a ~66 px column)
_LEGEND_MAX = 9  # legend entries drawn below a time series; the rest are counted
_POINTS = 240  # data points per series: Grafana's maxDataPoints for a half-width panel


@dataclass(frozen=True)
class PreviewOptions:
    """Where to query and over which range. `variables` overrides dashboard variables by name
    (default: "All", a variable's `allValue`)."""

    prometheus: str
    range_seconds: float = 3600.0
    end: float | None = None
    scrape_interval: float = 15.0
    variables: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0


@dataclass
class Series:
    legend: str
    times: list[float]
    values: list[float]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class PanelPreview:
    """One panel with the data its queries returned."""

    title: str
    kind: str  # timeseries | stat | row | another Grafana panel type, drawn as text
    unit: str
    grid: tuple[int, int, int, int]  # x, y, w, h
    steps: list[tuple[float | None, str]] = field(default_factory=list)
    states: dict[str, tuple[str, str]] = field(default_factory=dict)
    series: list[Series] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.kind != "row" and not any(s.values for s in self.series)


@dataclass
class DashboardPreview:
    uid: str
    title: str
    path: Path
    panels: list[PanelPreview]

    @property
    def empty_panels(self) -> list[str]:
        return [p.title for p in self.panels if p.empty]


# -- values -------------------------------------------------------------------------------------
_SI = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
# How the unit reads in a panel's corner.
_UNIT_NAMES = {
    "percentunit": "percent", "percent": "percent", "s": "seconds", "ms": "milliseconds",
    "bytes": "bytes", "decbytes": "bytes", "reqps": "requests/s", "ops": "operations/s",
    "cps": "per second", "Bps": "bytes/s", "short": "", "none": "",
}  # fmt: skip
_PER_SECOND = {"reqps": " req/s", "ops": " ops/s", "cps": " c/s", "Bps": " B/s"}


def _number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 0.01 else 4
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def _short(value: float) -> str:
    for factor, suffix in _SI:
        if abs(value) >= factor:
            return _number(value / factor) + suffix
    return _number(value)


def _duration(seconds: float) -> str:
    magnitude = abs(seconds)
    if magnitude == 0:
        return "0 s"
    for limit, factor, suffix in (
        (1e-3, 1e6, " µs"), (1, 1e3, " ms"), (60, 1, " s"), (3600, 1 / 60, " min"),
        (86400, 1 / 3600, " hour"), (math.inf, 1 / 86400, " day"),
    ):  # fmt: skip
        if magnitude < limit:
            return _number(seconds * factor) + suffix
    return _number(seconds)  # pragma: no cover - the last limit is infinite


def _bytes(value: float) -> str:
    for factor, suffix in ((2**40, " TiB"), (2**30, " GiB"), (2**20, " MiB"), (2**10, " KiB")):
        if abs(value) >= factor:
            return _number(value / factor) + suffix
    return _number(value) + " B"


def _per_second(suffix: str) -> Callable[[float], str]:
    return lambda value: _short(value) + suffix


_FORMATS: dict[str, Callable[[float], str]] = {
    "percentunit": lambda value: _number(value * 100) + "%",
    "percent": lambda value: _number(value) + "%",
    "s": _duration,
    "ms": lambda value: _duration(value / 1000),
    "bytes": _bytes,
    "decbytes": _bytes,
    "bool": lambda value: "true" if value else "false",
    # Grafana's date units read milliseconds since the epoch.
    "dateTimeAsIso": lambda value: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value / 1000)),
    "dateTimeFromNow": lambda value: _duration(time.time() - value / 1000) + " ago",
    "none": _number,
    **{unit: _per_second(suffix) for unit, suffix in _PER_SECOND.items()},
}


def format_value(value: float, unit: str) -> str:
    """`value` as Grafana shows it in `unit` (the units paas-dash lint accepts; else `short`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        # Grafana's toFixed (valueFormats.ts) shows infinities as Number.toLocaleString does.
        return "∞" if value > 0 else "-∞"
    return _FORMATS.get(unit, _short)(value)


# -- queries ------------------------------------------------------------------------------------
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _variables(board: Dashboard, options: PreviewOptions, step: float) -> dict[str, str]:
    """Grafana's built-in variables and the dashboard's own, with "All" selected."""
    rate_interval = max(step + options.scrape_interval, 4 * options.scrape_interval)
    values = {
        "__rate_interval": f"{math.ceil(rate_interval)}s",
        "__interval": f"{math.ceil(step)}s",
        "__range": f"{math.ceil(options.range_seconds)}s",
        "__range_s": str(math.ceil(options.range_seconds)),
        "datasource": "prometheus",
    }
    for variable in (board.model.get("templating") or {}).get("list") or []:
        name = variable.get("name")
        if isinstance(name, str) and name not in values:
            values[name] = str(variable.get("allValue") or ".+")
    return values | options.variables


def _interpolate(expr: str, values: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values.get(m[1] or m[2], m[0]), expr)


def _legend(template: str, labels: dict[str, str]) -> str:
    if template and template != "__auto":
        return _LEGEND.sub(lambda m: labels.get(m[1], ""), template).strip() or "value"
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest else name


class _Prometheus:
    """The two query endpoints of the Prometheus HTTP API, with one clear error per failure."""

    def __init__(self, options: PreviewOptions) -> None:
        self.url = options.prometheus.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=options.timeout)

    def close(self) -> None:
        self._client.close()

    def check(self) -> None:
        try:
            answer = self._client.get("/api/v1/status/buildinfo")
        except httpx.HTTPError as error:
            raise DashboardError(
                f"cannot reach Prometheus: {connection_failure(error)}", where=self.url
            ) from None
        if answer.status_code != 200:
            raise DashboardError(
                f"not a Prometheus API: GET /api/v1/status/buildinfo answered {answer.status_code}",
                where=self.url,
            )

    def run(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """The `result` of a query; a refused query raises ValueError with Prometheus' error."""
        try:
            answer = self._client.get(path, params=params)
        except httpx.HTTPError as error:
            raise DashboardError(
                f"cannot reach Prometheus: {connection_failure(error)}", where=self.url
            ) from None
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200 or body.get("status") != "success":
            raise ValueError(str(body.get("error") or f"HTTP {answer.status_code}"))
        result = (body.get("data") or {}).get("result") or []
        return [r for r in result if isinstance(r, dict)]


def _float(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _panel_series(
    prometheus: _Prometheus,
    target: dict[str, Any],
    expr: str,
    instant: bool,
    window: tuple[float, float, float],
) -> list[Series]:
    start, end, step = window
    legend = str(target.get("legendFormat") or "")
    if instant:
        rows = prometheus.run("/api/v1/query", {"query": expr, "time": f"{end:.3f}"})
        out = []
        for row in rows:
            value = _float((row.get("value") or [0, "NaN"])[1])
            # As for range queries below: a non-finite sample is not drawn (nor mapped to a
            # state), it would otherwise abort the whole preview.
            values = [value] if math.isfinite(value) else []
            out.append(
                Series(_legend(legend, row.get("metric") or {}), [end] * len(values), values)
            )
        return out
    params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    out = []
    for row in prometheus.run("/api/v1/query_range", params):
        points = [(float(t), _float(v)) for t, v in row.get("values") or []]
        points = [(t, v) for t, v in points if math.isfinite(v)]
        out.append(
            Series(
                _legend(legend, row.get("metric") or {}),
                [t for t, _ in points],
                [v for _, v in points],
            )
        )
    return out


Window = tuple[float, float, float]  # start, end, step (seconds)


def _window(options: PreviewOptions) -> Window:
    end = options.end if options.end is not None else time.time()
    step = max(options.range_seconds / _POINTS, options.scrape_interval)
    return end - options.range_seconds, end, step


def _panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def _panel_preview(panel: dict[str, Any]) -> PanelPreview:
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    grid = panel.get("gridPos") or {}
    steps = [
        (None if s.get("value") is None else float(s["value"]), str(s.get("color") or "green"))
        for s in (defaults.get("thresholds") or {}).get("steps") or []
    ]
    states: dict[str, tuple[str, str]] = {}
    for mapping in defaults.get("mappings") or []:
        if mapping.get("type") == "value":
            for value, result in (mapping.get("options") or {}).items():
                states[str(value)] = (
                    str(result.get("text") or value),
                    str(result.get("color") or ""),
                )
    return PanelPreview(
        title=str(panel.get("title") or ""),
        kind=str(panel.get("type") or ""),
        unit=str(defaults.get("unit") or "short"),
        grid=(
            int(grid.get("x", 0)),
            int(grid.get("y", 0)),
            int(grid.get("w", 12)),
            int(grid.get("h", 8)),
        ),
        steps=steps,
        states=states,
    )


def _query_dashboard(
    board: Dashboard, prometheus: _Prometheus, options: PreviewOptions, pool: ThreadPoolExecutor
) -> list[PanelPreview]:
    window = _window(options)
    values = _variables(board, options, window[2])
    previews = []
    jobs: list[tuple[PanelPreview, Any]] = []
    for panel in _panels(board.model):
        preview_panel = _panel_preview(panel)
        previews.append(preview_panel)
        if preview_panel.kind == "row":
            continue
        for target in panel.get("targets") or []:
            expr = _interpolate(str(target.get("expr") or ""), values)
            instant = bool(target.get("instant")) and not target.get("range")
            jobs.append(
                (
                    preview_panel,
                    pool.submit(_panel_series, prometheus, target, expr, instant, window),
                )
            )
    for preview_panel, future in jobs:
        try:
            preview_panel.series.extend(future.result())
        except ValueError as error:
            preview_panel.errors.append(str(error))
    return previews


# -- drawing ------------------------------------------------------------------------------------
def _colour(name: str) -> str:
    return _COLOURS.get(name, name or _TEXT)


def _step_colour(value: float, steps: list[tuple[float | None, str]]) -> str:
    colour = _TEXT
    for threshold, name in steps:
        if threshold is None or value >= threshold:
            colour = _colour(name)
    return colour


def _state(value: float, panel: PanelPreview) -> tuple[str, str] | None:
    # int() of an infinity raises OverflowError: only a finite whole number is keyed as one.
    key = _number(value) if math.isfinite(value) and value == int(value) else str(value)
    return panel.states.get(key)


def _placed(
    fig: Figure, rect: tuple[float, float, float, float], inches: tuple[float, float]
) -> Callable[..., Axes]:
    """An axes factory in a panel's rectangle: margins given in inches, placed in figure units."""
    left, bottom, width, height = rect
    fig_w, fig_h = inches

    def add(left_in: float, right_in: float, top_in: float, bottom_in: float) -> Axes:
        return fig.add_axes(
            (
                left + left_in / fig_w,
                bottom + bottom_in / fig_h,
                max(width - (left_in + right_in) / fig_w, 0.01),
                max(height - (top_in + bottom_in) / fig_h, 0.01),
            )
        )

    return add


def _draw_panel(
    fig: Figure, panel: PanelPreview, fig_inches: tuple[float, float], window: Window
) -> None:
    from matplotlib.patches import FancyBboxPatch

    x, y, w, h = panel.grid
    pad = 0.04
    left = (x * _COL_INCHES + pad) / fig_inches[0]
    width = (w * _COL_INCHES - 2 * pad) / fig_inches[0]
    height = (h * _ROW_INCHES - 2 * pad) / fig_inches[1]
    bottom = 1 - (_HEADER_INCHES + y * _ROW_INCHES + pad) / fig_inches[1] - height
    rect = (left, bottom, width, height)
    if panel.kind == "row":
        fig.text(
            left,
            bottom + height / 2,
            panel.title,
            color=_TEXT,
            fontsize=11,
            weight="bold",
            va="center",
        )
        return
    fig.patches.append(
        FancyBboxPatch(
            (left, bottom), width, height, boxstyle="round,pad=0,rounding_size=0.003",
            transform=fig.transFigure, facecolor=_PANEL, edgecolor=_BORDER, linewidth=0.8,
            zorder=-1,  # under the panel's axes
        )
    )  # fmt: skip
    unit = _UNIT_NAMES.get(panel.unit, panel.unit)
    title_y = bottom + height - 0.2 / fig_inches[1]
    fig.text(
        left + 0.1 / fig_inches[0], title_y, panel.title, color=_TEXT, fontsize=8.5, weight="bold"
    )
    if unit:
        fig.text(
            left + width - 0.1 / fig_inches[0],
            title_y,
            unit,
            color=_MUTED,
            fontsize=7,
            ha="right",
        )
    centre = (left + width / 2, bottom + height / 2 - 0.1 / fig_inches[1])
    if panel.errors:
        message = "Query error:\n" + "\n".join(e[:90] for e in panel.errors[:2])
        fig.text(*centre, message, color=_COLOURS["red"], fontsize=7, ha="center", va="center")
        return
    if panel.empty:
        fig.text(
            *centre, "No data", color=_COLOURS["orange"], fontsize=11, ha="center", va="center"
        )
        return
    add = _placed(fig, rect, fig_inches)
    if panel.kind == "stat":
        _draw_stat(fig, panel, rect, fig_inches)
    elif panel.kind == "table":
        _draw_table(add(0.1, 0.1, 0.32, 0.08), panel, rect[3] * fig_inches[1])
    else:
        _draw_timeseries(add, panel, window)


_TABLE_HIDDEN = frozenset({"__name__", "job", "instance"})
_TABLE_ROW_INCHES = 0.2


def _draw_table(ax: Axes, panel: PanelPreview, height_inches: float) -> None:
    """One row per series: its labels, then its value in the panel's unit."""
    ax.set_axis_off()
    shown = [s for s in panel.series if s.values]
    columns = sorted({k for s in shown for k in s.labels} - _TABLE_HIDDEN)
    fits = max(int((height_inches - 0.45) / _TABLE_ROW_INCHES) - 1, 1)
    rows = [[s.labels.get(c, "") for c in columns] + [format_value(s.values[-1], panel.unit)]
            for s in shown[:fits]]  # fmt: skip
    drawn = ax.table(cellText=rows, colLabels=[*columns, "value"], loc="upper left",
                     cellLoc="left", colLoc="left")  # fmt: skip
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(6.5)
    for (row, _), cell in drawn.get_celld().items():
        cell.set_facecolor(_PANEL)
        cell.set_edgecolor(_BORDER)
        cell.get_text().set_color(_MUTED if row == 0 else _TEXT)
        cell.set_height(_TABLE_ROW_INCHES / max(height_inches - 0.4, 0.2))
    if len(shown) > fits:
        ax.text(1.0, 0.0, f"+{len(shown) - fits} more rows", transform=ax.transAxes,
                color=_MUTED, fontsize=6.5, ha="right", va="bottom")  # fmt: skip


def _draw_stat(
    fig: Figure,
    panel: PanelPreview,
    rect: tuple[float, float, float, float],
    inches: tuple[float, float],
) -> None:
    left, bottom, width, height = rect
    shown = [s for s in panel.series if s.values][:4]
    for index, series in enumerate(shown):
        value = series.values[-1]
        state = _state(value, panel)
        text = state[0] if state else format_value(value, panel.unit)
        colour = _colour(state[1]) if state and state[1] else _step_colour(value, panel.steps)
        cell = width / len(shown)
        cx = left + cell * (index + 0.5)
        cy = bottom + height * 0.42
        size = min(26, max(11, 150 / max(len(text), 1))) if len(shown) == 1 else 13
        fig.text(cx, cy, text, color=colour, fontsize=size, weight="bold", ha="center", va="center")
        if len(shown) > 1 and series.legend:
            fig.text(
                cx,
                bottom + 0.12 / inches[1],
                series.legend[:40],
                color=_MUTED,
                fontsize=6.5,
                ha="center",
            )


def _with_gaps(series: Series, step: float) -> tuple[list[float], list[float]]:
    """The points with a NaN wherever samples are missing, so the line breaks there as Grafana
    draws it instead of bridging the gap."""
    times: list[float] = []
    values: list[float] = []
    for t, v in zip(series.times, series.values, strict=True):
        if times and t - times[-1] > 2.5 * step:
            times.append((t + times[-1]) / 2)
            values.append(math.nan)
        times.append(t)
        values.append(v)
    return times, values


_TICK_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def _time_ticks(start: float, end: float, most: int = 7) -> tuple[list[float], str]:
    """Tick times on round boundaries, as Grafana places them, and their strftime format."""
    span = end - start
    step = next(
        (s for s in _TICK_STEPS if span / s <= most), 86400 * math.ceil(span / most / 86400)
    )
    first = math.ceil(start / step) * step
    ticks = [float(first + i * step) for i in range(int((end - first) // step) + 1)]
    return ticks, "%H:%M:%S" if step < 60 else "%H:%M" if step < 86400 else "%m-%d"


def _draw_timeseries(add: Callable[..., Axes], panel: PanelPreview, window: Window) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    shown = [s for s in panel.series if s.values]
    legend_rows = min(math.ceil(len(shown) / 3), 3)
    ax = add(0.62, 0.12, 0.32, 0.28 + 0.15 * legend_rows)
    ax.set_facecolor(_PANEL)
    for index, series in enumerate(shown):
        ax.plot(series.times, series.values, color=_SERIES[index % len(_SERIES)], linewidth=1.1,
                label=series.legend[:48])  # fmt: skip
    lows = [min(s.values) for s in shown]
    highs = [max(s.values) for s in shown]
    for threshold, name in panel.steps:
        if threshold is not None:
            ax.axhline(threshold, color=_colour(name), linestyle="--", linewidth=0.9, alpha=0.9)
            highs.append(threshold)
    low = min([*lows, 0.0])
    high = max(highs)
    if high == low:
        high = low + (abs(low) or 1)
    ax.set_ylim(low, high + (high - low) * 0.08)
    ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, panel.unit)))
    ticks, fmt = _time_ticks(window[0], window[1])
    ax.set_xlim(window[0], window[1])
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: time.strftime(fmt, time.gmtime(t))))
    ax.tick_params(colors=_MUTED, labelsize=6.5, length=2)
    ax.grid(color=_BORDER, linewidth=0.5)
    for spine in ax.spines.values():
        spine.set_visible(False)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles[:_LEGEND_MAX],
        labels[:_LEGEND_MAX],
        loc="upper left",
        bbox_to_anchor=(-0.02, -0.12),
        ncol=3,
        fontsize=6.5,
        frameon=False,
        labelcolor=_TEXT,
        handlelength=1.2,
        columnspacing=1.0,
    )  # fmt: skip
    if len(handles) > _LEGEND_MAX:
        ax.text(1.0, -0.12, f"+{len(handles) - _LEGEND_MAX} more", transform=ax.transAxes,
                color=_MUTED, fontsize=6.5, ha="right", va="top")  # fmt: skip


_HEADER_INCHES = 0.55  # the dashboard title above gridPos row 0


def _draw(
    board: Dashboard, panels: list[PanelPreview], path: Path, options: PreviewOptions
) -> None:
    from matplotlib.figure import Figure

    rows = max((p.grid[1] + p.grid[3] for p in panels), default=1)
    inches = (24 * _COL_INCHES, rows * _ROW_INCHES + _HEADER_INCHES)
    fig = Figure(figsize=inches, dpi=110, facecolor=_BACKGROUND)
    end = options.end if options.end is not None else time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(end))
    middle = 1 - 0.3 / inches[1]
    fig.text(0.006, middle, board.title, color=_TEXT, fontsize=13, weight="bold", va="center")
    fig.text(
        0.994, middle, f"last {_duration(options.range_seconds)} to {stamp} · {options.prometheus}",
        color=_MUTED, fontsize=8, ha="right", va="center",
    )  # fmt: skip
    window = _window(options)
    for panel in panels:
        _draw_panel(fig, panel, inches, window)
    # Written beside the target and renamed over it: a failed run leaves no half-written image.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        fig.savefig(temporary, format="png", facecolor=_BACKGROUND)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _draw_all(
    boards: dict[str, Dashboard], results: list[DashboardPreview], options: PreviewOptions
) -> None:
    """Draw the dashboards, in parallel processes where the platform forks: drawing is
    matplotlib's CPU work, a second or more per dashboard. The query threads have ended by now
    (from the CLI, the process forked is single-threaded); a child only draws and writes."""
    jobs = [(boards[r.uid], r.panels, r.path, options) for r in results]
    workers = min(len(jobs), os.cpu_count() or 1, 4)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for job in jobs:
            _draw(*job)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for done in [pool.submit(_draw, *job) for job in jobs]:
            done.result()


def preview(
    dashboards: list[Dashboard], out: Path, options: PreviewOptions
) -> list[DashboardPreview]:
    """Query and draw every dashboard into `out/<uid>.png`; `out/preview.json` lists, per
    dashboard, its image and its empty panels."""
    if options.end is None:
        options = replace(options, end=time.time())  # one "now" for every panel
    prometheus = _Prometheus(options)
    try:
        prometheus.check()
        out.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="paas-dash-preview") as pool:
            results = [
                DashboardPreview(
                    board.uid,
                    board.title,
                    out / f"{board.uid}.png",
                    _query_dashboard(board, prometheus, options, pool),
                )
                for board in dashboards
            ]
    finally:
        prometheus.close()
    _draw_all(dict(zip((r.uid for r in results), dashboards, strict=True)), results, options)
    summary = {
        r.uid: {"title": r.title, "image": r.path.name,
                "panels": sum(p.kind != "row" for p in r.panels), "empty": r.empty_panels,
                "errors": {p.title: p.errors for p in r.panels if p.errors}}
        for r in results
    }  # fmt: skip
    (out / "preview.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return results
