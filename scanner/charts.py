"""Bar charts drawn on the server: inline SVG bars, HTML labels; no JS.

The SVG draws only the bars and grid lines, stretched to the chart's width
and a fixed height (preserveAspectRatio="none"; the lines keep 1 pixel with
vector-effect). Axis labels are HTML beside it, placed in percentages, so
their text is one readable size on a phone and on a laptop alike (text
inside a scaled SVG was 8 pixels on a phone and oversized on a laptop).
Every bar carries a <title> tooltip and each chart comes with a
screen-reader description; the labels, which repeat the table under the
chart, are hidden from screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.queries.analytics import Bucket

# The drawing's own units: bars fill WIDTH x PLOT_HEIGHT, which the page
# stretches to the chart's box (static/css/analytics.css).
WIDTH = 1000
PLOT_HEIGHT = 100
MAX_X_LABELS = 6


@dataclass(frozen=True)
class Bar:
    label: str  # short axis label, shown for some bars
    value: float
    tooltip: str  # the full text for this bar
    # Stacked on top, faded: sales of the period refunded or voided since.
    faded: float = 0


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


def _percent(value: float) -> str:
    return f"{value:.2f}%"


def bar_chart(
    bars: Sequence[Bar], *, chart_id: str, title: str, summary: str
) -> SafeString:
    """A bar chart of `bars`, or an empty string when there are none."""
    if not bars:
        return SafeString("")
    top_value = nice_ceiling(max(bar.value + bar.faded for bar in bars))
    slot = WIDTH / len(bars)
    gap = slot * 0.18
    label_every = max(1, math.ceil(len(bars) / MAX_X_LABELS))

    grid = format_html_join(
        "",
        '<line class="chart-grid" x1="0" x2="{}" y1="{}" y2="{}"'
        ' vector-effect="non-scaling-stroke"/>',
        (
            (WIDTH, f"{y:.1f}", f"{y:.1f}")
            for y in (PLOT_HEIGHT * (1 - f) for f in (0, 0.5, 1))
        ),
    )
    y_labels = format_html_join(
        "",
        '<span class="chart-label" style="bottom: {}">{}</span>',
        (
            (_percent(100 * fraction), _axis_number(top_value * fraction))
            for fraction in (0, 0.5, 1)
        ),
    )
    rects = []
    x_labels = []
    for index, bar in enumerate(bars):
        height = PLOT_HEIGHT * bar.value / top_value
        rects.append(
            format_html(
                '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}">'
                "<title>{}</title></rect>",
                f"{index * slot + gap / 2:.2f}",
                f"{PLOT_HEIGHT - height:.2f}",
                f"{slot - gap:.2f}",
                f"{height:.2f}",
                bar.tooltip,
            )
        )
        if bar.faded:
            faded = PLOT_HEIGHT * bar.faded / top_value
            rects.append(
                format_html(
                    '<rect class="chart-bar chart-bar-faded" fill-opacity="0.35"'
                    ' x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
                    f"{index * slot + gap / 2:.2f}",
                    f"{PLOT_HEIGHT - height - faded:.2f}",
                    f"{slot - gap:.2f}",
                    f"{faded:.2f}",
                    bar.tooltip,
                )
            )
        if index % label_every == 0:
            # Centred under its bar; every other one is left out on a
            # phone (chart-label-minor), where six do not fit side by side.
            minor = len(x_labels) % 2 == 1
            x_labels.append(
                format_html(
                    '<span class="chart-label{}" style="left: {}">{}</span>',
                    " chart-label-minor" if minor else "",
                    _percent(100 * (index + 0.5) / len(bars)),
                    bar.label,
                )
            )
    return format_html(
        '<div class="chart">'
        '<div class="chart-y" aria-hidden="true">{y_labels}</div>'
        '<svg class="chart-plot" id="{id}" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="none">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{summary}</desc>'
        "{grid}{rects}</svg>"
        '<div class="chart-x" aria-hidden="true">{x_labels}</div>'
        "</div>",
        id=chart_id,
        w=WIDTH,
        h=PLOT_HEIGHT,
        title=title,
        summary=summary,
        y_labels=y_labels,
        grid=grid,
        rects=SafeString("".join(rects)),
        x_labels=SafeString("".join(x_labels)),
    )


def _summary(
    buckets: Sequence[Bucket], describe: Callable[[Bucket], str], *, left_out=""
) -> str:
    """A chart's text alternative: "12 in total; busiest 21:05 with 9.",
    sales refunded or voided since named apart ("10 in total, and 3 more
    since refunded or voided; ..."), and `left_out`, what is not drawn."""
    total = sum(b.tickets for b in buckets)
    voided = sum(b.voided for b in buckets)
    if not total and not voided:
        return f"No tickets in this period{left_out}."
    peak = max(buckets, key=lambda b: b.tickets + b.voided)
    gone = f", and {voided} more since refunded or voided" if voided else ""
    return (
        f"{total} in total{gone}{left_out}; busiest {describe(peak)} with"
        f" {peak.tickets + peak.voided}."
    )


def left_out_of_days(earlier: Bucket | None) -> str:
    """What a chart of days leaves out, in words ("; 2 more sold before
    10 Aug, not shown"): sales older than the days it draws
    (core.queries.analytics.MAX_DAYS) are said rather than dropped."""
    if earlier is None or not earlier.sold_then:
        return ""
    return f"; {earlier.sold_then} more sold before {earlier.start:%-d %b}, not shown"


def _sold(bucket: Bucket, money: Callable) -> str:
    """A sales bar's words: "3 sold, €90.00" and what went back since."""
    text = f"{bucket.tickets} sold, {money(bucket.revenue)}"
    if bucket.voided:
        text += f" (and {bucket.voided} since refunded or voided)"
    return text


def sales_by_day_chart(
    days: Sequence[Bucket], money: Callable, earlier: Bucket | None = None
) -> SafeString:
    bars = [
        Bar(
            label=day.start.strftime("%-d %b"),
            value=day.tickets,
            tooltip=f"{day.start:%a %-d %b}: {_sold(day, money)}",
            faded=day.voided,
        )
        for day in days
    ]
    return bar_chart(
        bars,
        chart_id="chart-sales-day",
        title="Tickets sold per day",
        summary=_summary(
            days, lambda b: f"{b.start:%-d %b}", left_out=left_out_of_days(earlier)
        ),
    )


def sales_by_hour_chart(hours: Sequence[Bucket], money: Callable) -> SafeString:
    bars = [
        Bar(
            label=hour.start.strftime("%a %Hh"),
            value=hour.tickets,
            tooltip=f"{hour.start:%a %-d %b %H:%M}: {_sold(hour, money)}",
            faded=hour.voided,
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
