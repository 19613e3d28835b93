"""An order's life after it was placed: cancel, expire, refund.

Each of these frees capacity and announces it after commit. Locks are always
taken order first, then (for refunds) the order's tickets, then the event and
its ticket types in primary-key order: the order fulfil_order uses, and the
door's check-in locks a ticket before it moves the counters, so none of them
can deadlock with another.
"""

import logging
from collections import Counter
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import realtime
from core.exceptions import OrderNotCancellable, OrderNotRefundable, PaymentUnavailable
from core.models import Event, Order, Payment, Ticket, TicketType
from core.notify.outbox import queue_email
from core.payments import get_provider
from core.services.audit import jsonable, record_change
from core.services.counters import count_check_ins
from core.services.locks import lock_order
from core.services.waitlist import offer_after_commit

logger = logging.getLogger(__name__)

HOLDING = (Order.Status.PENDING, Order.Status.PROCESSING)
CLOSED = (Order.Status.CANCELLED, Order.Status.EXPIRED, Order.Status.REFUNDED)
# Payments whose money we hold and can give back through a provider.
REFUNDABLE_PROVIDERS = (Payment.Provider.STRIPE, Payment.Provider.SIMULATED)


def close_checkout_quietly(session_id: str | None) -> None:
    """Expire a Stripe payment page; a failure only means Stripe expires it later."""
    if not session_id:
        return
    try:
        get_provider("stripe").expire_checkout(session_id)
    except PaymentUnavailable:
        logger.warning("Could not expire checkout session %s", session_id)


@transaction.atomic
def cancel_order(*, order_id, now: datetime | None = None) -> Order:
    """Cancel a pending order at the buyer's request, releasing its hold.

    Locks the order. An order already cancelled, expired or refunded is
    returned unchanged, so cancelling twice is harmless. After commit, closes
    the provider's payment page (best effort) and announces availability.
    Raises OrderNotCancellable for a paid order or one whose payment is
    processing.
    """
    now = now or timezone.now()
    order = lock_order(order_id)
    if order.status in CLOSED:
        return order
    if order.source == Order.Source.WAITLIST and order.status == Order.Status.PENDING:
        # A waitlist offer stays held until it expires: backing out of the
        # payment page must not hand the tickets to the next person.
        session_id = order.stripe_checkout_session_id
        transaction.on_commit(lambda: close_checkout_quietly(session_id))
        return order
    if order.status != Order.Status.PENDING:
        raise OrderNotCancellable(
            "This order is paid or its payment is being processed, so it cannot be "
            "cancelled here."
        )
    order.status = Order.Status.CANCELLED
    order.updated_at = now
    order.save(update_fields=["status", "updated_at"])
    session_id = order.stripe_checkout_session_id
    transaction.on_commit(lambda: close_checkout_quietly(session_id))
    realtime.announce_availability_changed(order.event_id, reason="cancelled")
    offer_after_commit(order.event_id)
    return order


@transaction.atomic
def expire_order(
    *, order_id, nowait: bool = False, now: datetime | None = None
) -> Order:
    """Mark one pending order expired (its payment page expired at the provider).

    Locks the order (OrderBusy with `nowait`). Only a pending order whose hold
    has lapsed changes; anything else is returned unchanged. Announces
    availability after commit.
    """
    now = now or timezone.now()
    order = lock_order(order_id, nowait=nowait)
    if order.status == Order.Status.PENDING and not order.holds_seats(now):
        order.status = Order.Status.EXPIRED
        order.updated_at = now
        order.save(update_fields=["status", "updated_at"])
        realtime.announce_availability_changed(order.event_id, reason="expired")
        offer_after_commit(order.event_id)
    return order


def sweep_expired_holds(*, now: datetime | None = None, limit: int = 500) -> int:
    """Mark pending orders whose hold lapsed as expired; returns how many.

    Availability never waits for this (a lapsed hold stops counting at once);
    the sweep tidies the orders, closes their Stripe payment pages and tells
    live pages. Locks the orders with SKIP LOCKED, so an order whose payment
    is being confirmed right now is left to fulfilment.
    """
    now = now or timezone.now()
    with transaction.atomic():
        orders = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(status=Order.Status.PENDING, hold_expires_at__lte=now)
            .order_by("hold_expires_at")
            .only("id", "event_id", "stripe_checkout_session_id")[:limit]
        )
        if not orders:
            return 0
        Order.objects.filter(pk__in=[o.pk for o in orders]).update(
            status=Order.Status.EXPIRED, updated_at=now
        )
        for event_id in sorted({o.event_id for o in orders}, key=str):
            realtime.announce_availability_changed(event_id, reason="expired")
            offer_after_commit(event_id)
        sessions = [o.stripe_checkout_session_id for o in orders]
        transaction.on_commit(lambda: [close_checkout_quietly(s) for s in sessions])
    return len(orders)


