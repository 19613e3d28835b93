"""A guest name or door label with no spaces must not widen the analytics
page past a phone's screen (the Last scans list sized itself to it)."""

import pytest
from django.utils import timezone

from core.models import ScanLog, Ticket
from tests.analytics_data import build_night
from tests.e2e.test_analytics_browser import sign_in
from tests.factories import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_long_unbroken_guest_name_keeps_the_page_phone_wide(live_server, page):
    night = build_night()
    ticket = Ticket.objects.filter(order__event=night.event).first()
    ticket.guest_name = "Maximiliana" * 6 + "@example-company-longname.com"
    ticket.save()
    ScanLog.objects.create(
        event=night.event,
        ticket=ticket,
        result=ScanLog.Result.ALREADY_USED,
        device_label="Main-entrance-left-hand-turnstile-number-four",
        code_digest="4" * 64,
        at=timezone.now(),
    )
    make_staff("manager", username="boss")
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, "boss")

    page.goto(f"{live_server.url}/scanner/analytics/events/{night.event.id}/")
    page.get_by_text("Maximiliana", exact=False).first.wait_for()

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
