"""Pages opened before the last seats were taken by people paying say "All
taken for now" as a page opened after would: the buy page, the event page
and the event list."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import EventFactory, TicketTypeFactory, make_held_order

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


def test_pages_open_before_the_last_seats_were_held_say_all_taken_for_now(
    open_page, asgi_server
):
    event = EventFactory(name="Last Two", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="GA", capacity=2)
    buying = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    detail = open_page(f"{asgi_server.url}/events/{event.slug}/")
    listing = open_page(f"{asgi_server.url}/")
    buying.get_by_label("How many GA tickets").select_option("1")

    make_held_order(seat, 2)
    asgi_server.run(
        "announce_availability_changed", event_id=str(event.id), reason="hold"
    )

    notice = buying.locator("[data-event-sold-out]")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("All taken for now")
    expect(notice).to_contain_text("may come back in a few minutes")
    expect(buying.locator("[data-waitlist-heading]")).to_have_text(
        "All taken for now — join the waitlist"
    )
    expect(buying.locator("[data-sold-out-badge]")).to_have_text("Taken for now")
    expect(buying.locator("[data-limit-note]")).to_have_text(
        "Just taken by people paying; some may come back in a few minutes."
    )

    expect(detail.locator("[data-event-sold-out]")).to_have_text(
        # innerText: the hidden "Sold out" left out (and the badge's capitals in)
        re.compile("^all taken for now$", re.IGNORECASE),
        use_inner_text=True,
    )
    expect(detail.get_by_text("may come back in a few minutes")).to_be_visible()
    expect(detail.locator("[data-sold-out-badge]")).to_have_text("Taken for now")

    card = listing.locator(f'[data-event-card="{event.id}"]')
    expect(card.locator("[data-sold-out-badge]")).to_have_text("Taken for now")
    for page in (buying, detail, listing):
        expect(
            page.get_by_text("Sold out", exact=True).filter(visible=True)
        ).to_have_count(0)
        assert page.evaluate("window.notReloaded === true")
