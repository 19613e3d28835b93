"""Cancelling an event while buyers check out and the worker sweeps, on
Postgres with real concurrent connections."""

import pytest
from django.db import connection

from core.exceptions import SalesClosed, TicketingError
from core.models import Event, Order, TicketType
from core.services.checkout import place_order
from core.services.event_cancellation import (
    EventAlreadyCancelled,
    cancel_event,
    settle_cancelled_events,
)
from tests.core.services.test_concurrency import _run_threads
from tests.factories import TicketTypeFactory, make_paid_order, make_staff

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_checkout_keeps_seats_held_once_the_event_is_cancelled(postgres):
    owner = make_staff()
    ticket_type = TicketTypeFactory(capacity=200)
    event = ticket_type.event

    def act(n: int):
        if n == 0:
            return cancel_event(actor=owner, event_id=event.id, reason="Storm")
        return place_order(
            event_id=event.id,
            quantities={ticket_type.id: 1},
            customer_name="Ana",
            customer_email=f"ana{n}@example.com",
        )

    outcomes = _run_threads(12, act)
    assert all(
        isinstance(o, Event | Order | SalesClosed | TicketingError) for o in outcomes
    ), outcomes
    event.refresh_from_db()
    assert event.cancelled_at is not None and not event.is_active
    # Every order placed before the cancellation was released by it; none
    # after it was placed.
    assert not Order.objects.filter(event=event, status="pending").exists()
    assert TicketType.objects.get(pk=ticket_type.pk).held_count == 0
    connection.close()


def test_two_owners_cancelling_at_once_cancel_once(postgres):
    owner = make_staff()
    event = TicketTypeFactory().event

    outcomes = _run_threads(
        4, lambda n: cancel_event(actor=owner, event_id=event.id, reason=f"R{n}")
    )
    assert sum(isinstance(o, Event) for o in outcomes) == 1
    assert sum(isinstance(o, EventAlreadyCancelled) for o in outcomes) == 3


def test_two_workers_sweeping_at_once_refund_each_order_once(postgres):
    owner = make_staff()
    ticket_type = TicketTypeFactory(capacity=50)
    orders = [
        make_paid_order(ticket_type, 1, email=f"p{i}@example.com") for i in range(6)
    ]
    cancel_event(actor=owner, event_id=ticket_type.event_id, reason="Ill")

    _run_threads(3, lambda n: settle_cancelled_events())

    for order in orders:
        order.refresh_from_db()
        assert order.status == "refunded"
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 0
    assert Event.objects.get(pk=ticket_type.event_id).sold_count == 0
