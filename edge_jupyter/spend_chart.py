"""Spend per day, stacked by model: the figures, an SVG drawing and a matplotlib one.

Everything here is pure (frames and figures in, data and text out) except :func:`show`,
which puts the picture into the notebook.

- :func:`from_frame` turns rows with a date, a model and a USD amount (the ledger's frame,
  or ``%edge activity``'s) into :class:`SpendByDay`: one entry per UTC day from the first
  to the last, days without spend included (an empty bar, never a gap), the biggest
  ``top`` models by spend as their own series and the rest summed as one "other".
  A cost that is not known (NaN: a running call, an interrupted one not reconciled yet)
  is never drawn as $0: it is counted, and the title says how many calls it leaves out.
- :func:`svg` draws it without any dependency: stacked bars, a USD axis written by
  ``money.py``, a legend, and a tooltip per day with the day's exact total.  Every text
  in it (model ids come from the server) is escaped and cleared of control characters.
- :func:`show` draws it with matplotlib when matplotlib is installed (its object API on
  the Agg canvas: no pyplot, so no global figure is ever left open) and as the SVG
  otherwise; ``EDGE_CHART=svg`` forces the SVG.  matplotlib is imported only there, so
  ``%load_ext edge_jupyter`` never imports it.

Dates: ``from_frame`` takes a column of ISO strings ("2026-11-30", or with a time),
``datetime.date`` objects, datetimes (the ledger's ``timestamp``: tz-aware, converted to
UTC; naive ones are taken as UTC) or epoch seconds (numbers).  Days are UTC days, as in
``%edge usage --by day`` and OpenRouter's ``/activity``.
"""

from __future__ import annotations

import html
import itertools
import math
import os
import re
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .money import exact_usd, short_usd, total_usd
from .untrusted_text import strip_controls

if TYPE_CHECKING:
    import pandas as pd

#: Tableau 10's first six (made to stay apart for colour-blind readers, on white and on
#: JupyterLab's dark theme); "other" is grey so it never looks like one more model.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2")
OTHER_COLOUR = "#9d9d9d"
#: The font the SVG asks for, and roughly how wide its characters are at 11 px (used to
#: keep labels apart: SVG cannot measure text before it is drawn).
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
CHAR_PX = 6.3
MIN_PLOT_PX = 80
NAME_CHARS = 34  # longer model ids are cut with "…" in the legend (the tooltip has them whole)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class SpendByDay:
    """USD spent per UTC day, one series per model, ready to draw.

    ``dates``: ascending ISO days, one per day, no gaps.  ``series``: model -> USD per
    day (aligned with ``dates``), biggest first, "other …" last.  ``totals``: each day's
    exact total (``money.total_usd`` of that day's known costs).  ``unknown``: calls per
    day whose cost is not known and so not in the bars.
    """

    dates: list[str]
    series: dict[str, list[float]]
    title: str = "Spend per day (UTC)"
    totals: list[float] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    #: The name of the series that sums the models past the top ones ("" when none).
    other: str = ""

    def __post_init__(self) -> None:
        # Built by hand (tests, a caller's own figures): the totals follow from the series.
        if not self.totals:
            object.__setattr__(self, "totals", [
                total_usd([values[i] for values in self.series.values()])
                for i in range(len(self.dates))])
        if not self.unknown:
            object.__setattr__(self, "unknown", [0] * len(self.dates))

    @property
    def total(self) -> float:
        return total_usd(list(self.totals))

    @property
    def unknown_calls(self) -> int:
        return sum(self.unknown)

    @property
    def note(self) -> str:
        """What the bars leave out ("" when nothing)."""
        n = self.unknown_calls
        if not n:
            return ""
        return f"{n} call{'s' if n != 1 else ''} with unknown cost not shown"

    @property
    def caption(self) -> str:
        """One line for text-only frontends and the SVG's own title."""
        span = (f"{self.dates[0]} to {self.dates[-1]}" if len(self.dates) > 1
                else self.dates[0] if self.dates else "no days")
        text = f"{self.title}: {exact_usd(self.total)} from {span}"
        return f"{text}; {self.note}" if self.note else text


# -- from a frame ---------------------------------------------------------------------------------


