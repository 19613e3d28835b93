"""Amounts of money taken and given back read as amounts, zero included."""

import pytest

from core.services.orders import refund_tickets
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def test_a_fully_refunded_order_paid_nothing_in_the_end_not_free(client):
    seat = TicketTypeFactory(event=EventFactory(currency="gbp"), price="12.00")
    order = make_paid_order(seat, 2)
    refund_tickets(
        order_id=order.id, ticket_ids=list(order.tickets.values_list("pk", flat=True))
    )
    html = client.get(f"/buy/o/{order.token}/").content.decode()
    row = html[html.index("You paid in the end") :]
    row = row[: row.index("</tr>")]
    assert "£0.00" in row and "Free" not in row


def test_a_free_ticket_is_still_free(client):
    seat = TicketTypeFactory(name="Guest list", price="0.00")
    html = client.get(f"/buy/events/{seat.event.slug}/").content.decode()
    assert "Free" in html
