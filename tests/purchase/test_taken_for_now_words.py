"""The buy page words seats only held by people paying the same however it
was opened: its notice is always there to be switched live, and the
waitlist's heading says taken for now, not sold out."""

import pytest

from tests.factories import EventFactory, TicketTypeFactory, make_held_order

pytestmark = pytest.mark.django_db


def test_the_waitlist_heading_says_all_taken_for_now(client):
    seat = TicketTypeFactory(event=EventFactory(venue_capacity=2), capacity=2)
    make_held_order(seat, 2)
    html = client.get(f"/buy/events/{seat.event.slug}/").content.decode()
    assert "All taken for now — join the waitlist" in html
    assert "Sold out — join the waitlist" not in html


def test_the_sold_out_notice_is_rendered_hidden_while_on_sale(client):
    seat = TicketTypeFactory()
    html = client.get(f"/buy/events/{seat.event.slug}/").content.decode()
    start = html.index("data-event-sold-out")
    notice = html[html.rindex("<", 0, start) : html.index(">", start) + 1]
    assert " hidden" in notice
    assert "may come back in a few minutes" in html