def _utc_days(column: pd.Series) -> Any:
    """The column as numpy ``datetime64[D]`` UTC days (see the module's docstring)."""
    import pandas as pd
    from pandas.api import types

    try:
        if types.is_bool_dtype(column.dtype):
            raise TypeError("a date column cannot be true/false")
        if types.is_numeric_dtype(column.dtype):  # epoch seconds
            stamps = pd.to_datetime(column, unit="s", utc=True)
        elif types.is_datetime64_any_dtype(column.dtype):
            stamps = pd.to_datetime(column, utc=True)
        else:  # ISO strings, or date/datetime objects
            stamps = pd.to_datetime(column, utc=True, format="ISO8601")
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"spend_chart: the date column {column.name!r} must hold ISO dates "
                         f"(2026-11-30), datetimes or epoch seconds ({exc})") from None
    if stamps.isna().any():
        raise ValueError(f"spend_chart: {int(stamps.isna().sum())} row(s) have no date in "
                         f"{column.name!r}; drop or fill them first")
    return pd.DatetimeIndex(stamps).tz_localize(None).to_numpy().astype("datetime64[D]")


def _day(value: str | Date | None) -> Any:
    import numpy as np

    return None if value is None else np.datetime64(str(value)[:10], "D")


def from_frame(frame: pd.DataFrame, *, date: str = "date", model: str = "model",
               usd: str = "cost_usd", top: int = 6, first: str | Date | None = None,
               last: str | Date | None = None, title: str | None = None) -> SpendByDay:
    """Spend per UTC day and model from ``frame``'s ``date``, ``model`` and ``usd`` columns.

    ``first``/``last`` (ISO days, inclusive) fix the range, so that days without spend at
    either end show too (the panel's "last 14 days"); rows outside it are left out.
    Without them the range runs from the first row's day to the last's.

    Sums are exact (``money.total_usd``, once per row): a million ledger rows take about
    two seconds, most of it that exact arithmetic.
    """
    import numpy as np
    import pandas as pd

    days = _utc_days(frame[date]) if len(frame) else np.empty(0, dtype="datetime64[D]")
    costs = pd.to_numeric(frame[usd], errors="coerce").to_numpy(dtype=np.float64)
    names = frame[model].astype(str).to_numpy(dtype=object)
    start, end = _day(first), _day(last)
    keep = np.ones(len(days), dtype=bool)
    if start is not None:
        keep &= days >= start
    if end is not None:
        keep &= days <= end
    if not keep.all():
        days, costs, names = days[keep], costs[keep], names[keep]
    if start is None and len(days):
        start = days.min()
    if end is None and len(days):
        end = days.max()
    if start is None or end is None or start > end:
        return SpendByDay(dates=[], series={}, title=title or "Spend per day (UTC)")
    dates = [str(d) for d in np.arange(start, end + np.timedelta64(1, "D"))]
    # Consecutive days: a row's day is its index into ``dates``.
    index = (days - start).astype(np.int64)
    known = ~np.isnan(costs)
    unknown = np.bincount(index[~known], minlength=len(dates)).tolist()

    # The exact sum of each (day, model), once; everything else adds those few figures up.
    codes, models = pd.factorize(names[known])
    labels = ["(no model)" if m == "" else str(m) for m in models]
    key = index[known] * max(len(labels), 1) + codes
    order = np.argsort(key, kind="stable")
    sorted_key, values = key[order], costs[known][order].tolist()
    bounds = [0, *(np.flatnonzero(np.diff(sorted_key)) + 1).tolist(), len(values)]
    cells: dict[tuple[int, int], float] = {}
    for lo, hi in itertools.pairwise(bounds):
        if hi > lo:
            day_i, model_i = divmod(int(sorted_key[lo]), max(len(labels), 1))
            cells[(day_i, model_i)] = total_usd(values[lo:hi])
    per_model: dict[int, list[float | None]] = {m: [] for m in range(len(labels))}
    for (_, model_i), value in cells.items():
        per_model[model_i].append(value)
    spent = {m: total_usd(parts) for m, parts in per_model.items()}
    # Rank models by what they cost; past ``top``, one "other" series sums the rest.
    ranked = sorted(range(len(labels)), key=lambda m: (-spent[m], labels[m]))
    kept, rest = ranked[:top], ranked[top:]
    other = f"other ({len(rest)} model{'s' if len(rest) != 1 else ''})" if rest else ""
    series = {labels[m]: [0.0] * len(dates) for m in kept}
    shown = set(kept)
    for (day_i, model_i), value in cells.items():
        if model_i in shown:
            series[labels[model_i]][day_i] = value
    if other:
        series[other] = [total_usd([cells.get((d, m), 0.0) for m in rest])
                         for d in range(len(dates))]
    totals = [total_usd([cells.get((d, m), 0.0) for m in range(len(labels))])
              for d in range(len(dates))]
    return SpendByDay(dates=dates, series=series, title=title or "Spend per day (UTC)",
                      totals=totals, unknown=unknown, other=other)


