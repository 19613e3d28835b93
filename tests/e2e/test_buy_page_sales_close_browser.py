"""A ticket type whose sales close while the buy page is open closes at that
moment, as one opening opens: no push says so (nothing is written)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


def test_a_type_closes_on_the_open_page_when_its_sales_do(
    page, asgi_server, transactional_db
):
    event = EventFactory(name="Early Birds", venue_capacity=400)
    early = TicketTypeFactory(
        event=event,
        name="Early bird",
        capacity=200,
        sort_order=1,
        sales_end_at=timezone.now() + timedelta(seconds=6),
    )
    TicketTypeFactory(event=event, name="GA", capacity=200, sort_order=2)
    page.goto(f"{asgi_server.url}/buy/events/{event.slug}/")
    expect(page.locator("[data-live-indicator]")).to_have_text("Live")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f'[data-ticket-type="{early.id}"]')
    select = page.get_by_label("How many Early bird tickets")
    expect(row.locator("[data-available]")).to_have_text("200 left")
    select.select_option("2")

    expect(select).to_be_disabled()
    expect(select).to_have_value("0")
    expect(row.locator("[data-available]")).to_have_text("Sales closed")
    expect(row.locator("[data-limit-note]")).to_have_text(
        "Sales of Early bird just closed: it was taken out of your choice."
    )
    expect(page.get_by_label("How many GA tickets")).to_be_enabled()
    assert page.evaluate("window.notReloaded === true")

    # Loaded again, the page says the same.
    page.reload()
    expect(row.locator("[data-available]")).to_have_text("Sales closed")
    expect(select).to_be_disabled()
