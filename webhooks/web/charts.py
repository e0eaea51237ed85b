"""Charts as inline SVG drawn on the server: no JavaScript library, nothing for the CSP to allow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#2f6f4f", "#c0392b", "#d68910", "#5d6d7e", "#2874a6", "#7d3c98", "#117a65")
WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 220, 40, 42, 12


def stacked_bars(
    days: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    colors: Mapping[str, str] | None = None,
) -> Markup:
    """One bar per day, stacked by series (e.g. outcomes), with a legend; accessible title."""
    colors = dict(colors or {})
    for position, name in enumerate(series):
        colors.setdefault(name, PALETTE[position % len(PALETTE)])
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    top = max(totals, default=0) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(days), 1)
    bar = max(min(step * 0.7, 48), 2)
    parts = [_frame(title, top)]
    for i, day in enumerate(days):
        x = PAD_LEFT + i * step + (step - bar) / 2
        y = PAD_TOP + plot_h
        for name, values in series.items():
            height = plot_h * values[i] / top
            if height <= 0:
                continue
            y -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colors[name]}"><title>{escape(day)}: {values[i]} {escape(name)}'
                "</title></rect>"
            )
        if len(days) <= 14 or i % max(len(days) // 10, 1) == 0:
            parts.append(_xlabel(x + bar / 2, day[5:] if len(day) == 10 else day))
    parts.append(_legend(list(series), colors))
    parts.append("</svg>")
    return Markup("".join(parts))  # every text above is escaped


def bars_with_rate(
    days: Sequence[str],
    counts: Sequence[int],
    rates: Sequence[float | None],
    *,
    title: str,
    count_label: str,
    rate_label: str,
) -> Markup:
    """Bars of a count per day and a line of a 0..1 rate on the same days."""
    top = max(counts, default=0) or 1
    # room on the right for the rate axis label
    plot_w, plot_h = WIDTH - PAD_LEFT - 44, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(days), 1)
    bar = max(min(step * 0.6, 40), 2)
    parts = [_frame(title, top)]
    points = []
    for i, day in enumerate(days):
        x = PAD_LEFT + i * step + (step - bar) / 2
        height = plot_h * counts[i] / top
        parts.append(
            f'<rect x="{x:.1f}" y="{PAD_TOP + plot_h - height:.1f}" width="{bar:.1f}" '
            f'height="{height:.1f}" fill="#aab7b8"><title>{escape(day)}: {counts[i]} '
            f"{escape(count_label)}</title></rect>"
        )
        if rates[i] is not None:
            cy = PAD_TOP + plot_h * (1 - rates[i])
            points.append((x + bar / 2, cy, day, rates[i]))
        if len(days) <= 14 or i % max(len(days) // 10, 1) == 0:
            parts.append(_xlabel(x + bar / 2, day[5:] if len(day) == 10 else day))
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#2f6f4f" stroke-width="2"/>')
        for x, y, day, rate in points:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#2f6f4f"><title>'
                f"{escape(day)}: {rate:.0%} {escape(rate_label)}</title></circle>"
            )
    parts.append(
        f'<text x="{WIDTH - 4}" y="{PAD_TOP + 4}" text-anchor="end" class="axis">100%</text>'
        f'<text x="{WIDTH - 4}" y="{PAD_TOP + plot_h}" text-anchor="end" class="axis">0%</text>'
    )
    parts.append(
        _legend([count_label, rate_label], {count_label: "#aab7b8", rate_label: "#2f6f4f"})
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # every text above is escaped


def _frame(title: str, top: int) -> str:
    base = PAD_TOP + HEIGHT - PAD_BOTTOM - PAD_TOP
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - 8}" y2="{base}" class="grid"/>'
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{WIDTH - 8}" y2="{PAD_TOP}" class="grid"/>'
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 4}" text-anchor="end" class="axis">{top}</text>'
        f'<text x="{PAD_LEFT - 6}" y="{base}" text-anchor="end" class="axis">0</text>'
    )


def _xlabel(x: float, text: str) -> str:
    y = HEIGHT - PAD_BOTTOM + 14
    return f'<text x="{x:.1f}" y="{y}" text-anchor="middle" class="axis">{escape(text)}</text>'


def _legend(names: Sequence[str], colors: Mapping[str, str]) -> str:
    parts, x = [], PAD_LEFT
    y = HEIGHT - 10
    for name in names:
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colors[name]}"/>'
            f'<text x="{x + 14}" y="{y}" class="legend">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return "".join(parts)