# -- the axis -------------------------------------------------------------------------------------


def ticks(highest: float, *, most: int = 5) -> list[float]:
    """0 and round steps (1, 2 or 5 times a power of ten) up to just above ``highest``."""
    if not highest > 0 or math.isinf(highest):
        return [0.0]
    raw = highest / most
    power = Decimal(1).scaleb(math.floor(math.log10(raw)))
    step = next(power * k for k in (1, 2, 5, 10) if power * k >= Decimal(repr(raw)))
    count = math.ceil(Decimal(repr(highest)) / step)
    return [float(step * i) for i in range(count + 1)]


def tick_label(value: float, step: float) -> str:
    """Cents and up read like money ("$0.50", "$1,200.00", ``short_usd``); steps under a
    cent keep their digits ("$0.0025", ``exact_usd``), so no two ticks read the same."""
    return short_usd(value) if step >= 0.01 else exact_usd(value)


def _colours(data: SpendByDay) -> list[str]:
    names = list(data.series)
    return [OTHER_COLOUR if name == data.other else PALETTE[i % len(PALETTE)]
            for i, name in enumerate(names)]


def _day_label(day: str) -> str:
    """"2026-11-30" -> "Nov 30" (English month names: the same on every machine)."""
    return f"{_MONTHS[int(day[5:7]) - 1]} {int(day[8:10])}"


def _every(count: int, room_px: float, label_px: float) -> int:
    """Label every n-th day so that labels never overlap."""
    if count <= 0:
        return 1
    return max(1, math.ceil(count * label_px / max(room_px, 1.0)))


def _breakdown(data: SpendByDay, i: int) -> str:
    """The tooltip of day ``i``: the exact total, each model's part, what is unknown."""
    lines = [f"{data.dates[i]}: {exact_usd(data.totals[i])} spent"]
    lines += [f"{name}: {exact_usd(values[i])}" for name, values in data.series.items()
              if values[i]]
    if data.unknown[i]:
        lines.append(f"+ {data.unknown[i]} call{'s' if data.unknown[i] != 1 else ''} "
                     "with unknown cost")
    return "\n".join(lines)


# -- SVG -------------------------------------------------------------------------------------------

