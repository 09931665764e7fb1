"""Charts as inline SVG strings: no plotting library, no JavaScript, no network; readable in
any browser and printable. Each chart is one `<svg class="chart">` with a `<title>` (what a
screen reader announces) and `<title>` tooltips on its marks.

>>> from datetime import date
>>> svg = line_chart([Series("cases", [(date(2020, 3, 1), 1.0), (date(2020, 3, 9), 4.0)])],
...                  title="Cases")
>>> svg.startswith('<svg class="chart"') and "<path" in svg
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif"
INK, MUTED, GRID = "#222", "#666", "#e3e3e3"
BLUE, RED, PURPLE, GREEN, ORANGE, GREY = ("#2b6cb0", "#b83232", "#6b46c1", "#2f855a",
                                          "#dd6b20", "#a0aec0")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[date, float | None]]
    color: str = BLUE
    width: float = 2.0
    opacity: float = 1.0


@dataclass(frozen=True)
class Panel:
    """One small multiple: a label, its series, and the value to print beside the label."""

    label: str
    series: Sequence[Series]
    note: str = ""


def compact(v: float | None, digits: int = 3) -> str:
    """1234 -> '1.23k'; 2_500_000 -> '2.5M'; None -> '–'.

    >>> [compact(x) for x in (0, 7, 12.5, 999, 1234, 56789, 2_500_000, None)]
    ['0', '7', '12.5', '999', '1.23k', '56.8k', '2.5M', '–']
    """
    if v is None:
        return "–"
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{_sig(v / div, digits)}{suffix}"
    return _sig(v, digits)


def _short(text: str, n: int) -> str:
    """`text` cut to n characters, with an ellipsis when cut (the full text is in a tooltip)."""
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _sig(v: float, digits: int) -> str:
    if v == int(v):
        return str(int(v))
    return f"{v:.{digits}g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi].

    >>> nice_ticks(0, 87)
    [0, 20, 40, 60, 80, 100]
    >>> nice_ticks(-3, 12, 4)
    [-5, 0, 5, 10, 15]
    """
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t < hi + step * 0.999:
        ticks.append(int(t) if float(t).is_integer() else round(t, 10))
        t += step
        if len(ticks) > 50:
            break
    return ticks


def date_ticks(lo: date, hi: date) -> list[tuple[date, str]]:
    """Tick dates and labels: weeks for a few weeks, months for up to two years, quarters after.

    >>> [label for _, label in date_ticks(date(2020, 3, 15), date(2020, 4, 5))]
    ['Mar 16', 'Mar 23', 'Mar 30']
    >>> [label for _, label in date_ticks(date(2020, 1, 22), date(2020, 6, 30))]
    ['Feb|2020', 'Mar', 'Apr', 'May', 'Jun']

    A year goes on a second line (after `|`) under the first tick and each January.
    """
    span = (hi - lo).days
    if span <= 70:
        step = 7 if span > 14 else 1
        d = lo + timedelta((7 - lo.weekday()) % 7) if step == 7 else lo
        out = []
        while d <= hi:
            out.append((d, f"{d:%b} {d.day}"))
            d += timedelta(step)
        return out
    months = 1 if span <= 740 else 3
    out, y, m = [], lo.year, lo.month
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, m - 12
        d = date(y, m, 1)
        if d > hi:
            break
        if (m - 1) % months == 0:
            first = not out or m == 1
            out.append((d, f"{d:%b}|{d.year}" if first else f"{d:%b}"))
    return out


class _Frame:
    """Scales from data to the pixels of one plot area."""

    def __init__(self, x0: float, y0: float, w: float, h: float, days: tuple[date, date],
                 ys: tuple[float, float]) -> None:
        self.x0, self.y0, self.w, self.h = x0, y0, w, h
        self.d0, span = days[0], max((days[1] - days[0]).days, 1)
        self.span = span
        self.lo, self.hi = ys if ys[1] > ys[0] else (ys[0], ys[0] + 1)

    def x(self, d: date) -> float:
        return self.x0 + (d - self.d0).days / self.span * self.w

    def y(self, v: float) -> float:
        return self.y0 + self.h - (v - self.lo) / (self.hi - self.lo) * self.h


