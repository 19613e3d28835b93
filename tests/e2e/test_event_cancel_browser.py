"""The owner cancels an event on a phone: reads what will happen, forgets
the tick and is told, then cancels; the event page shows the Cancelled
banner and the refunds going out."""

from decimal import Decimal

import pytest

from core.models import Event
from core.services.event_cancellation import settle_cancelled_events
from tests.e2e.test_console_browser import sign_in_as_owner
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_cancels_an_event_on_a_phone(live_server, page):
    make_staff("owner", username="boss")
    event = EventFactory(name="Jazz Night")
    general = TicketTypeFactory(event=event, name="General", price=Decimal(20))
    for n in range(3):
        make_paid_order(general, 1, email=f"fan{n}@example.com")
    page.set_viewport_size({"width": 390, "height": 844})

    sign_in_as_owner(page, live_server.url, f"/scanner/events/{event.id}/")
    page.get_by_role("link", name="Cancel this event…").click()
    page.wait_for_url(f"**/scanner/events/{event.id}/cancel/")
    page.get_by_text("3 paid orders").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_label("Why is it cancelled?").fill("The artist is ill")
    page.get_by_role("button", name="Cancel the event").click()
    page.get_by_text("Tick the box to confirm").first.wait_for()
    assert Event.objects.get(pk=event.pk).cancelled_at is None
    assert page.get_by_label("Why is it cancelled?").input_value() == (
        "The artist is ill"
    )

    page.get_by_label("Yes, cancel Jazz Night").check()
    page.get_by_role("button", name="Cancel the event").click()
    page.wait_for_url(f"**/scanner/events/{event.id}/")
    page.get_by_text("Refunded 0 of 3 paid orders").wait_for()
    assert page.get_by_text("The artist is ill").first.is_visible()
    assert page.get_by_role("button", name="Put on sale").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    settle_cancelled_events()
    page.reload()
    page.get_by_text("Refunded 3 of 3 paid orders").wait_for()


def test_a_cancellations_refunds_and_anothers_changes_show_live(browser, asgi_server):
    """The owner watching a cancelled event's page sees the refunds go out
    without reloading; a page left open on an event someone then takes off
    sale shows it, and its buttons, as they now are."""
    from playwright.sync_api import expect

    from core.services.event_cancellation import cancel_event
    from tests.e2e.test_console_browser import _owners_list

    owner = make_staff("owner", username="boss")
    event = EventFactory(name="Jazz Night")
    general = TicketTypeFactory(event=event, name="General", price=Decimal(20))
    for n in range(3):
        make_paid_order(general, 1, email=f"fan{n}@example.com")
    cancel_event(actor=owner, event_id=event.id, reason="The artist is ill")
    other = EventFactory(name="Blues Night")
    TicketTypeFactory(event=other)

    context, page = _owners_list(
        browser, asgi_server, owner, f"/scanner/events/{event.id}/"
    )
    try:
        expect(page.get_by_text("Refunded 0 of 3 paid orders")).to_be_visible()
        asgi_server.run("settle_cancelled_events")
        expect(page.get_by_text("Refunded 3 of 3 paid orders")).to_be_visible()
        expect(page.get_by_text("every refund has gone out")).to_be_visible()

        page.goto(f"{asgi_server.url}/scanner/events/{other.id}/")
        expect(page.locator("[data-live-indicator]")).to_have_attribute(
            "data-state", "live"
        )
        page.evaluate("window.notReloaded = true")
        expect(page.get_by_role("button", name="Take off sale")).to_be_visible()
        Event.objects.filter(pk=other.pk).update(is_active=False)
        asgi_server.run(
            "announce_event_changed", event_id=str(other.pk), change="deactivated"
        )
        expect(page.get_by_role("button", name="Put on sale")).to_be_visible()
        expect(page.locator(".page-head .badge")).to_have_text("Not on sale")
        assert page.evaluate("window.notReloaded === true")
    finally:
        context.close()
