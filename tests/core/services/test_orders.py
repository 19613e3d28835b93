from datetime import timedelta

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from core.exceptions import OrderNotCancellable, OrderNotRefundable
from core.models import Order, OutboundMessage, Payment, Ticket, TicketType
from core.queries.availability import get_event_availability
from core.queries.door import checked_in_by_type
from core.services.counters import count_check_ins
from core.services.orders import (
    cancel_order,
    refund_order,
    sweep_expired_holds,
    void_order,
)
from core.services.payments import start_payment
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order
from tests.factories import make_held_order as _hold

pytestmark = pytest.mark.django_db


def _assert_counters_match_recount(event):
    event.refresh_from_db()
    live = Ticket.objects.filter(event=event).exclude(status=Ticket.Status.VOID)
    assert event.sold_count == live.count()
    checked_in = checked_in_by_type(event.pk)
    assert sum(checked_in.values()) == live.filter(status=Ticket.Status.USED).count()
    for ticket_type in TicketType.objects.filter(event=event).annotate(
        live=Count("tickets", filter=~Q(tickets__status=Ticket.Status.VOID)),
        used=Count("tickets", filter=Q(tickets__status=Ticket.Status.USED)),
    ):
        assert ticket_type.sold_count == ticket_type.live
        assert checked_in.get(ticket_type.pk, 0) == ticket_type.used


def test_cancel_releases_the_hold_at_once(django_capture_on_commit_callbacks):
    ticket_type = TicketTypeFactory(capacity=4)
    order = _hold(ticket_type, 4)
    assert get_event_availability(ticket_type.event).is_sold_out
    with django_capture_on_commit_callbacks() as callbacks:
        cancel_order(order_id=order.id)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert get_event_availability(ticket_type.event).total_available == 4
    assert callbacks, "cancelling must announce the freed seats"


def test_cancelling_twice_is_harmless(ticket_type):
    order = _hold(ticket_type)
    cancel_order(order_id=order.id)
    assert cancel_order(order_id=order.id).status == Order.Status.CANCELLED


def test_a_paid_order_cannot_be_cancelled(ticket_type):
    order = make_paid_order(ticket_type, 1)
    with pytest.raises(OrderNotCancellable):
        cancel_order(order_id=order.id)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_cancel_expires_the_stripe_session(
    stripe_stub, ticket_type, django_capture_on_commit_callbacks
):
    order = _hold(ticket_type)
    start_payment(
        order_id=order.id, success_url="https://t/s", cancel_url="https://t/c"
    )
    order.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        cancel_order(order_id=order.id)
    assert stripe_stub.sessions[order.stripe_checkout_session_id]["status"] == "expired"


def test_sweep_marks_lapsed_holds_expired_and_leaves_live_ones(
    django_capture_on_commit_callbacks,
):
    ticket_type = TicketTypeFactory(capacity=10)
    lapsed = _hold(ticket_type, 2, hold_minutes=5)
    live = _hold(ticket_type, 2, hold_minutes=30)
    paid = make_paid_order(ticket_type, 1)
    later = timezone.now() + timedelta(minutes=10)
    with django_capture_on_commit_callbacks() as callbacks:
        assert sweep_expired_holds(now=later) == 1
    assert callbacks, "the sweep must announce freed capacity"
    statuses = dict(Order.objects.values_list("id", "status"))
    assert statuses[lapsed.id] == Order.Status.EXPIRED
    assert statuses[live.id] == Order.Status.PENDING
    assert statuses[paid.id] == Order.Status.PAID
    assert sweep_expired_holds(now=later) == 0


def test_sweep_expires_stripe_sessions_of_lapsed_holds(
    stripe_stub, ticket_type, django_capture_on_commit_callbacks
):
    order = _hold(ticket_type, hold_minutes=5)
    start_payment(
        order_id=order.id, success_url="https://t/s", cancel_url="https://t/c"
    )
    order.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        sweep_expired_holds(now=timezone.now() + timedelta(minutes=6))
    assert stripe_stub.sessions[order.stripe_checkout_session_id]["status"] == "expired"


def test_refund_voids_tickets_frees_seats_and_keeps_counters_true():
    event = EventFactory(venue_capacity=10)
    ticket_type = TicketTypeFactory(event=event, capacity=10)
    keep = make_paid_order(ticket_type, 2)
    order = make_paid_order(ticket_type, 3)
    # One of the refunded tickets was already scanned in.
    used = order.tickets.first()
    Ticket.objects.filter(pk=used.pk).update(
        status=Ticket.Status.USED, scanned_at=timezone.now()
    )
    count_check_ins(event_id=event.pk, tickets=[(ticket_type.pk, used.code)], by=1)

    refund_order(order_id=order.id, reason="show moved")

    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert set(order.tickets.values_list("status", flat=True)) == {"void"}
    assert set(keep.tickets.values_list("status", flat=True)) == {"issued"}
    assert order.payments.get().status == Payment.Status.REFUNDED
    _assert_counters_match_recount(event)
    assert get_event_availability(event).total_available == 8
    email = OutboundMessage.objects.get(order=order, kind="order_refunded")
    assert email.context["reason"] == "show moved"


def test_refund_of_a_stripe_payment_calls_stripe_first(stripe_stub, ticket_type):
    order = make_paid_order(ticket_type, 1)
    Payment.objects.filter(order=order).update(
        provider="stripe", provider_reference="pi_test_77"
    )
    refund_order(order_id=order.id)
    (call,) = stripe_stub.calls("POST", "/v1/refunds")
    assert call.form["payment_intent"] == "pi_test_77"
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED


def test_a_refund_stripe_refuses_changes_nothing(stripe_stub, ticket_type):
    from core.exceptions import PaymentUnavailable

    order = make_paid_order(ticket_type, 1)
    Payment.objects.filter(order=order).update(
        provider="stripe", provider_reference="pi_test_78"
    )
    stripe_stub.fail_status = 500
    with pytest.raises(PaymentUnavailable):
        refund_order(order_id=order.id)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert set(order.tickets.values_list("status", flat=True)) == {"issued"}


def test_only_paid_orders_are_refunded(ticket_type):
    order = _hold(ticket_type)
    with pytest.raises(OrderNotRefundable):
        refund_order(order_id=order.id)


def test_voiding_twice_moves_the_counters_once(ticket_type):
    order = make_paid_order(ticket_type, 2)
    void_order(order_id=order.id)
    void_order(order_id=order.id)
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 0
    assert OutboundMessage.objects.filter(kind="order_refunded").count() == 1
    _assert_counters_match_recount(ticket_type.event)


def test_a_refund_still_due_survives_voiding_the_order(ticket_type):
    """A second payment waiting to go back must still be sent back."""
    order = make_paid_order(ticket_type, 1)
    extra = Payment.objects.create(
        order=order,
        provider="simulated",
        provider_reference="sim-extra",
        amount=order.total,
        currency=order.currency,
        status=Payment.Status.REFUND_DUE,
    )
    void_order(order_id=order.id)
    extra.refresh_from_db()
    assert extra.status == Payment.Status.REFUND_DUE
    from core.services.payments import refund_due_payments

    assert refund_due_payments() == 1
    extra.refresh_from_db()
    assert extra.status == Payment.Status.REFUNDED
