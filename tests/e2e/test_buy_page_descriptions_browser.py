"""A screen reader on a quantity select hears the type's price, what is left
(or that it is sold out) and any note about the choice; on Email, where the
tickets go."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


def test_quantity_selects_and_email_are_described(open_page, asgi_server):
    event = EventFactory(name="Described", currency="eur")
    vip = TicketTypeFactory(event=event, name="VIP", price="50.00", capacity=10)
    TicketTypeFactory(event=event, name="GA", price="20.00", capacity=30)
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    form = page.locator("[data-buy-form]")
    vip_select = page.get_by_label("How many VIP tickets")

    expect(vip_select).to_have_accessible_description("€50.00 10 left")
    expect(form.get_by_label("Email")).to_have_accessible_description(
        "Your tickets are emailed here."
    )

    vip_select.select_option("8")
    make_paid_order(vip, 7)
    asgi_server.run(
        "announce_availability_changed", event_id=str(event.id), reason="sale"
    )
    expect(vip_select).to_have_accessible_description(
        "€50.00 3 left Only 3 left now; your choice was lowered to 3."
    )

    make_paid_order(vip, 3)
    asgi_server.run(
        "announce_availability_changed", event_id=str(event.id), reason="sale"
    )
    expect(vip_select).to_have_accessible_description(
        re.compile(r"^€50\.00 Sold out These just sold out\.$")
    )
    # Not sold out: the hidden badge is not read.
    expect(page.get_by_label("How many GA tickets")).to_have_accessible_description(
        "€20.00 30 left"
    )
