"""Server-side charts: scale, SVG bars, HTML labels and text alternatives."""

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.queries.analytics import Bucket
from scanner import charts


@pytest.mark.parametrize(
    ("value", "top"),
    [(0, 2), (1, 2), (2, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 20), (150, 200)],
)
def test_nice_ceiling_is_even_and_at_least_the_value(value, top):
    assert charts.nice_ceiling(value) == top


def heights(svg: str) -> list[float]:
    return [
        float(h) for h in re.findall(r'class="chart-bar"[^>]* height="([\d.]+)"', svg)
    ]


def test_bar_heights_are_proportional_and_the_axis_is_labelled():
    svg = charts.bar_chart(
        [
            charts.Bar("a", 4, "A: 4"),
            charts.Bar("b", 2, "B: 2"),
            charts.Bar("c", 0, "C: 0"),
        ],
        chart_id="t",
        title="Things",
        summary="6 in total",
    )

    plot_height = charts.PLOT_HEIGHT
    assert heights(svg) == [plot_height, plot_height / 2, 0]
    assert 'role="img"' in svg and 'aria-labelledby="t-title t-desc"' in svg
    assert '<title id="t-title">Things</title>' in svg
    assert "<title>B: 2</title>" in svg
    # Axis top and half, as HTML labels placed on the grid lines.
    assert '<span class="chart-label" style="bottom: 100.00%">4</span>' in svg
    assert '<span class="chart-label" style="bottom: 50.00%">2</span>' in svg


def test_label_text_is_html_outside_the_stretched_svg():
    """Text inside a scaled SVG scales with it (8px on a phone, oversized on
    a laptop): the labels are HTML beside the drawing, which stretches to
    the chart's box with lines kept one pixel wide."""
    html = charts.bar_chart(
        [charts.Bar("1 Mar", 3, "x"), charts.Bar("2 Mar", 1, "y")],
        chart_id="t",
        title="T",
        summary="S",
    )

    drawing = html[html.index("<svg") : html.index("</svg>")]
    assert "<text" not in drawing and "1 Mar" not in drawing
    assert 'preserveAspectRatio="none"' in drawing
    assert drawing.count('vector-effect="non-scaling-stroke"') == 3
    labels = html[html.index('<div class="chart-x"') :]
    assert 'aria-hidden="true"' in labels
    # Centred under their bars.
    assert 'style="left: 25.00%">1 Mar<' in labels
    assert 'style="left: 75.00%">2 Mar<' in labels


def test_labels_are_thinned_and_text_is_escaped():
    bars = [charts.Bar(f"<{i}>", i, f"<b>{i}</b>") for i in range(30)]

    svg = charts.bar_chart(bars, chart_id="x", title="T & U", summary="S")

    assert svg.count('class="chart-bar"') == 30
    x_labels = svg[svg.index('<div class="chart-x"') :]
    assert x_labels.count('class="chart-label') == charts.MAX_X_LABELS
    # Every other one gives way on a phone, where six do not fit.
    assert x_labels.count("chart-label-minor") == charts.MAX_X_LABELS // 2
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "T &amp; U" in svg


def test_no_bars_no_chart():
    assert charts.bar_chart([], chart_id="e", title="T", summary="S") == ""


def test_arrivals_chart_summary_names_the_busiest_slot():
    tz = ZoneInfo("Europe/Madrid")
    buckets = [
        Bucket(start=dt.datetime(2025, 6, 1, 21, 0, tzinfo=tz), tickets=3),
        Bucket(start=dt.datetime(2025, 6, 1, 21, 5, tzinfo=tz), tickets=9),
    ]

    svg = charts.arrivals_chart(buckets)

    assert "12 in total; busiest 21:05 with 9." in svg
    assert "<title>21:05: 9 arrived</title>" in svg


def test_sales_chart_tooltips_carry_the_money():
    day = Bucket(start=dt.date(2025, 3, 1), tickets=3, revenue=Decimal("90.00"))

    svg = charts.sales_by_day_chart([day], lambda value: f"€{value}")

    assert "<title>Sat 1 Mar: 3 sold, €90.00</title>" in svg


def test_sales_refunded_since_are_stacked_faded_and_named():
    day = Bucket(
        start=dt.date(2025, 3, 1), tickets=3, revenue=Decimal("90.00"), voided=1
    )

    svg = charts.sales_by_day_chart([day], lambda value: f"€{value}")

    assert heights(svg) == [charts.PLOT_HEIGHT * 3 / 4]
    assert svg.count('class="chart-bar chart-bar-faded" fill-opacity="0.35"') == 1
    assert (
        "<title>Sat 1 Mar: 3 sold, €90.00 (and 1 since refunded or voided)</title>"
        in svg
    )
    assert (
        "3 in total, and 1 more since refunded or voided; busiest 1 Mar with 4." in svg
    )