def _paths(frame: _Frame, s: Series, tooltip: bool = True) -> list[str]:
    """A series as path pieces (a missing value breaks the line), a dot for a lone point."""
    out, run = [], []
    pts = sorted(s.points, key=lambda p: p[0])

    def flush() -> None:
        if len(run) == 1:
            out.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="{s.width:.1f}" '
                       f'fill="{s.color}"/>')
        elif run:
            d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in run)
            out.append(f'<path d="{d}" fill="none" stroke="{s.color}" stroke-width="{s.width}" '
                       f'stroke-linejoin="round" stroke-opacity="{s.opacity}"/>')
        run.clear()

    for d, v in pts:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            flush()
        else:
            run.append((frame.x(d), frame.y(v)))
    flush()
    if tooltip and pts:
        last = next(((d, v) for d, v in reversed(pts) if v is not None), None)
        if last:
            out.append(f'<circle cx="{frame.x(last[0]):.1f}" cy="{frame.y(last[1]):.1f}" r="3" '
                       f'fill="{s.color}"><title>{escape(s.name)}, {last[0]:%b %d %Y}: '
                       f'{compact(last[1])}</title></circle>')
    return out


def _extent(series: Sequence[Series]) -> tuple[tuple[date, date], tuple[float, float]] | None:
    days = [d for s in series for d, v in s.points if v is not None]
    vals = [v for s in series for _, v in s.points if v is not None]
    if not days:
        return None
    return (min(days), max(days)), (min(0.0, min(vals)), max(vals))


def _svg(width: int, height: int, title: str, body: list[str], desc: str = "") -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
            f'{height}" width="{width}" height="{height}" role="img" style="{FONT};'
            f'max-width:100%;height:auto"><title>{escape(title)}</title>'
            + (f"<desc>{escape(desc)}</desc>" if desc else "") + "".join(body) + "</svg>")


def _empty(width: int, height: int, title: str) -> str:
    return _svg(width, height, title, [
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}" '
        f'font-size="13">{escape(title)}: no data</text>'])


def line_chart(series: Sequence[Series], *, title: str, y_label: str = "", width: int = 720,
               height: int = 280, desc: str = "") -> str:
    """Lines over dates, sharing one y axis from zero; a legend when there are several."""
    ext = _extent(series)
    if ext is None:
        return _empty(width, height, title)
    days, (lo, hi) = ext
    ticks = nice_ticks(lo, hi)
    left, top, bottom = 58, 34, 40
    f = _Frame(left, top, width - left - 16, height - top - bottom, days, (ticks[0], ticks[-1]))
    body = [f'<text x="{left}" y="18" font-size="14" font-weight="600" fill="{INK}">'
            f'{escape(title)}</text>']
    for t in ticks:
        y = f.y(t)
        body.append(f'<line x1="{left}" x2="{left + f.w}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="{GRID}"/><text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
                    f'text-anchor="end" fill="{MUTED}">{compact(t)}</text>')
    for d, label in date_ticks(*days):
        x = f.x(d)
        month, _, year = label.partition("|")
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + f.h}" y2="{top + f.h + 4}" '
                    f'stroke="{MUTED}"/><text x="{x:.1f}" y="{top + f.h + 16}" font-size="11" '
                    f'text-anchor="middle" fill="{MUTED}">{escape(month)}</text>')
        if year:
            body.append(f'<text x="{x:.1f}" y="{top + f.h + 29}" font-size="10" '
                        f'text-anchor="middle" fill="{MUTED}">{year}</text>')
    if y_label:
        body.append(f'<text transform="translate(13,{top + f.h / 2}) rotate(-90)" '
                    f'font-size="11" text-anchor="middle" fill="{MUTED}">{escape(y_label)}</text>')
    for s in series:
        body.extend(_paths(f, s))
    if len(series) > 1:
        x = width - 16
        for s in reversed(series):
            w = 7 * len(s.name) + 22
            x -= w
            body.append(f'<rect x="{x}" y="9" width="14" height="3" fill="{s.color}" '
                        f'fill-opacity="{s.opacity}"/><text x="{x + 18}" y="14" font-size="11" '
                        f'fill="{INK}">{escape(s.name)}</text>')
    return _svg(width, height, title, body, desc)


