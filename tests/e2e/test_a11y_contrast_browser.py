"""White text on the console's coloured fills reads at 4.5:1 or more (WCAG
1.4.3): the role badges, the danger buttons and a refused scan's badge."""

import re

import pytest
from django.utils import timezone

from core.models import ScanLog, Ticket
from tests.analytics_data import build_night
from tests.e2e.test_analytics_browser import sign_in
from tests.factories import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return r, g, b


def contrast(locator) -> float:
    """Text against its own background fill, as the browser computed them."""
    colours = locator.evaluate(
        "node => [getComputedStyle(node).color, getComputedStyle(node).backgroundColor]"
    )
    lighter, darker = sorted((_luminance(_rgb(c)) for c in colours), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_white_on_the_consoles_coloured_fills_reads_at_4_5_to_1(live_server, page):
    night = build_night()
    ScanLog.objects.create(
        event=night.event,
        ticket=Ticket.objects.filter(order__event=night.event).first(),
        result=ScanLog.Result.ALREADY_USED,
        device_label="Main door",
        code_digest="4" * 64,
        at=timezone.now(),
    )
    make_staff("owner", username="boss")
    make_staff("door", username="dora")
    sign_in(page, live_server, "boss")

    page.goto(f"{live_server.url}/scanner/staff/")
    ratios = {
        "role badge": contrast(page.locator(".badge-role").first),
        "danger button": contrast(page.locator(".button-danger").first),
    }

    page.goto(f"{live_server.url}/scanner/analytics/events/{night.event.id}/")
    refused = page.locator(".scan-row.is-bad .badge").first
    refused.wait_for()
    ratios["refused scan badge"] = contrast(refused)
    assert all(ratio >= 4.5 for ratio in ratios.values()), ratios
