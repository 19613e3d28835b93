"""The owner's cancel page says what will go back: what the paid orders
still hold, not what they first came to. After one €25 ticket of a €75
order was refunded, three such orders send back €200, not €225."""

from decimal import Decimal

import pytest

from core.queries.cancellation import cancellation_plan
from core.services.orders import refund_tickets
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_orders():
    event = EventFactory(name="Perreo Fridays", currency="eur", venue_capacity=20)
    general = TicketTypeFactory(
        event=event, name="General", price=Decimal("25.00"), capacity=20
    )
    orders = [make_paid_order(general, 3, email=f"b{i}@example.com") for i in range(3)]
    first = orders[0]
    refund_tickets(order_id=first.id, ticket_ids=[first.tickets.first().pk])
    return event


def test_the_plan_counts_what_the_orders_still_hold(three_orders):
    plan = cancellation_plan(three_orders)

    assert plan.paid_orders == 3
    assert plan.paid_total == Decimal("200.00")
    assert plan.refunded_before == Decimal("25.00")


def test_the_cancel_page_says_what_goes_back(client, owner, three_orders):
    client.force_login(owner)

    page = client.get(f"/scanner/events/{three_orders.id}/cancel/").content.decode()

    assert "3 paid orders" in page
    assert "€200.00" in page and "€225.00" not in page
    assert "€25.00 was refunded before" in page
