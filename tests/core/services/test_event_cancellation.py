import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.exceptions import InvalidRequest, PermissionRefused
from core.models import (
    AuditLogEntry,
    Event,
    Order,
    OutboundMessage,
    Payment,
    Refund,
    Ticket,
    WaitlistEntry,
)
from core.queries.cancellation import cancellation_plan, cancellation_progress
from core.services.comps import issue_comp_tickets
from core.services.event_cancellation import (
    RETRY_AFTER,
    EventAlreadyCancelled,
    cancel_event,
    settle_cancelled_events,
)
from core.services.events import duplicate_event, set_event_active
from core.services.external_sales import record_external_sale
from tests.factories import make_held_order, make_paid_order

pytestmark = pytest.mark.django_db


def _stripe_paid(ticket_type, email="buyer@example.com", phone="", quantity=1):
    order = make_paid_order(ticket_type, quantity, email=email)
    if phone:
        Order.objects.filter(pk=order.pk).update(customer_phone=phone)
    Payment.objects.filter(order=order).update(
        provider="stripe", provider_reference=f"pi_{order.code}"
    )
    order.refresh_from_db()
    return order


def _comp(owner, ticket_type, email="guest@example.com"):
    return issue_comp_tickets(
        actor=owner,
        event_id=ticket_type.event_id,
        ticket_type_id=ticket_type.id,
        quantity=2,
        guest_name="Guest",
        guest_email=email,
    )


def _external(ticket_type, email="ext@example.com"):
    return record_external_sale(
        external_order_id=str(uuid.uuid4()),
        event_name=ticket_type.event.name,
        ticket_type_name=ticket_type.name,
        quantity=1,
        customer_email=email,
        customer_name="Ext Buyer",
        payment_reference=f"ext-{uuid.uuid4()}",
        price_paid=Decimal("30.00"),
    ).order


def _waiting(event, email="wait@example.com"):
    return WaitlistEntry.objects.create(event=event, name="W", email=email, quantity=1)


def _cancel(owner, event, reason="The artist is ill", capture=None):
    if capture is None:
        return cancel_event(actor=owner, event_id=event.id, reason=reason)
    with capture(execute=True):
        return cancel_event(actor=owner, event_id=event.id, reason=reason)


def test_cancel_event_records_takes_off_sale_releases_holds_and_tells_everyone(
    owner, ticket_type, django_capture_on_commit_callbacks
):
    event = ticket_type.event
    paid = _stripe_paid(ticket_type, phone="+34600111222")
    comp = _comp(owner, ticket_type)
    held = make_held_order(ticket_type, 2)
    entry = _waiting(event)

    result = _cancel(owner, event, capture=django_capture_on_commit_callbacks)

    event.refresh_from_db()
    assert result.pk == event.pk
    assert event.cancelled_at is not None
    assert event.cancelled_by == owner
    assert event.cancel_reason == "The artist is ill"
    assert event.is_active is False
    held.refresh_from_db()
    assert held.status == Order.Status.CANCELLED
    ticket_type.refresh_from_db()
    assert ticket_type.held_count == 0
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.REMOVED
    (told_waiting,) = OutboundMessage.objects.filter(kind="event_cancelled_waitlist")
    assert told_waiting.to == "wait@example.com"
    paid_msgs = OutboundMessage.objects.filter(order=paid, kind="event_cancelled")
    assert sorted(paid_msgs.values_list("channel", flat=True)) == ["email", "sms"]
    email = paid_msgs.get(channel="email")
    assert email.context["reason"] == "The artist is ill"
    assert email.context["amount"] == "25.00"
    comp_msg = OutboundMessage.objects.get(order=comp, kind="event_cancelled")
    assert comp_msg.context["source"] == "comp"
    assert AuditLogEntry.objects.filter(action="event.cancel").count() == 1
    # Nothing is refunded in the request: the worker does it.
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID


def test_cancel_event_refuses_bad_input_and_changes_nothing(owner, manager, event):
    for reason in ("", "   ", "x" * 301):
        with pytest.raises(InvalidRequest) as caught:
            cancel_event(actor=owner, event_id=event.id, reason=reason)
        assert caught.value.detail["field"] == "reason"
    with pytest.raises(PermissionRefused):
        cancel_event(actor=manager, event_id=event.id, reason="Ill")
    event.refresh_from_db()
    assert event.cancelled_at is None and event.is_active


def test_cancelling_twice_is_refused_and_changes_nothing(owner, ticket_type):
    event = ticket_type.event
    _stripe_paid(ticket_type)
    _cancel(owner, event)
    messages = OutboundMessage.objects.count()
    with pytest.raises(EventAlreadyCancelled):
        _cancel(owner, event, reason="Another reason")
    event.refresh_from_db()
    assert event.cancel_reason == "The artist is ill"
    assert OutboundMessage.objects.count() == messages


def test_sweep_refunds_paid_orders_through_stripe_once_and_is_safe_to_rerun(
    owner, ticket_type, stripe_stub
):
    event = ticket_type.event
    orders = [_stripe_paid(ticket_type, email=f"b{i}@example.com") for i in range(3)]
    _cancel(owner, event)

    assert settle_cancelled_events(limit=2) == 2
    assert settle_cancelled_events(limit=2) == 1
    assert settle_cancelled_events() == 0

    for order in orders:
        order.refresh_from_db()
        assert order.status == Order.Status.REFUNDED
        assert set(order.tickets.values_list("status", flat=True)) == {"void"}
    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 3
    event.refresh_from_db()
    progress = cancellation_progress(event)
    assert (progress.refunded, progress.to_refund, progress.failed) == (3, 3, [])
    assert progress.done


