"""Charts as inline SVG, drawn here (no script, no library, nothing fetched).

Coordinates are written with one decimal so that the same figures always give
the same bytes. Each mark carries a ``<title>``: browsers show it on hover.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from monitor._escape import escape

__all__ = ["TIER_COLOURS", "hbars", "lines", "meter"]

TIER_COLOURS = {"normal": "#3f8f5a", "watch": "#e0a526", "warning": "#e0692a", "severe": "#b3261e"}
_AXIS = "#5f6b7a"
_GRID = "#e3e7ec"
_FONT = 'font-family="inherit" font-size="11"'


def _f(x: float) -> str:
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _nice_step(top: float, ticks: int = 5) -> float:
    if top <= 0:
        return 1.0
    raw = top / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return max(m * mag, 1.0)
    return 10 * mag


def hbars(rows: Sequence[tuple[str, float, str, str]], *, title: str, width: int = 520) -> str:
    """Horizontal bars: (label, value, colour, value text)."""
    bar_h, gap, left, right = 18, 8, 96, 120
    height = len(rows) * (bar_h + gap) + gap
    top = max((r[1] for r in rows), default=0) or 1.0
    pw = width - left - right
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}" class="chart">',
           f"<title>{escape(title)}</title>"]
    for i, (label, value, colour, text) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = pw * value / top
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end" fill="#1f2933" {_FONT}>{escape(label)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{_f(max(w, 0.5))}" height="{bar_h}" rx="2" fill="{colour}">'
                   f"<title>{escape(label)}: {escape(text)}</title></rect>")
        out.append(f'<text x="{_f(left + w + 6)}" y="{y + 13}" fill="{_AXIS}" {_FONT}>{escape(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def meter(fraction: float, colour: str, width: int = 80) -> str:
    """A small inline bar for a table cell (0..1)."""
    w = max(0.0, min(1.0, fraction)) * width
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="8" viewBox="0 0 {width} 8" '
            f'class="meter" aria-hidden="true"><rect width="{width}" height="8" rx="2" fill="{_GRID}"/>'
            f'<rect width="{_f(w)}" height="8" rx="2" fill="{colour}"/></svg>')


def lines(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    title: str,
    fmt: Callable[[float], str],
    axis_note: str,
    width: int = 520,
    height: int = 220,
) -> str:
    """A line per series over the labels (months). The value axis spans the data with a margin, not from
    zero (a flat-looking 2,457 to 2,523 shows its change); its lowest value is labelled as the baseline and
    ``axis_note`` says the axis does not start at zero."""
    left, right, top, bottom = 64, 14, 30, 40
    pw, ph = width - left - right, height - top - bottom
    values = [v for _, _, vs in series for v in vs]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.15 or (abs(hi) * 0.05 or 1.0)
    lo, hi = lo - pad, hi + pad
    if lo < 0 <= min(values, default=0):
        lo = 0.0
    n = max(len(labels), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}" class="chart">',
           f"<title>{escape(title)}</title>"]

    def y(v: float) -> float:
        return top + ph - ph * (v - lo) / (hi - lo)

    def x(i: int) -> float:
        return left + (pw * (i + 0.5) / n)

    for k in range(5):
        v = lo + (hi - lo) * k / 4
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(v))}" y2="{_f(y(v))}" stroke="{_GRID}"/>')
        out.append(f'<text x="{left - 6}" y="{_f(y(v) + 4)}" text-anchor="end" fill="{_AXIS}" {_FONT}>'
                   f"{escape(fmt(v))}</text>")
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{_AXIS}"/>')
    if lo > 0:  # the baseline is not zero: say so on the axis
        out.append(f'<text x="{left}" y="{top + ph + 30}" fill="{_AXIS}" {_FONT}>{escape(axis_note)}</text>')
    every = max(1, math.ceil(n / 6))
    for i, label in enumerate(labels):
        if (n - 1 - i) % every == 0:  # counted from the last, which is always labelled
            out.append(f'<text x="{_f(x(i))}" y="{top + ph + 15}" text-anchor="middle" fill="{_AXIS}" {_FONT}>'
                       f"{escape(label)}</text>")
    for name, colour, vs in series:
        pts = " ".join(f"{_f(x(i))},{_f(y(v))}" for i, v in enumerate(vs))
        if len(vs) > 1:
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for i, v in enumerate(vs):
            out.append(f'<circle cx="{_f(x(i))}" cy="{_f(y(v))}" r="3" fill="{colour}">'
                       f"<title>{escape(labels[i])} {escape(name)}: {escape(fmt(v))}</title></circle>")
    lx = left
    for name, colour, _ in series:
        out.append(f'<rect x="{lx}" y="8" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{lx + 14}" y="17" fill="#1f2933" {_FONT}>{escape(name)}</text>')
        lx += 24 + 7 * len(name.encode("utf-8"))
    out.append("</svg>")
    return "".join(out)
