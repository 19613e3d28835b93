"""The hold sweep closes lapsed holds' Stripe payment pages as a courtesy:
a bounded number a pass, a few at once, one short try each, so that a rush
or a Stripe outage does not hold up the worker; and none is forgotten while
it could still take a payment."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Order
from core.payments import stripe_checkout
from core.services import orders as orders_service
from core.services.checkout import place_order
from core.services.orders import (
    CHECKOUT_CLOSERS,
    CHECKOUT_CLOSES_ITSELF,
    close_lapsed_checkouts,
    sweep_expired_holds,
)
from core.services.payments import start_payment
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db

EXPIRE = r"/v1/checkout/sessions/.*/expire"


def _on_payment_pages(count: int) -> list[Order]:
    """`count` held orders, each with its Stripe payment page open."""
    event = EventFactory(venue_capacity=count)
    ticket_type = TicketTypeFactory(event=event, price="10.00", capacity=count)
    orders = []
    for i in range(count):
        order = place_order(
            event_id=event.id,
            quantities={ticket_type.id: 1},
            customer_name="A",
            customer_email=f"a{i}@example.com",
        )
        start_payment(
            order_id=order.id, success_url="https://t/s", cancel_url="https://t/c"
        )
        order.refresh_from_db()
        orders.append(order)
    return orders


def _lapse(orders: list[Order], ago: timedelta = timedelta(seconds=1)) -> None:
    """The holds lapsed `ago`, the most recent last in `orders`."""
    now = timezone.now()
    for i, order in enumerate(orders):
        Order.objects.filter(pk=order.pk).update(
            hold_expires_at=now - ago - timedelta(seconds=len(orders) - i)
        )


def _open(stub, orders: list[Order]) -> list[Order]:
    return [
        o
        for o in orders
        if stub.sessions[o.stripe_checkout_session_id]["status"] == "open"
    ]


def test_a_rush_of_lapsed_pages_is_closed_at_once_not_one_after_another(
    stripe_stub,
):
    orders = _on_payment_pages(40)
    _lapse(orders)
    stripe_stub.latency = 0.1  # one after another: 4 s

    started = time.perf_counter()
    assert sweep_expired_holds() == 40
    took = time.perf_counter() - started

    assert took < 2.0
    assert len(stripe_stub.calls("POST", EXPIRE)) == 40
    assert _open(stripe_stub, orders) == []
    assert not Order.objects.filter(checkout_to_close=True).exists()
    assert set(Order.objects.values_list("status", flat=True)) == {"expired"}


def test_pages_left_over_from_a_pass_are_closed_on_the_next(stripe_stub, monkeypatch):
    monkeypatch.setattr(orders_service, "CHECKOUTS_CLOSED_PER_PASS", 3)
    orders = _on_payment_pages(7)
    _lapse(orders)

    assert sweep_expired_holds() == 7
    # The most recently lapsed first: they would stay open longest.
    assert _open(stripe_stub, orders) == orders[:4]
    assert close_lapsed_checkouts() == 3
    assert _open(stripe_stub, orders) == orders[:1]
    assert sweep_expired_holds() == 0  # nothing left to expire, one to close
    assert _open(stripe_stub, orders) == []
    assert close_lapsed_checkouts() == 0
    assert len(stripe_stub.calls("POST", EXPIRE)) == 7


def test_a_stripe_outage_costs_a_pass_one_short_timeout_and_loses_no_page(
    stripe_stub, monkeypatch
):
    monkeypatch.setattr(stripe_checkout, "QUICK_TIMEOUT_SECONDS", 0.3)
    orders = _on_payment_pages(30)
    _lapse(orders)
    stripe_stub.latency = 3  # Stripe takes the call but answers too late

    started = time.perf_counter()
    assert sweep_expired_holds() == 30
    took = time.perf_counter() - started

    assert took < 2.0
    assert Order.objects.filter(checkout_to_close=True).count() == 30
    assert set(Order.objects.values_list("status", flat=True)) == {"expired"}
    stripe_stub.latency = 0
    time.sleep(3.5)  # the calls Stripe took finish: it closed those pages
    # One try each (no retries), and none begun once Stripe failed to answer.
    assert len(stripe_stub.calls("POST", EXPIRE)) == CHECKOUT_CLOSERS

    assert close_lapsed_checkouts() == 30
    assert _open(stripe_stub, orders) == []
    assert not Order.objects.filter(checkout_to_close=True).exists()


def test_a_page_stripe_has_closed_itself_is_let_go_uncalled(stripe_stub):
    old, recent = _on_payment_pages(2)
    _lapse([old], ago=CHECKOUT_CLOSES_ITSELF + timedelta(minutes=1))
    _lapse([recent])

    assert sweep_expired_holds() == 2

    (call,) = stripe_stub.calls("POST", EXPIRE)
    assert recent.stripe_checkout_session_id in call.path
    assert not Order.objects.filter(checkout_to_close=True).exists()


def test_only_pages_that_may_still_be_open_wait_to_be_closed():
    """Stripe keeps a page open until the hold ends or for its shortest life
    (rounded up to the minute), whichever is later."""
    longest_after_the_hold = stripe_checkout.MIN_SESSION_LIFE + timedelta(minutes=1)
    assert longest_after_the_hold <= CHECKOUT_CLOSES_ITSELF


def test_an_order_without_a_payment_page_has_nothing_to_close(stripe_stub):
    event = EventFactory(venue_capacity=2)
    ticket_type = TicketTypeFactory(event=event, capacity=2)
    order = place_order(
        event_id=event.id,
        quantities={ticket_type.id: 1},
        customer_name="A",
        customer_email="a@example.com",
    )
    _lapse([order])

    assert sweep_expired_holds() == 1

    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED and not order.checkout_to_close
    assert stripe_stub.calls("POST", EXPIRE) == []


def test_cancelling_while_stripe_is_down_waits_one_short_try_and_leaves_the_page_to_the_sweep(
    stripe_stub, monkeypatch, django_capture_on_commit_callbacks
):
    """A buyer's cancel closes the payment page with one short try: with the
    SDK's retries (80 s a try, three tries) an outage held the request for
    minutes. Unanswered, the page is marked, and the hold sweep closes it."""
    from core.services.orders import cancel_order

    monkeypatch.setattr(stripe_checkout, "QUICK_TIMEOUT_SECONDS", 0.3)
    (order,) = _on_payment_pages(1)
    stripe_stub.latency = 3

    started = time.perf_counter()
    with django_capture_on_commit_callbacks(execute=True):
        cancel_order(order_id=order.id)
    took = time.perf_counter() - started

    assert took < 2.0
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED and order.checkout_to_close
    stripe_stub.latency = 0
    time.sleep(3.2)  # the call Stripe took finishes
    assert close_lapsed_checkouts() == 1
    assert _open(stripe_stub, [order]) == []
    assert not Order.objects.filter(checkout_to_close=True).exists()