def small_multiples(panels: Sequence[Panel], *, title: str, columns: int = 6,
                    panel_width: int = 150, panel_height: int = 84, desc: str = "") -> str:
    """A grid of small line charts on one shared scale, in the order given (rank them first)."""
    all_series = [s for p in panels for s in p.series]
    ext = _extent(all_series)
    rows = max(1, math.ceil(len(panels) / columns))
    width, height = columns * panel_width, 30 + rows * panel_height
    if ext is None:
        return _empty(width, 120, title)
    days, (lo, hi) = ext
    body = [f'<text x="4" y="18" font-size="14" font-weight="600" fill="{INK}">'
            f'{escape(title)}</text>',
            f'<text x="{width - 4}" y="18" font-size="11" text-anchor="end" fill="{MUTED}">'
            f'shared scale 0–{compact(hi)}; {days[0]:%b %d} to {days[1]:%b %d %Y}</text>']
    for i, p in enumerate(panels):
        px, py = (i % columns) * panel_width, 30 + (i // columns) * panel_height
        f = _Frame(px + 6, py + 20, panel_width - 14, panel_height - 28, days, (lo, hi))
        body.append(f'<g><title>{escape(p.label)}{": " + escape(p.note) if p.note else ""}'
                    f'</title><rect x="{px + 2}" y="{py + 2}" width="{panel_width - 4}" '
                    f'height="{panel_height - 4}" fill="#fafafa" stroke="{GRID}"/>'
                    f'<text x="{px + 8}" y="{py + 15}" font-size="11" font-weight="600" '
                    f'fill="{INK}">{escape(_short(p.label, 17))}</text>'
                    f'<text x="{px + panel_width - 8}"'
                    f' y="{py + 15}" font-size="10" text-anchor="end" fill="{MUTED}">'
                    f'{escape(p.note)}</text><line x1="{f.x0}" x2="{f.x0 + f.w}" '
                    f'y1="{f.y(0):.1f}" y2="{f.y(0):.1f}" stroke="{GRID}"/>')
        for s in p.series:
            body.extend(_paths(f, s, tooltip=False))
        body.append("</g>")
    return _svg(width, height, title, body, desc)


def bar_chart(items: Sequence[tuple[str, float | None]], *, title: str, unit: str = "",
              color: str = BLUE, width: int = 720, bar: int = 16, desc: str = "",
              value_format: str = "{:,.1f}") -> str:
    """Horizontal bars in the order given, with each value printed at the bar's end."""
    shown = [(k, v) for k, v in items if v is not None]
    if not shown:
        return _empty(width, 120, title)
    left, top, right = 150, 34, 70
    height = top + len(shown) * (bar + 4) + 24
    hi = max(max(v for _, v in shown), 0)
    ticks = nice_ticks(0, hi, 4)
    scale = (width - left - right) / (ticks[-1] or 1)
    body = [f'<text x="4" y="18" font-size="14" font-weight="600" fill="{INK}">'
            f'{escape(title)}</text>']
    for t in ticks:
        x = left + t * scale
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - 20}" '
                    f'stroke="{GRID}"/><text x="{x:.1f}" y="{height - 6}" font-size="10" '
                    f'text-anchor="middle" fill="{MUTED}">{compact(t)}</text>')
    for i, (label, v) in enumerate(shown):
        y = top + i * (bar + 4)
        w = max(v, 0) * scale
        text = value_format.format(v) + unit
        body.append(f'<text x="{left - 6}" y="{y + bar - 4}" font-size="11" text-anchor="end" '
                    f'fill="{INK}">{escape(_short(label, 24))}</text><rect x="{left}" y="{y}" '
                    f'width="{w:.1f}" height="{bar}" fill="{color}"><title>{escape(label)}: '
                    f'{escape(text)}</title></rect><text x="{left + w + 4:.1f}" '
                    f'y="{y + bar - 4}" font-size="10" fill="{MUTED}">{escape(text)}</text>')
    return _svg(width, height, title, body, desc)
