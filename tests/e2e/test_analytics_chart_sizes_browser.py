"""Analytics charts on a phone and on a laptop: label text stays one
readable size at every width, and a chart uses its card's width."""

import pytest

from tests.analytics_data import build_night
from tests.e2e.test_analytics_browser import sign_in
from tests.factories import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABEL_PX = 12  # .chart-label in static/css/analytics.css (0.75rem)


def _measure(page, chart_id: str) -> dict:
    """The chart's labels' rendered font sizes (on screen, after any
    scaling), its width, and its card's content width, in CSS pixels."""
    return page.evaluate(
        """id => {
            const svg = document.getElementById(id);
            const chart = svg.closest(".chart-box");
            const card = chart.closest(".card");
            const style = getComputedStyle(card);
            const inner = card.clientWidth - parseFloat(style.paddingLeft)
                - parseFloat(style.paddingRight);
            const sizes = [];
            for (const label of chart.querySelectorAll(".chart-label, text")) {
                const box = label.getBoundingClientRect();
                if (label instanceof SVGElement) {
                    // SVG text scales with the drawing: its size on screen.
                    const matrix = label.getScreenCTM();
                    sizes.push(parseFloat(getComputedStyle(label).fontSize) * matrix.a);
                } else {
                    sizes.push(parseFloat(getComputedStyle(label).fontSize));
                }
            }
            // The labels shown, left to right: none may overlap another.
            const shown = Array.from(chart.querySelectorAll(".chart-label"))
                .map((label) => label.getBoundingClientRect())
                .filter((box) => box.width > 0);
            const overlaps = [];
            for (const [i, a] of shown.entries()) {
                for (const b of shown.slice(i + 1)) {
                    if (a.left < b.right && b.left < a.right
                        && a.top < b.bottom && b.top < a.bottom) {
                        overlaps.push([a.left, a.top, b.left, b.top]);
                    }
                }
            }
            return {
                overlaps,
                shownLabels: shown.length,
                sizes,
                width: chart.getBoundingClientRect().width,
                svgWidth: svg.getBoundingClientRect().width,
                svgHeight: svg.getBoundingClientRect().height,
                inner,
            };
        }""",
        chart_id,
    )


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_chart_labels_keep_one_size_and_charts_fill_their_card(
    live_server, browser, width, height
):
    night = build_night()
    make_staff("manager", username="boss")
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        sign_in(page, live_server, "boss")
        page.goto(f"{live_server.url}/scanner/analytics/events/{night.event.id}/")
        page.locator("#chart-sales-day").wait_for()

        for chart_id in ("chart-sales-day", "chart-arrivals"):
            measured = _measure(page, chart_id)
            assert measured["sizes"], chart_id
            assert all(abs(size - LABEL_PX) < 0.5 for size in measured["sizes"]), (
                chart_id,
                measured,
            )
            assert measured["width"] >= measured["inner"] - 1, (chart_id, measured)
            assert not measured["overlaps"], (chart_id, measured)
            # A bar chart, not a poster: its bars stay a sensible height.
            assert 120 <= measured["svgHeight"] <= 260, (chart_id, measured)
            # Axis labels say something: 3 on the y axis, some on the x.
            assert measured["shownLabels"] >= 5, (chart_id, measured)
        hours = _measure(page, "chart-sales-hour")
        assert not hours["overlaps"], hours
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.locator("#sales-time-heading").scroll_into_view_if_needed()
        page.screenshot(path=f"/tmp/fix_left_charts_{width}.png", full_page=True)
    finally:
        context.close()
