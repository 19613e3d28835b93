"""A cancelled event at the door, in real Chromium: the page left open says so
the moment it happens (through the door's live feed), and offline the phone
refuses each ticket as the event cancelled, as the server does."""

import pytest

from core.models import Event
from core.services.event_cancellation import cancel_event
from tests.e2e import test_door_browser as door
from tests.factories import make_staff

door_ticket = door.door_ticket
door_page = door.door_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_live_door_page(browser, server, ticket, *, username: str):
    """A door phone on `ticket`'s event, its live feed connected."""
    context = door.signed_in_door_context(browser, server.url, username=username)
    page = context.new_page()
    page.goto(f"{server.url}/scanner/door/{ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true']")
    page.wait_for_selector("[data-live-indicator][data-state='live']", state="attached")
    return context, page


def test_a_door_page_left_open_says_at_once_that_the_event_was_cancelled(
    browser, asgi_server, door_ticket
):
    context, page = open_live_door_page(
        browser, asgi_server, door_ticket, username="doorstorm"
    )
    banner = page.locator("[data-cancelled-banner]")
    assert banner.is_hidden()

    cancel_event(
        actor=make_staff("owner", username="storm-owner"),
        event_id=door_ticket.event_id,
        reason="Storm",
    )
    # What the cancellation announces, from the server the page listens to.
    asgi_server.run(
        "announce_event_changed", event_id=str(door_ticket.event_id), change="cancelled"
    )

    # Sooner than the page's own refresh every 15 s.
    banner.wait_for(state="visible", timeout=8_000)
    assert "Event cancelled" in banner.inner_text()
    assert "do not let anyone in" in banner.inner_text()
    context.close()


def test_offline_a_cancelled_events_ticket_is_refused_as_the_event_cancelled(
    page, live_server, door_ticket
):
    Event.objects.filter(pk=door_ticket.event_id).update(
        cancelled_at=door.timezone.now()
    )
    door.sign_in_door_staff(page.context, live_server.url, username="doordark")
    page.goto(f"{live_server.url}/scanner/door/{door_ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true']")
    assert page.locator("[data-cancelled-banner]").is_visible()
    door.go_offline(page)

    text = door.type_code(page, door_ticket.code, expect="void")

    assert "REJECT" in text and "Ana García" in text
    assert "Event cancelled — do not let in." in text
    assert "refunded" not in text
