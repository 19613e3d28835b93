from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from core.exceptions import OrderNotPayable
from core.models import Order, OutboundMessage, Payment, Ticket
from core.queries.orders import REFUSED_REFUND_RETRY
from core.services.checkout import place_order
from core.services.fulfilment import ExternalPaymentNotKept
from core.services.orders import cancel_order
from core.services.payments import (
    confirm_payment,
    refund_due_payment,
    refund_due_payments,
    simulated_reference,
    start_payment,
)
from tests.factories import EventFactory, TicketTypeFactory
from tests.factories import make_held_order as _hold
from tests.stubs import StripeStub

pytestmark = pytest.mark.django_db


def _pay(order, reference, provider="stripe", now=None):
    return confirm_payment(
        order_id=order.id,
        provider=provider,
        provider_reference=reference,
        amount=order.total,
        currency=order.currency,
        now=now,
    )


def test_simulated_checkout_goes_to_the_test_page(ticket_type):
    order = _hold(ticket_type)
    url = start_payment(order_id=order.id, success_url="/s", cancel_url="/c")
    assert url.endswith(f"/o/{order.token}/test-payment/")


def test_a_free_order_is_confirmed_without_a_payment_page():
    ticket_type = TicketTypeFactory(price=Decimal("0.00"))
    order = _hold(ticket_type, 2)
    url = start_payment(order_id=order.id, success_url="/done", cancel_url="/c")
    assert url == "/done"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 2


def test_only_a_pending_order_with_a_live_hold_can_be_paid(ticket_type):
    order = _hold(ticket_type)
    cancel_order(order_id=order.id)
    with pytest.raises(OrderNotPayable):
        start_payment(order_id=order.id, success_url="/s", cancel_url="/c")
    lapsed = _hold(ticket_type, hold_minutes=1)
    with pytest.raises(OrderNotPayable):
        start_payment(
            order_id=lapsed.id,
            success_url="/s",
            cancel_url="/c",
            now=timezone.now() + timedelta(minutes=2),
        )


def test_simulated_payment_is_one_payment_however_often_it_is_sent(ticket_type):
    order = _hold(ticket_type, 2)
    for _ in range(3):
        _pay(order, simulated_reference(order), provider="simulated")
    assert Payment.objects.filter(order=order).count() == 1
    assert order.tickets.count() == 2


def test_late_payment_with_seats_still_free_is_fulfilled(ticket_type):
    order = _hold(ticket_type, 2, hold_minutes=5)
    result = _pay(order, "pi_late_ok", now=timezone.now() + timedelta(minutes=10))
    assert result.issued
    order.refresh_from_db()
    assert order.stripe_payment_intent_id == "pi_late_ok"


def test_late_payment_after_the_seats_went_is_refunded_and_explained(
    stripe_stub, django_capture_on_commit_callbacks
):
    event = EventFactory(venue_capacity=2)
    ticket_type = TicketTypeFactory(event=event, capacity=2)
    late = _hold(ticket_type, 2, hold_minutes=5)
    later = timezone.now() + timedelta(minutes=6)
    other = place_order(
        event_id=event.id,
        quantities={ticket_type.id: 2},
        customer_name="Ben",
        customer_email="ben@example.com",
        now=later,
    )
    _pay(other, "pi_other", now=later)

    with django_capture_on_commit_callbacks(execute=True):
        result = _pay(late, "pi_late", now=later)

    assert result.needs_refund and not result.issued
    assert Ticket.objects.filter(order=late).count() == 0
    (refund,) = stripe_stub.calls("POST", "/v1/refunds")
    assert refund.form["payment_intent"] == "pi_late"
    payment = Payment.objects.get(provider_reference="pi_late")
    assert payment.status == Payment.Status.REFUNDED
    late.refresh_from_db()
    assert late.status == Order.Status.REFUNDED
    email = OutboundMessage.objects.get(order=late, kind="payment_refunded")
    assert email.context["why"] == "sold_out"
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 2


def test_a_refund_that_fails_is_retried_by_the_sweep(
    stripe_stub, django_capture_on_commit_callbacks
):
    ticket_type = TicketTypeFactory(capacity=1, event__venue_capacity=1)
    late = _hold(ticket_type, 1, hold_minutes=5)
    later = timezone.now() + timedelta(minutes=6)
    other = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Ben",
        customer_email="ben@example.com",
        now=later,
    )
    _pay(other, "pi_other", now=later)
    stripe_stub.fail_status = 503
    with django_capture_on_commit_callbacks(execute=True):
        _pay(late, "pi_late", now=later)
    payment = Payment.objects.get(provider_reference="pi_late")
    assert payment.status == Payment.Status.REFUND_DUE
    assert not OutboundMessage.objects.filter(kind="payment_refunded").exists()

    stripe_stub.fail_status = None
    assert refund_due_payments() == 1
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert OutboundMessage.objects.filter(kind="payment_refunded").count() == 1
    assert refund_due_payments() == 0


