"""Bar charts drawn on the server as inline SVG: no browser library, no JS.

The SVG scales to its container's width (viewBox), so text sized for a
360-pixel phone stays legible; every bar carries a <title> tooltip and each
chart comes with a screen-reader description.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.queries.analytics import Bucket

WIDTH = 360
HEIGHT = 170
LEFT = 34
RIGHT = 6
TOP = 10
BOTTOM = 24
MAX_X_LABELS = 6


@dataclass(frozen=True)
class Bar:
    label: str  # short axis label, shown for some bars
    value: float
    tooltip: str  # the full text for this bar


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2, 4, 6 or 8 x 10^k at or above `value`, at least 2.

    Always even, so the half-way grid line of a count is a whole number.
    """
    if value <= 2:
        return 2
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)  # pragma: no cover - the loop always returns


def _axis_number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def bar_chart(
    bars: Sequence[Bar], *, chart_id: str, title: str, summary: str
) -> SafeString:
    """An SVG bar chart of `bars`, or an empty string when there are none."""
    if not bars:
        return SafeString("")
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    top_value = nice_ceiling(max(bar.value for bar in bars))
    slot = plot_w / len(bars)
    gap = slot * 0.18 if slot > 3 else 0
    label_every = max(1, math.ceil(len(bars) / MAX_X_LABELS))

    grid = []
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h - plot_h * fraction
        grid.append(
            format_html(
                '<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="chart-axis" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                LEFT - 4,
                f"{y + 3.5:.1f}",
                _axis_number(top_value * fraction),
            )
        )
    rects = []
    labels = []
    for index, bar in enumerate(bars):
        height = plot_h * bar.value / top_value
        x = LEFT + index * slot + gap / 2
        rects.append(
            format_html(
                '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}">'
                "<title>{}</title></rect>",
                f"{x:.2f}",
                f"{TOP + plot_h - height:.2f}",
                f"{max(slot - gap, 0.5):.2f}",
                f"{height:.2f}",
                bar.tooltip,
            )
        )
        if index % label_every == 0:
            labels.append(
                format_html(
                    '<text class="chart-axis" x="{}" y="{}" text-anchor="start">{}</text>',
                    f"{LEFT + index * slot:.1f}",
                    HEIGHT - 8,
                    bar.label,
                )
            )
    return format_html(
        '<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="xMidYMid meet">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{summary}</desc>'
        "{grid}{rects}{labels}</svg>",
        id=chart_id,
        w=WIDTH,
        h=HEIGHT,
        title=title,
        summary=summary,
        grid=SafeString("".join(grid)),
        rects=SafeString("".join(rects)),
        labels=SafeString("".join(labels)),
    )


def _summary(buckets: Sequence[Bucket], describe: Callable[[Bucket], str]) -> str:
    total = sum(b.tickets for b in buckets)
    if not total:
        return "No tickets in this period."
    peak = max(buckets, key=lambda b: b.tickets)
    return f"{total} in total; busiest {describe(peak)} with {peak.tickets}."


def sales_by_day_chart(days: Sequence[Bucket], money: Callable) -> SafeString:
    bars = [
        Bar(
            label=day.start.strftime("%-d %b"),
            value=day.tickets,
            tooltip=f"{day.start:%a %-d %b}: {day.tickets} sold, {money(day.revenue)}",
        )
        for day in days
    ]
    return bar_chart(
        bars,
        chart_id="chart-sales-day",
        title="Tickets sold per day",
        summary=_summary(days, lambda b: f"{b.start:%-d %b}"),
    )


def sales_by_hour_chart(hours: Sequence[Bucket], money: Callable) -> SafeString:
    bars = [
        Bar(
            label=hour.start.strftime("%a %Hh"),
            value=hour.tickets,
            tooltip=f"{hour.start:%a %-d %b %H:%M}: {hour.tickets} sold, "
            f"{money(hour.revenue)}",
        )
        for hour in hours
    ]
    return bar_chart(
        bars,
        chart_id="chart-sales-hour",
        title="Tickets sold per hour around the show",
        summary=_summary(hours, lambda b: f"{b.start:%a %H:%M}"),
    )


def arrivals_chart(buckets: Sequence[Bucket]) -> SafeString:
    bars = [
        Bar(
            label=bucket.start.strftime("%H:%M"),
            value=bucket.tickets,
            tooltip=f"{bucket.start:%H:%M}: {bucket.tickets} arrived",
        )
        for bucket in buckets
    ]
    return bar_chart(
        bars,
        chart_id="chart-arrivals",
        title="Arrivals per 5 minutes",
        summary=_summary(buckets, lambda b: f"{b.start:%H:%M}"),
    )
