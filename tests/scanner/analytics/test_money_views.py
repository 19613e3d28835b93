"""The analytics pages say where the money went, in figures that add up."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.services.checkout import place_order
from core.services.orders import refund_tickets
from core.services.payments import confirm_payment, handle_stripe_event
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def hold(ga, quantity, email, **kwargs):
    return place_order(
        event_id=ga.event_id,
        quantities={ga.id: quantity},
        customer_name="Buyer",
        customer_email=email,
        **kwargs,
    )


def pay(order, reference=None, provider="simulated", now=None):
    confirm_payment(
        order_id=order.id,
        provider=provider,
        provider_reference=reference or f"pay-{order.code}",
        amount=order.total,
        currency=order.currency,
        now=now,
    )
    order.refresh_from_db()


@pytest.fixture
def jazz(django_capture_on_commit_callbacks):
    """Four seats: a partial refund of one ticket, and a payment that
    arrived after its seats were sold, sent back automatically."""
    event = EventFactory(
        name="Neon Nights Jazz",
        currency="usd",
        venue_capacity=4,
        starts_at=timezone.now() + dt.timedelta(days=8),
    )
    seat = TicketTypeFactory(
        event=event, name="Seat", price=Decimal("40.00"), capacity=4
    )
    late = hold(seat, 2, "late@example.com", hold_minutes=5)
    later = timezone.now() + dt.timedelta(minutes=6)
    first = hold(seat, 2, "first@example.com", now=later)
    pay(first, now=later)
    second = hold(seat, 2, "second@example.com", now=later)
    pay(second, now=later)
    with django_capture_on_commit_callbacks(execute=True):
        pay(late, now=later)
    refund_tickets(order_id=second.id, ticket_ids=[second.tickets.first().pk])
    return event


def test_event_page_counts_a_partial_refund_and_an_extra_payment_apart(
    client, owner, jazz
):
    client.force_login(owner)

    text = text_of(client.get(reverse("scanner:analytics_event", args=[jazz.id])).text)

    # Paid 160 + 80 sent back = 240; 40 refunded; 80 never kept.
    assert "Revenue $120.00 $240.00 paid − $40.00 refunded − $80.00 sent back" in text
    assert "Refunded $40.00 1 ticket refunded" in text
    assert (
        "Sent back automatically $80.00 1 extra payment (paid after the tickets"
        " were gone, or paid twice): no tickets" in text
    )
    assert "still to go back" not in text


def test_overview_row_adds_up(client, owner, jazz):
    client.force_login(owner)

    html = client.get(reverse("scanner:analytics")).text

    row = text_of(html.split("Neon Nights Jazz")[1].split("</tr>")[0])
    assert "$120.00 $240.00 paid − $40.00 refunded − $80.00 sent back" in row
    assert "$40.00 · 1 ticket + $80.00 sent back automatically (1 extra payment)" in row


def test_a_refund_in_stripe_not_matched_to_tickets_is_pointed_out(client, owner):
    event = EventFactory(currency="eur")
    ga = TicketTypeFactory(event=event, price=Decimal("25.00"))
    order = hold(ga, 3, "buyer@example.com")
    pay(order, f"pi_{order.code}", provider="stripe")
    handle_stripe_event(
        event={
            "id": "evt_dashboard",
            "type": "charge.refunded",
            "data": {
                "object": {
                    "id": "ch_1",
                    "object": "charge",
                    "payment_intent": f"pi_{order.code}",
                    "amount": 7500,
                    "amount_refunded": 2500,
                    "refunded": False,
                }
            },
        }
    )
    client.force_login(owner)

    html = client.get(reverse("scanner:analytics_event", args=[event.id])).text
    text = text_of(html)

    assert "Revenue €50.00 €75.00 paid − €25.00 refunded" in text
    assert (
        "Refunded €25.00 0 tickets refunded · €25.00 refunded in Stripe,"
        " tickets not chosen yet" in text
    )
    assert "data-money-gap" in html
    assert (
        "The tickets still valid are worth €75.00, the revenue above is the money"
        " kept (€50.00). €25.00 was refunded in Stripe without choosing tickets" in text
    )