def test_a_second_payment_for_a_paid_order_goes_back(
    stripe_stub, ticket_type, django_capture_on_commit_callbacks
):
    order = _hold(ticket_type, 1)
    _pay(order, "pi_first")
    with django_capture_on_commit_callbacks(execute=True):
        result = _pay(order, "pi_second")
    assert result.needs_refund
    assert order.tickets.count() == 1
    assert Payment.objects.get(provider_reference="pi_first").status == "succeeded"
    assert Payment.objects.get(provider_reference="pi_second").status == "refunded"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    email = OutboundMessage.objects.get(kind="payment_refunded")
    assert email.context["why"] == "already_paid"


def test_a_repeat_of_a_refunded_payment_never_issues(ticket_type):
    """Seats freeing up later must not turn a refunded late payment into tickets."""
    event = ticket_type.event
    ticket_type.capacity = 1
    ticket_type.save()
    late = _hold(ticket_type, 1, hold_minutes=5)
    later = timezone.now() + timedelta(minutes=6)
    blocker = place_order(
        event_id=event.id,
        quantities={ticket_type.id: 1},
        customer_name="Ben",
        customer_email="ben@example.com",
        now=later,
    )
    assert _pay(late, "pi_late", now=later).needs_refund
    cancel_order(order_id=blocker.id)  # the seat is free again
    again = _pay(late, "pi_late", now=later)
    assert not again.issued
    assert Ticket.objects.filter(order=late).count() == 0


def _keys(stripe_stub):
    return [
        c.headers.get("idempotency-key")
        for c in stripe_stub.calls("POST", "/v1/refunds")
    ]


def test_a_refused_refund_of_a_second_payment_is_retried_under_a_new_key(
    stripe_stub, ticket_type, django_capture_on_commit_callbacks
):
    """Stripe replays a refusal to its key for a day: once the cause is put
    right, only a new key refunds. A refusal waits REFUSED_REFUND_RETRY
    between tries, its reason kept for the owner until one goes through."""
    order = _hold(ticket_type, 1)
    _pay(order, "pi_first")
    stripe_stub.refuse_refunds()
    with django_capture_on_commit_callbacks(execute=True):
        _pay(order, "pi_second")
    payment = Payment.objects.get(provider_reference="pi_second")
    assert payment.status == Payment.Status.REFUND_DUE
    assert payment.refund_attempt == 2
    assert payment.refund_refusal_reason == StripeStub.LOW_BALANCE
    first = f"refund-{payment.pk}"

    assert refund_due_payments() == 0
    assert _keys(stripe_stub) == [first]  # not asked again at once
    later = payment.updated_at + REFUSED_REFUND_RETRY
    assert refund_due_payments(now=later) == 0
    assert _keys(stripe_stub) == [first, f"{first}-2"]
    stripe_stub.accept_refunds()
    assert refund_due_payments(now=later) == 0
    assert len(_keys(stripe_stub)) == 2

    assert refund_due_payments(now=later + REFUSED_REFUND_RETRY) == 1

    assert _keys(stripe_stub) == [first, f"{first}-2", f"{first}-3"]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert payment.refund_refusal_reason == ""
    assert len(stripe_stub.refunds) == 1
    assert OutboundMessage.objects.filter(kind="payment_refunded").count() == 1


def test_a_refund_of_a_second_payment_with_no_answer_is_resent_under_its_key(
    stripe_stub, ticket_type, django_capture_on_commit_callbacks
):
    """Stripe may have made a refund it did not answer: the same key is
    resent, so it is made once."""
    order = _hold(ticket_type, 1)
    _pay(order, "pi_first")
    stripe_stub.fail_status = 503
    with django_capture_on_commit_callbacks(execute=True):
        _pay(order, "pi_second")
    assert refund_due_payments() == 0
    stripe_stub.fail_status = None

    assert refund_due_payments() == 1

    payment = Payment.objects.get(provider_reference="pi_second")
    assert _keys(stripe_stub) == [f"refund-{payment.pk}"] * 3
    assert (payment.status, payment.refund_attempt) == ("refunded", 1)


def test_an_external_payment_is_never_turned_away_to_be_refunded(
    ticket_type, django_capture_on_commit_callbacks
):
    """The other channel took that money: we cannot send it back, so no
    payment of its is marked due and no 'refunded' email goes out."""
    order = _hold(ticket_type, 1)
    _pay(order, "pi_first")
    with (
        pytest.raises(ExternalPaymentNotKept),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),  # the caller's (record_external_sale's)
    ):
        _pay(order, "ext_second", provider=Payment.Provider.EXTERNAL)
    assert refund_due_payments() == 0
    assert list(order.payments.values_list("provider_reference", flat=True)) == [
        "pi_first"
    ]
    assert not OutboundMessage.objects.filter(kind="payment_refunded").exists()


def test_an_external_payment_left_due_is_not_settled_as_refunded(ticket_type):
    """One marked due before the guard (or by hand) stays as it is: never
    booked as refunded, never emailed about."""
    order = _hold(ticket_type, 1)
    _pay(order, "pi_first")
    payment = Payment.objects.create(
        order=order,
        provider=Payment.Provider.EXTERNAL,
        provider_reference="ext_due",
        amount=order.total,
        currency=order.currency,
        status=Payment.Status.REFUND_DUE,
    )
    assert refund_due_payments() == 0
    assert refund_due_payment(payment_id=payment.pk) is False
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUND_DUE and payment.refunded_at is None
    assert not OutboundMessage.objects.filter(kind="payment_refunded").exists()
