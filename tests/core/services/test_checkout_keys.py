"""place_order with the buy form's checkout key: the same form placed once.

Runs on either database: SQLite takes the Python path, Postgres
core_place_hold (ADR 11).
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.exceptions import SoldOut
from core.models import Order
from core.queries.availability import held_by_type
from core.services import checkout_keys
from core.services.checkout_keys import place_order_once
from core.services.orders import cancel_order
from tests.core.services.test_checkout import _order
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_paid_order,
    pay_simulated,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return str(uuid.uuid4())


def test_the_same_key_twice_places_one_order_and_returns_it(ticket_type, key):
    first = _order(ticket_type, 2, checkout_key=key)
    again = _order(ticket_type, 2, checkout_key=key)
    assert again.pk == first.pk
    assert again.event == ticket_type.event
    assert Order.objects.get().checkout_key == key
    assert held_by_type(event_ids=[ticket_type.event_id]) == {ticket_type.id: 2}


def test_without_a_key_each_call_places_an_order(ticket_type):
    first = _order(ticket_type, 1)
    second = _order(ticket_type, 1)
    assert first.pk != second.pk
    assert Order.objects.filter(checkout_key=None).count() == 2


def test_the_same_key_for_another_event_places_its_own_order(ticket_type, key):
    other = TicketTypeFactory(event=EventFactory(name="Elsewhere"))
    first = _order(ticket_type, 1, checkout_key=key)
    second = _order(other, 1, checkout_key=key)
    assert first.pk != second.pk
    assert Order.objects.filter(checkout_key=key).count() == 2


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": 3},
        {"customer_email": "bo@example.com"},
        {"customer_name": "Bo"},
        {"customer_phone": "+14155550123"},
    ],
)
def test_another_order_on_the_same_key_is_placed_and_takes_the_key(
    ticket_type, key, change
):
    """Not the same order: the first is left holding, untouched, and the
    newest order on the key answers a repeat."""
    first = _order(ticket_type, 2, checkout_key=key)
    quantity = change.pop("quantity", 2)
    second = _order(ticket_type, quantity, checkout_key=key, **change)
    first.refresh_from_db()
    assert second.pk != first.pk
    assert (first.status, first.checkout_key) == (Order.Status.PENDING, key)
    assert _order(ticket_type, quantity, checkout_key=key, **change).pk == second.pk
    assert Order.objects.filter(checkout_key=key).count() == 2


def _lapse(order):
    Order.objects.filter(pk=order.pk).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.parametrize(
    "end",
    [
        lambda order: cancel_order(order_id=order.id),
        _lapse,
        lambda order: Order.objects.filter(pk=order.pk).update(
            status=Order.Status.PROCESSING
        ),
    ],
    ids=["cancelled", "lapsed", "processing"],
)
def test_an_order_no_longer_payable_leaves_the_key_to_a_new_one(ticket_type, key, end):
    first = _order(ticket_type, 1, checkout_key=key)
    end(first)
    second = _order(ticket_type, 1, checkout_key=key)
    assert second.pk != first.pk
    assert _order(ticket_type, 1, checkout_key=key).pk == second.pk


def test_a_paid_order_keeps_its_tickets_and_a_new_one_is_placed(key):
    ticket_type = TicketTypeFactory(capacity=5)
    first = make_paid_order(ticket_type, 1)
    Order.objects.filter(pk=first.pk).update(checkout_key=key)
    second = _order(ticket_type, 1, checkout_key=key)
    first.refresh_from_db()
    assert (first.status, first.checkout_key) == (Order.Status.PAID, key)
    assert second.pk != first.pk and second.checkout_key == key


def test_a_refused_order_leaves_the_key_where_it_was(key):
    ticket_type = TicketTypeFactory(capacity=3, max_per_order=10)
    first = _order(ticket_type, 2, checkout_key=key)
    with pytest.raises(SoldOut):
        _order(ticket_type, 5, checkout_key=key)
    assert Order.objects.get(checkout_key=key) == first


def test_placing_on_a_used_key_never_writes_the_earlier_order(ticket_type, key):
    """A payment or refund locks its order before the event; a checkout holds
    the event's lock. Writing the earlier order's row there could deadlock,
    so the earlier order is left exactly as it was."""
    first = _order(ticket_type, 1, checkout_key=key)
    before = Order.objects.filter(pk=first.pk).values().get()
    _order(ticket_type, 2, checkout_key=key)
    assert Order.objects.filter(pk=first.pk).values().get() == before


def test_a_repeat_after_its_first_submit_took_the_last_seats_finds_that_order(key):
    """Refused before the locks, the repeat would tell the buyer whose order
    holds the last seats that they are sold out."""
    ticket_type = TicketTypeFactory(capacity=2)
    first = _order(ticket_type, 2, checkout_key=key)
    assert _order(ticket_type, 2, checkout_key=key).pk == first.pk
    with pytest.raises(SoldOut):
        _order(ticket_type, 1, checkout_key=str(uuid.uuid4()))
    cancel_order(order_id=first.pk)
    # Its order gone, the same form is refused like anyone's.
    _order(ticket_type, 2, checkout_key=str(uuid.uuid4()))
    with pytest.raises(SoldOut):
        _order(ticket_type, 2, checkout_key=key)


def _again(earlier, ticket_type, quantity, key, **buyer):
    return place_order_once(
        earlier_order_id=earlier.pk,
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: quantity},
        customer_name=buyer.get("name", "Ana"),
        customer_email=buyer.get("email", "ana@example.com"),
        customer_phone=buyer.get("phone", ""),
        checkout_key=key,
    )


def test_a_corrected_buyer_is_the_earlier_order_corrected(key):
    """The last seats, held: sent again with the buyer's details corrected,
    the same order holds them with the details as place_order keeps them."""
    ticket_type = TicketTypeFactory(capacity=2)
    first = _order(ticket_type, 2, checkout_key=key, customer_email="ana@exmaple.com")
    again = _again(
        first, ticket_type, 2, key, email=" Ana@Example.com ", phone="+1 415 555 0123"
    )
    assert again.pk == first.pk and again.event == ticket_type.event
    assert (again.customer_email, again.customer_phone) == (
        "ana@example.com",
        "+14155550123",
    )
    first.refresh_from_db()
    assert (first.status, first.customer_email, first.customer_phone) == (
        Order.Status.PENDING,
        "ana@example.com",
        "+14155550123",
    )
    assert (first.checkout_key, first.hold_expires_at) == (key, again.hold_expires_at)
    assert held_by_type(event_ids=[ticket_type.event_id]) == {ticket_type.id: 2}


def test_an_order_paid_before_its_buyer_is_corrected_is_left_alone(
    ticket_type, key, monkeypatch
):
    """Paid between the read and the order's lock (on the first payment
    page): its details stay those it was paid with, and the corrected form
    places an order of its own."""
    first = _order(ticket_type, 1, checkout_key=key, customer_email="ana@exmaple.com")
    read = Order.objects.select_related("event").get(pk=first.pk)
    pay_simulated(first)
    monkeypatch.setattr(checkout_keys, "_still_holding", lambda *args: read)
    again = _again(first, ticket_type, 1, key, email="ana@example.com")
    first.refresh_from_db()
    assert (first.status, first.customer_email) == (
        Order.Status.PAID,
        "ana@exmaple.com",
    )
    assert again.pk != first.pk
    assert (again.status, again.customer_email) == (
        Order.Status.PENDING,
        "ana@example.com",
    )