_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _x(text: object) -> str:
    """Text for SVG: no control characters (invalid XML, terminal tricks), then escaped."""
    clean = _NOT_XML.sub("\ufffd", strip_controls(str(text)).replace("\r", ""))
    return html.escape(clean, quote=True)


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars - 1] + "…"


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def svg(data: SpendByDay, *, width: int = 640, height: int = 240,
        background: str | None = None) -> str:
    """The chart as one ``<svg>`` element (no scripts, no external references).

    ``height`` grows when the legend needs more rows than it leaves room for.

    Text is drawn in ``currentColor``, so inline (the panel) it follows JupyterLab's
    theme; ``background`` fills it (``show`` uses white: a notebook shows SVG output as
    an image, where ``currentColor`` is black).  Each day is a ``<g class="edge-day">``
    with a ``<title>`` (the tooltip) and an invisible full-height rectangle, so an empty
    day has a tooltip too; each model's part of a bar is a ``rect.edge-bar``.
    """
    font = 11
    names = list(data.series)
    colours = _colours(data)
    # Legend: items flow in rows under the plot.
    items, rows, x = [], 1, 0.0
    room = width - 12
    chars = max(8, min(NAME_CHARS, int((room - 28) / CHAR_PX)))
    narrow = width < 480  # the panel: "gpt-4o-mini", the whole id in the legend's tooltip
    for name, colour in zip(names, colours, strict=True):
        label = _cut(name.split("/", 1)[-1] if narrow and name != data.other else name, chars)
        item_w = 14 + len(label) * CHAR_PX + 14
        if x and x + item_w > room:
            rows, x = rows + 1, 0.0
        items.append((name, label, colour, x, rows))
        x += item_w
    legend_h = rows * 15 if names else 0
    top = 20 + (14 if data.note else 0) + 10
    # A long legend (narrow charts: one model a row) makes the chart taller rather than
    # squeezing the bars: they keep at least MIN_PLOT_PX.
    height = max(height, top + MIN_PLOT_PX + 20 + legend_h + 4)
    bottom = height - legend_h - 20
    values = ticks(max(data.totals, default=0.0))
    step = values[1] - values[0] if len(values) > 1 else 1.0
    labels = [tick_label(v, step) for v in values]
    left = 8 + max(len(t) for t in labels) * CHAR_PX
    right = width - 6
    plot_h = max(bottom - top, 10)
    highest = values[-1] or 1.0

    def y_of(amount: float) -> float:
        return bottom - plot_h * (amount / highest)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="edge-spend-chart" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{_x(data.caption)}" font-family="{_x(FONT)}" font-size="{font}" '
           f'fill="currentColor" style="max-width:100%;height:auto">',
           f"<title>{_x(data.caption)}</title>"]
    if background:
        out.append(f'<rect width="{width}" height="{height}" fill="{_x(background)}"/>')
    line = int((width - 4) / CHAR_PX)
    out.append(f'<text x="2" y="14" font-weight="600" font-size="12">'
               f"{_x(_cut(data.title, int(line * 0.92)))}</text>")
    if data.note:
        out.append(f'<text class="edge-chart-note" x="2" y="29" fill="#c05000">'
                   f"{_x(_cut(data.note, line))}</text>")
    for value, label in zip(values, labels, strict=True):
        y = _n(y_of(value))
        out.append(f'<line x1="{_n(left)}" x2="{_n(right)}" y1="{y}" y2="{y}" '
                   f'stroke="currentColor" stroke-opacity="{0.35 if value == 0 else 0.12}"/>')
        out.append(f'<text class="edge-tick" x="{_n(left - 5)}" y="{y}" text-anchor="end" '
                   f'dominant-baseline="middle" fill-opacity="0.75">{_x(label)}</text>')
    count = len(data.dates)
    slot = (right - left) / max(count, 1)
    bar_w = max(1.0, slot * 0.72)
    if not count or not any(data.totals):
        out.append(f'<text x="{_n((left + right) / 2)}" y="{_n((top + bottom) / 2)}" '
                   f'text-anchor="middle" fill-opacity="0.6">No spend to show</text>')
    for i, day in enumerate(data.dates):
        x0 = left + slot * i
        bx = x0 + (slot - bar_w) / 2
        parts = [f'<g class="edge-day" data-day="{_x(day)}"><title>{_x(_breakdown(data, i))}'
                 f'</title><rect class="edge-day-hit" x="{_n(x0)}" y="{_n(top)}" '
                 f'width="{_n(slot)}" height="{_n(plot_h)}" fill="transparent"/>']
        below = 0.0
        for name, colour in zip(names, colours, strict=True):
            amount = data.series[name][i]
            if amount <= 0:
                continue
            y1, y0 = y_of(below), y_of(below + amount)
            parts.append(f'<rect class="edge-bar" x="{_n(bx)}" y="{_n(y0)}" width="{_n(bar_w)}" '
                         f'height="{_n(max(y1 - y0, 1.0))}" fill="{colour}"/>')
            below += amount
        parts.append("</g>")
        out.append("".join(parts))
    every = _every(count, right - left, 6 * CHAR_PX + 8)
    for i in range(0, count, every):
        cx = left + slot * (i + 0.5)
        out.append(f'<text class="edge-day-label" x="{_n(cx)}" y="{_n(bottom + 14)}" '
                   f'text-anchor="middle" fill-opacity="0.75">{_x(_day_label(data.dates[i]))}'
                   "</text>")
    legend_top = bottom + 22
    totals = {name: total_usd([*values]) for name, values in data.series.items()}
    for name, label, colour, lx, row in items:
        ly = legend_top + (row - 1) * 15
        out.append(f'<g class="edge-legend"><title>{_x(name)}: {_x(exact_usd(totals[name]))}'
                   f'</title><rect x="{_n(6 + lx)}" y="{_n(ly)}" width="10" height="10" '
                   f'rx="2" fill="{colour}"/><text x="{_n(6 + lx + 14)}" y="{_n(ly + 9)}">'
                   f"{_x(label)}</text></g>")
    out.append("</svg>")
    return "".join(out)


