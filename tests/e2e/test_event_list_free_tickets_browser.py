"""The owner's event list on a phone: free tickets given while it is open
stand beside "sold" without a reload, as on the event page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import EventFactory, TicketTypeFactory, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_free_tickets_given_meanwhile_show_beside_sold_on_the_event_list(
    browser, asgi_server
):
    from playwright.sync_api import expect

    from tests.live import session_cookie

    owner = make_staff("owner", username="boss")
    event = EventFactory(
        name="Guest Night",
        venue_capacity=100,
        starts_at=timezone.now() + timedelta(days=5),
    )
    seats = TicketTypeFactory(event=event, name="GA", capacity=100)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(30_000)
    name, value = session_cookie(owner).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": asgi_server.url}])
    try:
        page = context.new_page()
        page.goto(f"{asgi_server.url}/scanner/")
        expect(page.locator("[data-live-indicator]")).to_have_attribute(
            "data-state", "live"
        )
        page.evaluate("window.notReloaded = true")
        meta = page.locator(f'[data-live-row="{event.id}"] .event-row-meta')
        expect(meta).to_contain_text("0 of 100 sold", use_inner_text=True)
        expect(meta).not_to_contain_text("free", use_inner_text=True)

        asgi_server.run("sell", ticket_type_id=seats.id, quantity=3)
        asgi_server.run(
            "give_free_tickets", ticket_type_id=seats.id, quantity=2, actor="boss"
        )

        expect(meta).to_contain_text("3 of 100 sold + 2 free", use_inner_text=True)
        expect(meta.locator("[data-summary-meter]")).to_have_attribute(
            "style", "width: 5%;"
        )
        assert page.evaluate("window.notReloaded === true")
        page.screenshot(path="/tmp/fix_left_list_390.png")
    finally:
        context.close()
