"""An event edited while its door page is open, in real Chromium: renamed or
moved, the page's header, its tab title and the check-in opening it checks
offline follow at once (the door's feed hears the change), not at a reload."""

import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event
from tests.e2e import test_door_browser as door
from tests.e2e.test_door_cancelled_browser import open_live_door_page

door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_renamed_and_moved_event_reaches_its_open_door_page(
    browser, asgi_server, door_ticket
):
    context, page = open_live_door_page(
        browser, asgi_server, door_ticket, username="doormoves"
    )
    page.wait_for_selector("[data-door][data-states-ready='true']")
    assert page.title() == "Door · Camera Night"
    event = door_ticket.event
    later = event.starts_at + timedelta(days=7)
    Event.objects.filter(pk=event.pk).update(
        name="Camera Night (moved)",
        starts_at=later,
        doors_at=event.doors_at + timedelta(days=7),
        time_zone="America/New_York",
    )
    asgi_server.run("announce_event_changed", event_id=str(event.pk), change="updated")

    page.wait_for_function(
        "() => document.title === 'Door · Camera Night (moved)'", timeout=8_000
    )
    header = page.locator(".door-bar").inner_text()
    assert "Camera Night (moved)" in header
    when = timezone.localtime(later, zoneinfo.ZoneInfo("America/New_York"))
    assert when.strftime("%a %-d %b · %H:%M") in header
    # Offline too, nobody is let in a week early.
    door.go_offline(page)
    text = door.type_code(page, door_ticket.code, expect="not_yet_valid")
    assert "Not valid yet: check-in opens" in text
    context.close()
