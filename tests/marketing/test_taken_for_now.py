"""The marketing pages word seats only held by people paying as the buy
page does: taken for now, not sold out."""

import re

import pytest

from tests.factories import EventFactory, TicketTypeFactory, make_held_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_seat():
    event = EventFactory(name="Last Two", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="GA", capacity=2)
    make_held_order(seat, 2)
    return seat


def visible_text(html: str) -> str:
    """The page's words, leaving out elements rendered hidden."""
    html = re.sub(r"<(\w+)[^>]*\shidden[\s>][^<]*</\1>", "", html)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_event_card_says_taken_for_now(client, held_seat):
    text = visible_text(client.get("/").content.decode())
    assert "Taken for now" in text
    assert "Sold out" not in text


def test_the_event_page_says_all_taken_for_now_and_may_come_back(client, held_seat):
    html = client.get(f"/events/{held_seat.event.slug}/").content.decode()
    text = visible_text(html)
    assert "All taken for now" in text
    assert "may come back in a few minutes" in text
    assert "Sold out" not in text
    # Both words are there for live.js to switch as the holds are paid.
    assert "Sold out" in html
