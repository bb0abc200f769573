"""Server-rendered SVG line charts for the results screen.

No chart library and no script: axes and labels use ``currentColor``, so the chart follows
the admin's light or dark theme, and every series also has a text legend.
"""

from django.utils.html import escape

# Distinguishable on light and dark backgrounds, and for common colour blindness.
PALETTE = ["#3c8dbc", "#e0861a", "#2ca25f", "#c0392b", "#8e44ad", "#16a085"]


def line_chart(series, *, value, title, width=640, height=220, percent=False):
    """An SVG of ``series`` ([{"key", "points": [{"day", value: number}]}]) over days."""
    days = sorted({point["day"] for line in series for point in line["points"]})
    values = [point[value] for line in series for point in line["points"]]
    left, right, top, bottom = 56, 12, 24, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(values, default=0) or 1

    def x(day):
        return left + (days.index(day) / (len(days) - 1) * plot_w if len(days) > 1 else plot_w / 2)

    def y(number):
        return top + plot_h - number / peak * plot_h

    def label(number):
        return f"{number:.1%}" if percent else f"{number:,.0f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="wexp-chart">',
        f"<title>{escape(title)}</title>",
        '<g stroke="currentColor" stroke-opacity="0.35" font-size="11" fill="currentColor">',
    ]
    for fraction in (0, 0.5, 1):
        level = top + plot_h - fraction * plot_h
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{level:.1f}" y2="{level:.1f}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{level + 4:.1f}" text-anchor="end" stroke="none">'
            f"{label(peak * fraction)}</text>"
        )
    if days:
        for day in (days[0], days[-1]):
            parts.append(
                f'<text x="{x(day):.1f}" y="{height - 8}" text-anchor="middle" stroke="none">'
                f"{escape(day)}</text>"
            )
    parts.append("</g>")
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{x(p['day']):.1f},{y(p[value]):.1f}" for p in line["points"])
        if points:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                f"<title>{escape(line['key'])}</title></polyline>"
            )
        # Markers keep a series visible when it has a single day.
        parts.extend(
            f'<circle cx="{x(p["day"]):.1f}" cy="{y(p[value]):.1f}" r="3" fill="{colour}"/>'
            for p in line["points"]
        )
    parts.append("</svg>")
    return "".join(parts)


def legend(series):
    """[(key, colour)] in chart order, for the text legend beside the chart."""
    return [(line["key"], PALETTE[index % len(PALETTE)]) for index, line in enumerate(series)]
