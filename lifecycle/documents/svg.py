"""A grouped bar chart as inline SVG markup, built on the server.

The CSP allows no script and no inline style, so the chart is plain SVG elements with
presentation attributes (fill, stroke, font-size): it needs no library, loads nothing from a CDN,
and prints as it shows.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

FONT = "'Noto Sans CJK JP', 'Hiragino Sans', 'Yu Gothic', 'Meiryo', sans-serif"


def nice_ceiling(value: int) -> int:
    """The axis maximum: 1, 2 or 5 × 10ⁿ at or above value (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - unreachable


def _fmt(n: float) -> str:
    return f"{n:.1f}".rstrip("0").rstrip(".")


def bar_chart(categories: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]], *,
              title: str, width: int = 880, height: int = 300) -> Markup:
    """`series` is (legend, colour, one value per category); bars of a category stand side by side."""
    left, right, top, bottom = 52, 12, 34, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((max(values, default=0) for _, _, values in series), default=0)
    axis_max = nice_ceiling(int(peak))
    ticks = 5 if axis_max % 5 == 0 and axis_max >= 5 else (axis_max if axis_max <= 4 else 4)
    ticks = max(ticks, 1)
    slot = plot_w / max(len(categories), 1)
    bar = max(2.0, slot * 0.8 / max(len(series), 1))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="chart-title" font-family="{escape(FONT)}">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for i in range(ticks + 1):
        value = axis_max * i / ticks
        y = top + plot_h - plot_h * i / ticks
        parts.append(f'<line x1="{left}" y1="{_fmt(y)}" x2="{width - right}" y2="{_fmt(y)}" '
                     f'stroke="{"#888888" if i == 0 else "#e2e2e2"}" stroke-width="1"/>')
        label = f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
        parts.append(f'<text x="{left - 6}" y="{_fmt(y + 4)}" font-size="11" text-anchor="end" '
                     f'fill="#444444">{label}</text>')
    for c, name in enumerate(categories):
        x0 = left + slot * c + slot * 0.1
        for s, (legend, colour, values) in enumerate(series):
            value = values[c] if c < len(values) else 0
            h = plot_h * value / axis_max if axis_max else 0
            x = x0 + bar * s
            y = top + plot_h - h
            parts.append(f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(bar - 1)}" height="{_fmt(h)}" '
                         f'fill="{escape(colour)}"><title>{escape(name)} {escape(legend)}: '
                         f'{value:,}件</title></rect>')
        parts.append(f'<text x="{_fmt(left + slot * c + slot / 2)}" y="{height - bottom + 16}" '
                     f'font-size="11" text-anchor="middle" fill="#333333">{escape(name)}</text>')
    x = left
    for legend, colour, _ in series:
        parts.append(f'<rect x="{x}" y="10" width="12" height="12" fill="{escape(colour)}"/>')
        parts.append(f'<text x="{x + 16}" y="20" font-size="12" fill="#333333">{escape(legend)}</text>')
        x += 28 + 13 * len(legend)
    parts.append(f'<text x="{left}" y="{height - 6}" font-size="10" fill="#666666">単位: 件</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