# -- matplotlib ------------------------------------------------------------------------------------


def _mpl(text: str) -> str:
    """Text for matplotlib: no control characters, and "$" literal (not mathtext)."""
    return strip_controls(text).replace("$", r"\$")


def png(data: SpendByDay, *, width: int = 640, height: int = 240, dpi: int = 100) -> bytes:
    """The chart drawn by matplotlib as PNG bytes (``width``/``height`` in CSS pixels; the
    image has twice as many, for sharp screens).

    matplotlib's object API on the Agg canvas: no pyplot, so no backend is chosen, no
    global figure is registered and nothing is left open; the figure is cleared after.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    try:
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        count = len(data.dates)
        positions = list(range(count))
        below = [0.0] * count
        for (name, values), colour in zip(data.series.items(), _colours(data), strict=True):
            axes.bar(positions, values, 0.72, bottom=below, color=colour,
                     label=_mpl(_cut(name, NAME_CHARS)))
            below = [b + v for b, v in zip(below, values, strict=True)]
        values = ticks(max(data.totals, default=0.0))
        step = values[1] - values[0] if len(values) > 1 else 1.0
        axes.set_yticks(values, [_mpl(tick_label(v, step)) for v in values])
        axes.set_ylim(0, values[-1] or 1.0)
        every = _every(count, width * 0.8, 6 * CHAR_PX + 8)
        shown = positions[::every]
        axes.set_xticks(shown, [_day_label(data.dates[i]) for i in shown])
        axes.set_xlim(-0.6, max(count, 1) - 0.4)
        axes.tick_params(labelsize=8, length=2)
        axes.grid(axis="y", alpha=0.25)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        heading = _mpl(data.title) + (f"\n{_mpl(data.note)}" if data.note else "")
        axes.set_title(heading, loc="left", fontsize=9)
        if not count or not any(data.totals):
            axes.text(0.5, 0.5, "No spend to show", transform=axes.transAxes, ha="center",
                      va="center", alpha=0.6, fontsize=9)
        if data.series:
            axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                        fontsize=7, handlelength=1.0, borderaxespad=0.0)
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=dpi * 2)
        return out.getvalue()
    finally:
        figure.clear()


def use_matplotlib() -> bool:
    """matplotlib draws when it is installed, unless ``EDGE_CHART=svg``."""
    if os.environ.get("EDGE_CHART", "").strip().lower() == "svg":
        return False
    import importlib.util

    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # blocked (sys.modules["matplotlib"] = None) or broken
        return False


def show(data: SpendByDay) -> None:
    """Show the chart in the notebook (PNG by matplotlib, else SVG), with a text line for
    frontends that show no pictures."""
    import base64

    from IPython.display import display

    text = data.caption
    if use_matplotlib():
        image = base64.b64encode(png(data, width=800, height=300)).decode("ascii")
        display({"image/png": image, "text/plain": text},
                metadata={"image/png": {"width": 800, "height": 300}}, raw=True)
    else:
        display({"image/svg+xml": svg(data, background="white"), "text/plain": text}, raw=True)


def last_days(days: int, today: Date | None = None) -> tuple[str, str]:
    """(first, last) ISO days of the ``days`` UTC days that end today: ``from_frame``'s
    ``first``/``last`` for "the last 14 days"."""
    from datetime import datetime, timezone

    end = today or datetime.now(timezone.utc).date()
    return (end - timedelta(days=days - 1)).isoformat(), end.isoformat()


__all__ = ["SpendByDay", "from_frame", "last_days", "png", "show", "svg", "tick_label",
           "ticks", "use_matplotlib"]

