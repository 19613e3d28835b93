"""A manager opens the analytics in a phone-sized browser and watches it update."""

import pytest
from django.utils import timezone

from core.models import ScanLog
from tests.analytics_data import build_night
from tests.factories import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username: str) -> None:
    page.goto(live_server.url + "/scanner/login/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    # Owners land on /scanner/, door staff on the door (/scanner/door/).
    page.wait_for_url(lambda url: "/scanner/" in url and "/login/" not in url)


def add_scan(event, device: str) -> None:
    ScanLog.objects.create(
        event=event,
        result=ScanLog.Result.INVALID,
        device_label=device,
        code_digest="3" * 64,
        at=timezone.now(),
    )


def test_manager_opens_the_dashboard_and_it_follows_the_door(live_server, page):
    night = build_night()
    make_staff("manager", username="boss")
    sign_in(page, live_server, "boss")

    page.get_by_role("link", name="Analytics").click()
    page.wait_for_url("**/scanner/analytics/")
    page.get_by_role("link", name="Fixture Night").click()

    assert page.get_by_role("heading", name="Fixture Night").is_visible()
    assert page.locator("[data-stat=revenue]").inner_text() == "€250.00"
    assert page.get_by_role("img", name="Tickets sold per day").is_visible()
    assert page.get_by_role("img", name="Arrivals per 5 minutes").is_visible()
    # Phone-legible: nothing wider than the 390-pixel screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The daily numbers open from under the chart.
    page.get_by_text("Numbers per day").click()
    assert page.get_by_role("cell", name="Fri 28 Feb 2025").is_visible()

    # live.js turns door-feed pushes into `door:message`; the page refetches
    # its night-of fragment in place (no navigation).
    add_scan(night.event, "Balcony")
    page.evaluate(
        """id => document.dispatchEvent(new CustomEvent("door:message",
            {detail: {type: "door.scans", event_id: id, scans: [{}]}}))""",
        str(night.event.id),
    )
    page.get_by_role("cell", name="Balcony").wait_for()
    # Sales over time is part of what refreshes, and numbers opened under
    # its chart stay open through it.
    assert page.get_by_role("cell", name="Fri 28 Feb 2025").is_visible()
    # After a reconnect live.js sends `live:resync`: the same refetch.
    add_scan(night.event, "Gallery")
    page.evaluate("document.dispatchEvent(new CustomEvent('live:resync'))")
    page.get_by_role("cell", name="Gallery").wait_for()
    assert page.url.endswith(f"/scanner/analytics/events/{night.event.id}/")


def test_door_staff_cannot_open_analytics(live_server, page):
    make_staff("door", username="doorperson")
    sign_in(page, live_server, "doorperson")

    assert page.get_by_role("link", name="Analytics").count() == 0
    response = page.goto(live_server.url + "/scanner/analytics/")
    assert response.status == 403
