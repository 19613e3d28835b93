"""When the last seats are only held by checkouts not paid yet, the buy page
says they may come back instead of calling the event sold out."""

import pytest

from core.queries.availability import get_event_availability
from core.services.checkout import place_order
from core.services.payments import confirm_payment
from core.services.waitlist import join_waitlist
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db

ALL_TAKEN = "All taken for now"


def hold(ticket_type, quantity):
    return place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: quantity},
        customer_name="Holder",
        customer_email="holder@example.com",
    )


def sold_out_notice(html: str) -> str:
    start = html.index("data-event-sold-out")
    return html[html.rindex("<", 0, start) : html.index("data-buy-details")]


@pytest.fixture
def seat():
    return TicketTypeFactory(event=EventFactory(venue_capacity=3), capacity=3)


def test_seats_only_held_are_all_taken_for_now_not_sold_out(client, seat):
    make_paid_order(seat, 1)
    hold(seat, 2)
    html = client.get(f"/buy/events/{seat.event.slug}/").content.decode()
    notice = sold_out_notice(html)
    assert ALL_TAKEN in notice and "may come back" in notice
    assert "Sold out" not in notice
    # The waitlist card still shows as for a sold-out event.
    assert "data-waitlist" in html and "join the waitlist" in html.lower()
    availability = get_event_availability(seat.event)
    assert availability.held_for_now and availability.types[0].held_for_now


def test_seats_all_paid_for_are_sold_out(client, seat):
    make_paid_order(seat, 3)
    notice = sold_out_notice(
        client.get(f"/buy/events/{seat.event.slug}/").content.decode()
    )
    assert "Sold out" in notice and ALL_TAKEN not in notice
    assert not get_event_availability(seat.event).held_for_now


def test_held_seats_the_waitlist_would_take_are_not_coming_back(client, seat):
    make_paid_order(seat, 2)
    hold(seat, 1)
    join_waitlist(
        event_id=seat.event_id,
        ticket_type_id=None,
        name="Waiting",
        email="wait@example.com",
        quantity=1,
    )
    availability = get_event_availability(seat.event)
    assert availability.is_sold_out and not availability.held_for_now
    html = client.get(f"/buy/events/{seat.event.slug}/").content.decode()
    assert ALL_TAKEN not in html


def test_the_page_shell_tells_held_from_sold(
    client, settings, seat, django_capture_on_commit_callbacks
):
    """The page is rendered once per state shown (ADR 9): held and sold
    leave the same seats, but not the same words."""
    settings.LIVE_CACHE_SECONDS = 300
    order = hold(seat, 3)
    assert ALL_TAKEN in client.get(f"/buy/events/{seat.event.slug}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        confirm_payment(
            order_id=order.id,
            provider="simulated",
            provider_reference=f"test-{order.code}",
            amount=order.total,
            currency=order.currency,
        )
    html = client.get(f"/buy/events/{seat.event.slug}/").content.decode()
    assert ALL_TAKEN not in html and "Sold out" in sold_out_notice(html)
