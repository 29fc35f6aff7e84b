"""Timeline charts of dated parameter values, drawn as inline SVG when the page is built.

An SVG made here needs no chart library in the browser, so the site stays a folder of static files
that opens offline, and the chart shows exactly the values of the rule files (drawn from the same
timeline the table beside it lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any

__all__ = ["Segment", "step_chart"]


@dataclass(frozen=True)
class Segment:
    """A value in force over ``[start, until)`` (``until`` None: open end); ``value`` None: no value."""

    start: date
    until: date | None
    value: Any
    pack: str
    cites: tuple[Any, ...] = ()


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
        return None
    return float(v)


def _label(v: Any) -> str:
    if isinstance(v, Decimal) and v == v.to_integral_value():
        return f"{int(v):,}"
    if isinstance(v, int | float | Decimal):
        return f"{v:,}"
    return str(v)


def step_chart(rows: Sequence[tuple[str, Sequence[Segment]]], first: date, last: date) -> str:
    """One step line per jurisdiction (``rows``: label and segments), sharing the time and value axes.

    Returns "" when no value is a number (lists, texts and switches are shown as tables only)."""
    values = [n for _, segs in rows for s in segs if (n := _num(s.value)) is not None]
    if not values or last <= first:
        return ""
    top = max(values) * 1.15 or 1.0
    left, width, lane = 150, 560, 46
    height = lane * len(rows) + 24
    span = (last - first).days

    def x(d: date) -> float:
        return left + width * max(0, min((d - first).days, span)) / span

    parts = [
        f'<svg class="chart" role="img" width="{left + width + 20}" height="{height}" '
        f'viewBox="0 0 {left + width + 20} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for year in range(first.year, last.year + 1):
        d = date(year, 1, 1)
        if first <= d <= last:
            parts.append(
                f'<line x1="{x(d):.1f}" y1="0" x2="{x(d):.1f}" y2="{height - 18}" stroke="#e2e5ec"/>'
                f'<text x="{x(d) + 2:.1f}" y="{height - 4}">{year}</text>'
            )
    for i, (label, segs) in enumerate(rows):
        base = lane * (i + 1) - 6
        parts.append(f'<text x="4" y="{base - 10}">{escape(label)}</text>')
        for s in segs:
            n = _num(s.value)
            end = s.until or last
            if n is None:
                continue
            y = base - (lane - 16) * n / top
            parts.append(
                f'<line x1="{x(s.start):.1f}" y1="{y:.1f}" x2="{x(end):.1f}" y2="{y:.1f}" stroke="#a4262c" '
                f'stroke-width="2"><title>{escape(label)} {s.start} – {s.until or "…"}: '
                f"{_label(s.value)}</title></line>"
                f'<text x="{x(s.start) + 2:.1f}" y="{y - 3:.1f}">{_label(s.value)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
