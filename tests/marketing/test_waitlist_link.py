"""The event page offers "Join the waitlist" only while the waitlist takes
joins, as the buy page's waitlist card does (core.services.waitlist)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db

JOIN = ">Join the waitlist<"


@pytest.fixture
def sold_out():
    seat = TicketTypeFactory(event=EventFactory(venue_capacity=1), capacity=1)
    make_paid_order(seat, 1)
    return seat.event


def test_a_sold_out_event_on_sale_offers_the_waitlist(client, sold_out):
    html = client.get(f"/events/{sold_out.slug}/").content.decode()
    assert JOIN in html


def test_no_waitlist_when_sales_close_too_soon_for_offers(client, settings, sold_out):
    settings.HOLD_MINUTES = 15
    sold_out.sales_end_at = timezone.now() + timedelta(minutes=10)
    sold_out.save(update_fields=["sales_end_at"])
    html = client.get(f"/events/{sold_out.slug}/").content.decode()
    assert JOIN not in html
    assert "Sold out" in html


def test_no_waitlist_before_sales_open(client, sold_out):
    sold_out.sales_start_at = timezone.now() + timedelta(days=1)
    sold_out.save(update_fields=["sales_start_at"])
    html = client.get(f"/events/{sold_out.slug}/").content.decode()
    assert JOIN not in html


def test_the_link_is_not_shown_live_when_the_waitlist_is_closed(client, settings):
    """Not sold out yet, but too late for offers: selling out live (live.js
    shows [data-when-sold-out]) must not bring the link."""
    settings.HOLD_MINUTES = 15
    event = EventFactory(sales_end_at=timezone.now() + timedelta(minutes=10))
    TicketTypeFactory(event=event)
    html = client.get(f"/events/{event.slug}/").content.decode()
    assert "Join the waitlist" not in html
