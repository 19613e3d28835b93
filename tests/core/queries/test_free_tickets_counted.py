"""Tickets bought online from a type priced 0 are free tickets, as the
owner's comps are: "sold" is tickets paid for everywhere (analytics, the
console's event list and event page, the sales charts), free ones beside it,
and cancelling one is not a refund."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import Order
from core.queries import analytics
from core.queries.console import free_tickets_by_event
from core.queries.event_page import event_page_figures
from core.services.checkout import place_order
from core.services.comps import issue_comp_tickets
from core.services.payments import start_payment
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_paid_order,
    make_staff,
)

pytestmark = pytest.mark.django_db


def rsvp(ticket_type, quantity=1, *, email="rsvp@example.com"):
    """Free tickets taken on the buy page: a web order of total 0,
    confirmed at once (start_payment), no card."""
    order = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: quantity},
        customer_name="Rae Svp",
        customer_email=email,
    )
    start_payment(order_id=order.id, success_url="/ok", cancel_url="/no")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.total == 0
    return order


@pytest.fixture
def show():
    event = EventFactory(
        starts_at=timezone.now() + dt.timedelta(days=10), venue_capacity=250
    )
    free = TicketTypeFactory(
        event=event, name="FREE RSVP", price=Decimal("0.00"), capacity=100
    )
    ga = TicketTypeFactory(event=event, name="GA", price=Decimal("20.00"), capacity=100)
    return event, free, ga


def test_free_tickets_bought_online_are_free_not_sold(show):
    event, free, ga = show
    rsvp(free, 2)
    make_paid_order(ga, 3)
    issue_comp_tickets(
        actor=make_staff("owner"),
        event_id=event.id,
        ticket_type_id=ga.id,
        quantity=1,
        guest_name="Guest",
        guest_email="guest@example.com",
    )

    sales = analytics.event_sales(event)
    types = {t.name: t for t in sales.types}
    assert (types["FREE RSVP"].sold, types["FREE RSVP"].free) == (0, 2)
    assert (types["GA"].sold, types["GA"].free) == (3, 1)
    assert (sales.figures.sold, sales.figures.free, sales.figures.issued) == (3, 3, 6)
    overview = analytics.event_figures_for([event])[event.id]
    assert (overview.sold, overview.free) == (3, 3)

    assert free_tickets_by_event([event.id]) == {event.id: 3}
    page = event_page_figures(event)
    assert (page.total_paid, page.total_free) == (3, 3)
    assert {t.row.name: (t.paid, t.free) for t in page.types} == {
        "FREE RSVP": (0, 2),
        "GA": (3, 1),
    }

    over_time = analytics.sales_over_time(event)
    assert sum(day.tickets for day in over_time.days) == 3


def test_a_free_ticket_voided_is_a_cancelled_free_ticket_not_a_refund(show):
    from core.services.orders import refund_tickets

    event, free, ga = show
    order = rsvp(free, 2)
    paid = make_paid_order(ga, 2)
    refund_tickets(order_id=paid.id, ticket_ids=[paid.tickets.first().pk])
    # However it was voided (before this fix, from the order page's refund).
    order.tickets.filter(pk=order.tickets.first().pk).update(status="void")

    figures = analytics.event_sales(event).figures
    assert (figures.free, figures.free_cancelled) == (1, 1)
    assert figures.refunds == analytics.Refunds(amount=Decimal("20.00"), tickets=1)
