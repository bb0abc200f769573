"""Server-rendered SVG line charts for the results screen.

No chart library and no script: axes and labels use ``currentColor``, so the chart follows
the admin's light or dark theme, and every series also has a text legend.
"""

import math

from django.utils.html import escape

# Distinguishable on light and dark backgrounds, and for common colour blindness.
PALETTE = ["#3c8dbc", "#e0861a", "#2ca25f", "#c0392b", "#8e44ad", "#16a085"]


def line_chart(series, *, value, title, width=960, height=300, percent=False, band=None):
    """An SVG of ``series`` ([{"key", "points": [{"day", value: number}]}]) over days.

    ``band`` names a (low, high) pair of point keys drawn as a shaded interval behind each
    line, e.g. the cumulative conversion rate's. The value axis runs from 0 to a round
    number, in round steps, so its labels never round half-steps.
    """
    days = sorted({point["day"] for line in series for point in line["points"]})
    values = [point[value] for line in series for point in line["points"]]
    if band:
        values += [point[band[1]] for line in series for point in line["points"]
                   if point.get(band[1]) is not None]
    left, right, top, bottom = 64, 24, 16, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    step, steps = _nice_steps(max(values, default=0), percent)
    peak = step * steps

    def x(day):
        return left + (days.index(day) / (len(days) - 1) * plot_w if len(days) > 1 else plot_w / 2)

    def y(number):
        return top + plot_h - min(number, peak) / peak * plot_h

    def label(number):
        if percent:
            return f"{number:.{0 if step >= 0.01 else 1}%}"
        return f"{number:,.0f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="wexp-chart">',
        f"<title>{escape(title)}</title>",
        '<g stroke="currentColor" stroke-opacity="0.25" font-size="14" fill="currentColor">',
    ]
    for index in range(steps + 1):
        level = y(step * index)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{level:.1f}" y2="{level:.1f}"/>')
        parts.append(
            f'<text x="{left - 8}" y="{level + 5:.1f}" text-anchor="end" stroke="none">'
            f"{label(step * index)}</text>"
        )
    if days:
        # The first and last days, anchored inside the chart so that neither is cut off.
        for day, anchor in ((days[0], "start"), (days[-1], "end")) if len(days) > 1 else (
                (days[0], "middle"),):
            parts.append(
                f'<text x="{x(day):.1f}" y="{height - 8}" text-anchor="{anchor}" stroke="none">'
                f"{escape(day)}</text>"
            )
    parts.append("</g>")
    if len(days) == 1:
        # One day is no line: one bar per series, its interval as a whisker, its value on top.
        parts.extend(_single_day_bars(series, value, band, x(days[0]), y, label, plot_w))
        parts.append("</svg>")
        return "".join(parts)
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        banded = [p for p in line["points"] if band and p.get(band[0]) is not None]
        if len(banded) > 1:
            outline = [f"{x(p['day']):.1f},{y(p[band[1]]):.1f}" for p in banded]
            outline += [f"{x(p['day']):.1f},{y(p[band[0]]):.1f}" for p in reversed(banded)]
            parts.append(f'<polygon points="{" ".join(outline)}" fill="{colour}" '
                         f'fill-opacity="0.12" stroke="none"/>')
        points = " ".join(f"{x(p['day']):.1f},{y(p[value]):.1f}" for p in line["points"])
        if points:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{points}">'
                f"<title>{escape(line['key'])}</title></polyline>"
            )
        # Markers keep a series visible when it has a single day.
        parts.extend(
            f'<circle cx="{x(p["day"]):.1f}" cy="{y(p[value]):.1f}" r="3.5" fill="{colour}"/>'
            for p in line["points"]
        )
    parts.append("</svg>")
    return "".join(parts)


def _single_day_bars(series, value, band, centre, y, label, plot_w):
    bar = min(72.0, plot_w / (2 * max(len(series), 1)))
    start = centre - bar * len(series) / 2
    bottom = y(0)
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        for point in line["points"]:
            left, top = start + index * bar + bar * 0.1, y(point[value])
            yield (f'<rect x="{left:.1f}" y="{top:.1f}" width="{bar * 0.8:.1f}" '
                   f'height="{bottom - top:.1f}" fill="{colour}" fill-opacity="0.8">'
                   f"<title>{escape(line['key'])}: {label(point[value])}</title></rect>")
            middle, label_at = left + bar * 0.4, top
            if band and point.get(band[0]) is not None and point.get(band[1]) is not None:
                label_at = min(top, y(point[band[1]]))
                yield (f'<line x1="{middle:.1f}" x2="{middle:.1f}" y1="{y(point[band[0]]):.1f}" '
                       f'y2="{label_at:.1f}" stroke="currentColor" stroke-width="2"/>')
            yield (f'<text x="{middle:.1f}" y="{label_at - 6:.1f}" text-anchor="middle" '
                   f'font-size="13" fill="currentColor">{escape(line["key"])}: '
                   f"{label(point[value])}</text>")