def refund_order(
    *, order_id, reason: str = "", actor=None, now: datetime | None = None
) -> Order:
    """Give a paid order's money back and void its tickets (an owner's decision).

    First asks the provider to refund each kept payment, outside any
    transaction and idempotently per payment, so retrying after a failure is
    safe; raises PaymentUnavailable and changes nothing if the provider
    refuses. Then void_order does the rest in one transaction. Comp and
    external-channel orders are voided without a provider call. Raises
    OrderNotRefundable unless the order is paid (a refunded one is returned).
    `actor`, the staff member who decided it, goes in the audit log; the
    reason (shown to the customer) is trimmed to 200 characters.
    """
    reason = (reason or "").strip()[:200]
    order = Order.objects.get(pk=order_id)
    if order.status == Order.Status.REFUNDED:
        return order
    if order.status != Order.Status.PAID:
        raise OrderNotRefundable("Only paid orders can be refunded.")
    for payment in order.payments.filter(
        status=Payment.Status.SUCCEEDED, provider__in=REFUNDABLE_PROVIDERS
    ):
        get_provider(payment.provider).refund(
            payment=payment, reason=reason or "refunded by the organiser"
        )
    return void_order(order_id=order_id, reason=reason, actor=actor, now=now)


@transaction.atomic
def void_order(
    *,
    order_id,
    reason: str = "",
    actor=None,
    nowait: bool = False,
    now: datetime | None = None,
) -> Order:
    """Void an order's tickets, free their seats and mark it refunded.

    Called once its money went back (refund_order, or Stripe's
    `charge.refunded`). Locks the order (OrderBusy with `nowait`), its live
    tickets in primary-key order, then the event and its ticket types in
    primary-key order while the counters move: sold goes down by every
    issued or used ticket, and every used one leaves its check-in tally. Marks its kept
    payments refunded (one still due back is left to the refund sweep), queues the `order_refunded` email and announces availability
    after commit. Repeating it changes nothing. With a staff `actor` the
    refund is recorded in the audit log.
    """
    now = now or timezone.now()
    order = lock_order(order_id, nowait=nowait)
    if order.status == Order.Status.REFUNDED:
        return order
    was_holding = order.status in HOLDING
    tickets = list(
        Ticket.objects.select_for_update()
        .filter(order=order)
        .exclude(status=Ticket.Status.VOID)
        .order_by("pk")
        .only("pk", "status", "ticket_type_id", "code")
    )
    if tickets:
        sold = Counter(t.ticket_type_id for t in tickets)
        Event.objects.filter(pk=order.event_id).update(
            sold_count=F("sold_count") - len(tickets)
        )
        for type_id in sorted(sold):
            TicketType.objects.filter(pk=type_id).update(
                sold_count=F("sold_count") - sold[type_id]
            )
        count_check_ins(
            event_id=order.event_id,
            tickets=[
                (t.ticket_type_id, t.code)
                for t in tickets
                if t.status == Ticket.Status.USED
            ],
            by=-1,
        )
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(
            status=Ticket.Status.VOID, updated_at=now
        )
    # A payment still due back keeps its state: the worker's refund sweep
    # sends it and books it (settle_refund), which a void must not pre-empt.
    Payment.objects.filter(order=order, status=Payment.Status.SUCCEEDED).update(
        status=Payment.Status.REFUNDED, updated_at=now
    )
    previous_status = order.status
    order.status = Order.Status.REFUNDED
    order.updated_at = now
    order.save(update_fields=["status", "updated_at"])
    if actor is not None:
        record_change(
            actor=actor,
            action="order.refund",
            obj=order,
            object_repr=f"{order.code} · {order.customer_name}",
            event=order.event,
            before={"status": previous_status},
            after={
                "status": order.status,
                "total": jsonable(order.total),
                "tickets_voided": len(tickets),
                "reason": reason,
            },
        )
    if previous_status == Order.Status.PAID or tickets:
        queue_email(
            kind="order_refunded",
            to=order.customer_email,
            order=order,
            context={"reason": reason, "tickets_voided": len(tickets)},
        )
    if tickets or was_holding:
        realtime.announce_availability_changed(order.event_id, reason="refund")
        offer_after_commit(order.event_id)
    return order