def test_each_holder_gets_one_message_and_no_refund_email(
    owner, ticket_type, stripe_stub
):
    event = ticket_type.event
    order = _stripe_paid(ticket_type)
    comp = _comp(owner, ticket_type)
    _cancel(owner, event)
    settle_cancelled_events()
    for o in (order, comp):
        kinds = list(
            OutboundMessage.objects.filter(order=o, channel="email")
            .exclude(kind="order_confirmation")
            .values_list("kind", flat=True)
        )
        assert kinds == ["event_cancelled"]


def test_a_stripe_failure_is_shown_and_retried_next_round(
    owner, ticket_type, stripe_stub
):
    event = ticket_type.event
    order = _stripe_paid(ticket_type)
    _cancel(owner, event)
    stripe_stub.refuse_refunds()

    assert settle_cancelled_events() == 0
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    event.refresh_from_db()
    progress = cancellation_progress(event)
    assert [f.order.pk for f in progress.failed] == [order.pk]
    assert "insufficient funds" in progress.failed[0].reason
    # Not asked again at once...
    assert settle_cancelled_events() == 0
    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 1

    # ...but a later round, once Stripe accepts, refunds it.
    stripe_stub.accept_refunds()
    later = timezone.now() + RETRY_AFTER + timedelta(seconds=1)
    assert settle_cancelled_events(now=later) == 1
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert cancellation_progress(event).failed == []
    assert Refund.objects.filter(order=order, status="succeeded").count() == 1


def test_stripe_down_ends_the_round_and_the_rest_wait(owner, ticket_type, stripe_stub):
    event = ticket_type.event
    orders = [_stripe_paid(ticket_type, email=f"d{i}@example.com") for i in range(2)]
    _cancel(owner, event)
    stripe_stub.fail_status = 500
    assert settle_cancelled_events() == 0
    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 1
    stripe_stub.fail_status = None
    # Failed: waits RETRY_AFTER; the one not asked goes now.
    assert settle_cancelled_events() == 1
    later = timezone.now() + RETRY_AFTER + timedelta(seconds=1)
    assert settle_cancelled_events(now=later) == 1
    for order in orders:
        order.refresh_from_db()
        assert order.status == Order.Status.REFUNDED


def test_sweep_cancels_comps_and_voids_external_sales(owner, ticket_type):
    event = ticket_type.event
    comp = _comp(owner, ticket_type)
    external = _external(ticket_type)
    plan = cancellation_plan(event)
    assert (plan.free_tickets, plan.free_orders) == (2, 1)
    assert [o.pk for o in plan.external_orders] == [external.pk]
    _cancel(owner, event)

    settle_cancelled_events()

    comp.refresh_from_db()
    external.refresh_from_db()
    assert comp.status == Order.Status.CANCELLED
    assert external.status == Order.Status.REFUNDED
    assert not Ticket.objects.filter(event=event).exclude(status="void").exists()
    event.refresh_from_db()
    progress = cancellation_progress(event)
    assert progress.free_left == 0 and progress.external_left == 0
    assert [o.pk for o in progress.external_voided] == [external.pk]
    event.refresh_from_db()
    assert event.sold_count == 0


def test_an_order_paid_after_the_cancellation_is_told_and_refunded(owner, ticket_type):
    from tests.factories import pay_simulated

    event = ticket_type.event
    processing = make_held_order(ticket_type, 1)
    Order.objects.filter(pk=processing.pk).update(status=Order.Status.PROCESSING)
    _cancel(owner, event)
    # Its payment (under way) clears after the cancellation.
    pay_simulated(processing)
    processing.refresh_from_db()
    assert processing.status == Order.Status.PAID

    settle_cancelled_events()

    processing.refresh_from_db()
    assert processing.status == Order.Status.REFUNDED
    assert (
        OutboundMessage.objects.filter(
            order=processing, kind="event_cancelled", channel="email"
        ).count()
        == 1
    )
    assert not OutboundMessage.objects.filter(
        order=processing, kind="order_refunded"
    ).exists()


def test_a_cancelled_event_cannot_go_back_on_sale_but_can_be_duplicated(
    owner, ticket_type
):
    event = ticket_type.event
    _cancel(owner, event)
    with pytest.raises(InvalidRequest) as caught:
        set_event_active(actor=owner, event_id=event.id, active=True)
    assert caught.value.code == "event_cancelled"
    event.refresh_from_db()
    assert not event.is_active
    copy = duplicate_event(actor=owner, event_id=event.id, name="New date")
    assert copy.cancelled_at is None and copy.cancel_reason == ""
    set_event_active(actor=owner, event_id=copy.id, active=True)
    assert Event.objects.get(pk=copy.pk).is_active


def test_the_waitlist_of_a_cancelled_event_makes_no_offers(owner, ticket_type):
    from core.services.waitlist import offer_freed_seats

    event = ticket_type.event
    _cancel(owner, event)
    _waiting(event, email="late@example.com")
    assert offer_freed_seats(event_id=event.id) == []


def test_editing_a_cancelled_event_works_but_cannot_put_it_on_sale(owner, ticket_type):
    from dataclasses import replace

    from core.services.events import event_details_of, update_event

    event = ticket_type.event
    _cancel(owner, event)
    event.refresh_from_db()
    details = event_details_of(event)
    update_event(
        actor=owner,
        event_id=event.id,
        details=replace(details, description="Cancelled: see you next year"),
        ticket_types=[],
    )
    event.refresh_from_db()
    assert event.description == "Cancelled: see you next year"
    with pytest.raises(InvalidRequest) as caught:
        update_event(
            actor=owner,
            event_id=event.id,
            details=replace(details, is_active=True),
            ticket_types=[],
        )
    assert caught.value.code == "event_cancelled"
    event.refresh_from_db()
    assert not event.is_active