def _nice_steps(peak, percent):
    """(step, number of steps) of a value axis from 0 past ``peak``: a step of 1, 2 or 5
    times a power of ten, about four of them (whole numbers for counts)."""
    if peak <= 0:
        return (0.01 if percent else 1), 4
    raw = peak / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if not percent:
        step = max(1, round(step))
    return step, max(1, math.ceil(peak / step - 1e-9))


def grouped_bars(groups, *, title, percent=True, width=960, height=280):
    """An SVG of vertical bars in groups: ``groups`` is [{"label", "bars": [{"key",
    "value"}]}], every group's bars in the same series order (the variants'), coloured as
    ``line_chart`` colours its series. For UTM sources (each source's conversion rate per
    variant) and the funnel (the share of each variant's visitors reaching each step)."""
    left, right, top, bottom = 64, 24, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [bar["value"] for group in groups for bar in group["bars"]
              if bar["value"] is not None]
    step, steps = _nice_steps(max(values, default=0), percent)
    peak = step * steps

    def y(number):
        return top + plot_h - min(number, peak) / peak * plot_h

    def label(number):
        if percent:
            return f"{number:.{0 if step >= 0.01 else 1}%}"
        return f"{number:,.0f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="wexp-chart wexp-bar-chart">',
        f"<title>{escape(title)}</title>",
        '<g stroke="currentColor" stroke-opacity="0.25" font-size="14" fill="currentColor">',
    ]
    for index in range(steps + 1):
        level = y(step * index)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{level:.1f}" y2="{level:.1f}"/>')
        parts.append(f'<text x="{left - 8}" y="{level + 5:.1f}" text-anchor="end" '
                     f'stroke="none">{label(step * index)}</text>')
    group_w = plot_w / max(len(groups), 1)
    for number, group in enumerate(groups):
        centre = left + group_w * (number + 0.5)
        # As many characters as the group's width holds (about 8 units each at 14).
        fits = max(3, min(18, int(group_w // 8.5)))
        parts.append(f'<text x="{centre:.1f}" y="{height - 10}" text-anchor="middle" '
                     f'stroke="none">{escape(_shorten(group["label"], fits))}'
                     f"<title>{escape(group['label'])}</title></text>")
    parts.append("</g>")
    for number, group in enumerate(groups):
        bar = min(56.0, group_w * 0.8 / max(len(group["bars"]), 1))
        start = left + group_w * (number + 0.5) - bar * len(group["bars"]) / 2
        for index, item in enumerate(group["bars"]):
            if item["value"] is None:
                continue
            colour = PALETTE[index % len(PALETTE)]
            top_y = y(item["value"])
            parts.append(
                f'<rect x="{start + index * bar + bar * 0.1:.1f}" y="{top_y:.1f}" '
                f'width="{bar * 0.8:.1f}" height="{y(0) - top_y:.1f}" fill="{colour}">'
                f"<title>{escape(group['label'])}, {escape(item['key'])}: "
                f"{label(item['value'])}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _shorten(text, length=18):
    return text if len(text) <= length else text[: length - 1] + "…"


def legend(series):
    """[(key, colour)] in chart order, for the text legend beside the chart."""
    return [(line["key"], PALETTE[index % len(PALETTE)]) for index, line in enumerate(series)]


# A phone's chart, in SVG units: at a phone's width its text stays at about its own size.
NARROW_WIDTH = 400
COMPACT_BELOW = 480
# Lift chart colours by what the verdict says of a variant.
WINNER_COLOUR, LOSER_COLOUR, UNDECIDED_COLOUR = "#2ca25f", "#c0392b", "#7f8c8d"
# The lift axis ends at +1,000 % (ratio 11) and its mirror, -91 % (ratio 1/11).
_LARGEST_RATIO = 11.0
_SMALLEST_HALF_RANGE = 0.2


def lift_chart(variants, *, winner=None, losers=(), title, width=640, row_height=34):
    """An SVG with one row per challenger: its lift interval as a bar against a zero line,
    the estimate marked. The axis is the log of the rate ratio, where the intervals are
    symmetric (+100 % and -50 % are as far from 0); ends beyond +1,000 % are drawn there.
    ``variants`` are the results' (control first); the winner is green, losers red.
    Below ``COMPACT_BELOW`` units wide (a phone's chart) each row's key and figures go
    above its bar instead of beside it, so the bar keeps the width."""
    rows = [v for v in variants[1:] if v.get("lift") is not None]
    compact = width < COMPACT_BELOW
    if compact:
        left, right, top, bottom, row_height = 16, 16, 8, 26, max(row_height, 50)
    else:
        left, right, top, bottom = 90, 200, 12, 26
    height = top + bottom + row_height * max(len(rows), 1)
    plot_w = width - left - right

    def ratio_log(lift):
        return math.log(min(max(1 + lift, 1 / _LARGEST_RATIO), _LARGEST_RATIO))

    bounds = [abs(ratio_log(v[name])) for v in rows
              for name in ("lift", "lift_ci_low", "lift_ci_high") if v.get(name) is not None]
    half_range = max([_SMALLEST_HALF_RANGE, *bounds]) * 1.05

    def x(lift):
        return left + (ratio_log(lift) + half_range) / (2 * half_range) * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="wexp-chart wexp-lift-chart">',
        f"<title>{escape(title)}</title>",
        '<g stroke="currentColor" stroke-opacity="0.35" font-size="12" fill="currentColor">',
        f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top - 4}" y2="{height - bottom + 4}" '
        f'stroke-opacity="0.8"/>',
    ]
    for tick in _lift_ticks(half_range):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 6}" text-anchor="middle" stroke="none">'
            f"{tick:+.0%}</text>"
        )
    parts.append("</g>")
    for index, variant in enumerate(rows):
        middle = top + row_height * index + (row_height * 0.68 if compact else row_height / 2)
        colour = (WINNER_COLOUR if variant["key"] == winner
                  else LOSER_COLOUR if variant["key"] in losers else UNDECIDED_COLOUR)
        low, high = variant.get("lift_ci_low"), variant.get("lift_ci_high")
        summary = f"{variant['lift']:+.1%}"
        if low is not None and high is not None:
            summary += f" [{_bound(low)}, {_bound(high)}]"
        if compact:
            parts.append(
                f'<text x="{left}" y="{middle - 14:.1f}" font-size="13" fill="currentColor">'
                f'<tspan font-weight="600">{escape(variant["key"])}</tspan> '
                f"{escape(summary)}</text>"
            )
        else:
            parts.append(
                f'<text x="{left - 10}" y="{middle + 4:.1f}" text-anchor="end" font-size="13" '
                f'fill="currentColor">{escape(variant["key"])}</text>'
            )
        if low is not None and high is not None:
            parts.append(
                f'<rect x="{x(low):.1f}" y="{middle - 7:.1f}" width="{x(high) - x(low):.1f}" '
                f'height="14" rx="3" fill="{colour}" fill-opacity="0.35"/>'
            )
        parts.append(
            f'<circle cx="{x(variant["lift"]):.1f}" cy="{middle:.1f}" r="5" fill="{colour}">'
            f'<title>{escape(variant["key"])}: {variant["lift"]:+.1%}</title></circle>'
        )
        if not compact:
            parts.append(
                f'<text x="{width - right + 10}" y="{middle + 4:.1f}" font-size="12" '
                f'fill="currentColor">{escape(summary)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def responsive(draw, *args, **kwargs):
    """``draw``'s chart twice: as it is for wide screens, and drawn ``NARROW_WIDTH`` units
    wide for a phone, where the wide one would shrink its text to a few pixels. The
    stylesheet shows one of them."""
    wide = draw(*args, **kwargs)
    small = draw(*args, **{**kwargs, "width": NARROW_WIDTH})
    return f'<div class="wexp-wide">{wide}</div><div class="wexp-narrow">{small}</div>'


def _lift_ticks(half_range):
    """Round lifts within the axis: 0, and ±10 %, ±25 %… mirrored on the ratio scale."""
    ticks = [0.0]
    for lift in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0):
        if math.log(1 + lift) <= half_range * 0.98:
            ticks[:] = [0.0, lift, 1 / (1 + lift) - 1]
    return ticks


def _bound(lift):
    return "> +1000%" if lift > _LARGEST_RATIO - 1 else f"{lift:+.0%}"
