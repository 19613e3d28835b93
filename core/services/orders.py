"""An order's life after it was placed: cancel, expire, refund.

Each of these frees capacity and announces it after commit. Locks are always
taken order first, then (for refunds) the order's tickets, then the event and
its ticket types in primary-key order: the order fulfil_order uses, and the
door's check-in locks a ticket before it moves the counters, so none of them
can deadlock with another. A refund (of chosen tickets, or of the whole
order) locks its Refund row between the order and the tickets; only refunds
of that order (and the sweep that completes them), holding the order's lock
first, ever lock it.
"""

import hashlib
import logging
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core import realtime
from core.exceptions import (
    InvalidRequest,
    OrderNotCancellable,
    OrderNotRefundable,
    PaymentRefused,
    PaymentUnavailable,
    RefundUnconfirmed,
    TicketsNotRefundable,
)
from core.models import Event, Order, Payment, Refund, Ticket, TicketType
from core.models.orders import REFUND_REPLAY_WINDOW as REFUND_REPLAY_WINDOW
from core.notify.outbox import queue_email
from core.payments import get_provider
from core.queries.availability import HOLDING_STATUSES
from core.queries.money import is_free_order
from core.queries.orders import REFUNDABLE_PROVIDERS, refundable_left, refunded_outside
from core.services.audit import jsonable, record_change
from core.services.counters import count_check_ins, release_held
from core.services.locks import lock_order
from core.services.waitlist import offer_after_commit
from core.templatetags.ticketing import money

logger = logging.getLogger(__name__)

CLOSED = (Order.Status.CANCELLED, Order.Status.EXPIRED, Order.Status.REFUNDED)
# A sent refund untouched this long was cut short: refund_tickets books the
# provider's answer within seconds, and the Stripe SDK gives up within about
# four minutes (80 s a try, three tries), so a refund in flight is younger.
STALLED_REFUND_GRACE = timedelta(minutes=10)


# Closing a lapsed hold's Stripe payment page is a courtesy: its seats are
# free at once, and a payment made on it all the same is refunded. So the
# hold sweep marks the order (Order.checkout_to_close), and closes at most
# CHECKOUTS_CLOSED_PER_PASS pages a pass, CHECKOUT_CLOSERS at once, each with
# one short try; the rest, and those Stripe did not answer for, are closed on
# a later pass. One call each, one after the other and retried, held up the
# worker's emails and refunds for minutes after a rush, hours in an outage.
CHECKOUTS_CLOSED_PER_PASS = 80
CHECKOUT_CLOSERS = 8
# By this long after the hold lapsed Stripe has closed the page itself: a
# page lasts until the hold ends, or else for its shortest life (31 minutes,
# core.payments.stripe_checkout.MIN_SESSION_LIFE, rounded up to the minute).
CHECKOUT_CLOSES_ITSELF = timedelta(minutes=35)


def close_checkout_quietly(session_id: str | None) -> None:
    """Expire a Stripe payment page with one short try; when Stripe does not
    answer, the page is left to the hold sweep (Order.checkout_to_close).

    Called where a buyer waits (cancelling, starting to pay, leaving the
    waitlist): with the SDK's own retries, a Stripe outage held each of
    those requests up to four minutes for a courtesy.
    """
    if not session_id:
        return
    try:
        get_provider("stripe").expire_checkout(session_id, quick=True)
    except PaymentUnavailable:
        logger.warning(
            "Could not expire checkout session %s; the hold sweep will", session_id
        )
        Order.objects.filter(stripe_checkout_session_id=session_id).update(
            checkout_to_close=True
        )


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
    release_held([order.id])
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
        release_held([order.id])
        realtime.announce_availability_changed(order.event_id, reason="expired")
        offer_after_commit(order.event_id)
    return order


def sweep_expired_holds(
    *, now: datetime | None = None, limit: int = 500, batches: int = 20
) -> int:
    """Mark pending orders whose hold lapsed as expired; returns how many.

    Availability never waits for this (a lapsed hold stops counting at once);
    the sweep tidies the orders, releases their held seats from the
    counters, closes their Stripe payment pages and tells live pages. Reads
    of availability subtract the lapsed holds not swept yet, so after a rush
    it drains them in batches of `limit` (each its own transaction), up to
    `batches` of them a call. Locks the orders with SKIP LOCKED, so an order
    whose payment is being confirmed right now is left to fulfilment. Then
    closes some of the Stripe pages left open (close_lapsed_checkouts).
    """
    now = now or timezone.now()
    swept = 0
    for _ in range(batches):
        done = _sweep_expired_batch(now=now, limit=limit)
        swept += done
        if done < limit:
            break
    close_lapsed_checkouts(now=now)
    return swept


@transaction.atomic
def _sweep_expired_batch(*, now: datetime, limit: int) -> int:
    orders = list(
        Order.objects.select_for_update(skip_locked=True)
        .filter(status=Order.Status.PENDING, hold_expires_at__lte=now)
        .order_by("hold_expires_at")
        .only("id", "event_id", "stripe_checkout_session_id")[:limit]
    )
    if not orders:
        return 0
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(
        status=Order.Status.EXPIRED,
        updated_at=now,
        checkout_to_close=Q(stripe_checkout_session_id__isnull=False),
    )
    release_held([o.pk for o in orders])
    for event_id in sorted({o.event_id for o in orders}, key=str):
        realtime.announce_availability_changed(event_id, reason="expired")
        offer_after_commit(event_id)
    return len(orders)


def close_lapsed_checkouts(*, now: datetime | None = None) -> int:
    """Close Stripe payment pages of lapsed holds (Order.checkout_to_close);
    returns how many it closed.

    The most recently lapsed first, as they would stay open longest: up to
    CHECKOUTS_CLOSED_PER_PASS of them, CHECKOUT_CLOSERS at once, each one
    short try. Once Stripe fails to answer one, no more are tried until the
    next pass, so an outage costs a pass one short timeout. A page is
    forgotten only once Stripe has closed it itself (CHECKOUT_CLOSES_ITSELF
    after the hold lapsed). No lock is held meanwhile: two workers may
    close the same page, which Stripe answers as closed already.
    """
    now = now or timezone.now()
    to_close = Order.objects.filter(checkout_to_close=True)
    to_close.filter(
        Q(hold_expires_at__lte=now - CHECKOUT_CLOSES_ITSELF)
        | Q(hold_expires_at__isnull=True)
    ).update(checkout_to_close=False)
    pages = list(
        to_close.order_by("-hold_expires_at").values_list(
            "pk", "stripe_checkout_session_id"
        )[:CHECKOUTS_CLOSED_PER_PASS]
    )
    if not pages:
        return 0
    closed = _close_checkouts(pages)
    if closed:
        Order.objects.filter(pk__in=closed).update(checkout_to_close=False)
    if len(closed) < len(pages):
        logger.warning(
            "Stripe did not close %s lapsed payment pages; trying again later",
            len(pages) - len(closed),
        )
    return len(closed)


def _close_checkouts(pages: list[tuple]) -> list:
    """Close (order id, session id) pages a few at a time; the ids of the
    orders whose page is closed now (or was already)."""
    provider = get_provider("stripe")
    stop = threading.Event()

    def close(page: tuple):
        order_id, session_id = page
        if stop.is_set():
            return None
        if session_id:
            try:
                provider.expire_checkout(session_id, quick=True)
            except PaymentUnavailable:
                stop.set()
                return None
            except Exception:
                logger.exception("Could not expire checkout session %s", session_id)
                stop.set()
                return None
        return order_id

    with ThreadPoolExecutor(
        max_workers=min(CHECKOUT_CLOSERS, len(pages)),
        thread_name_prefix="close-checkout",
    ) as pool:
        return [order_id for order_id in pool.map(close, pages) if order_id]


def refund_order(
    *,
    order_id,
    reason: str = "",
    actor=None,
    as_new: bool = False,
    now: datetime | None = None,
) -> Order:
    """Give back what is left of a paid order's payment and void its tickets
    (an owner's decision).

    Three steps, as refund_tickets, so money never goes back twice and
    never goes unrecorded:
    1. in one transaction, locks the order, then its Refund row, then its
       tickets that still admit in primary-key order, and records a pending
       whole-order Refund of what is left of the order's payment
       (refundable_left) and of those tickets;
    2. outside any transaction, asks the provider for it (_send_refund)
       under the payment's key (order_refund_key); if that fails, the
       Refund is marked failed, nothing else changes, and
       PaymentUnavailable is raised (PaymentRefused, with the provider's
       reason, if it refused: then asking again sends a new key,
       attempt_key, for what is left by then);
    3. _apply_order_refund books it and voids the order (void_order).
    Asked again after a failure whose outcome is unknown, it resends the
    same key only while the provider remembers it (_ready_to_resend):
    later it raises RefundUnconfirmed and sends nothing, unless `as_new`,
    the owner having found in the provider's records that nothing went
    back. External-channel orders, and ones with nothing left to give back,
    are voided without a provider call. Raises InvalidRequest for free
    tickets (a comp, or a free order: core.services.comps.
    cancel_comp_tickets takes them off the guest list, with the guest's own
    email), and
    OrderNotRefundable unless the order is paid (a refunded one is
    returned), or while a refund of some of its tickets is under way.
    `actor`, the staff member who decided it, goes in the audit log; the
    reason (shown to the customer) is trimmed to 200 characters, and the
    one first recorded is the one sent. Should the process stop after the
    provider answered, Stripe's `charge.refunded` voids the order
    (void_order) and the stalled-refund sweep books the refund.
    """
    reason = (reason or "").strip()[:200]
    refund = _record_pending_order_refund(
        order_id=order_id, reason=reason, as_new=as_new, now=now or timezone.now()
    )
    if refund is None:
        return void_order(order_id=order_id, reason=reason, actor=actor, now=now)
    reference = refund.provider_reference
    if refund.status != Refund.Status.SUCCEEDED:
        reference = _send_refund(refund)
    return _apply_order_refund(
        refund_id=refund.pk, reference=reference, actor=actor, now=now
    )


def _refuse_free_order(order: Order) -> None:
    """Free tickets (a comp, or a type priced 0: is_free_order) are
    cancelled, never refunded: nothing was paid."""
    if is_free_order(order):
        raise InvalidRequest(
            "These are free tickets: there is no money to give back. Cancel"
            " them instead (cancel_comp_tickets); nothing changed.",
            code="free_tickets",
        )


def order_refund_key(payment: Payment) -> str:
    """The idempotency key of refunding the rest of a payment: the one the
    provider is sent by default (core.payments), so a whole-order refund
    asked for before it was recorded as a Refund is resent as it was."""
    return f"refund-{payment.pk}"


@transaction.atomic
def _record_pending_order_refund(
    *, order_id, reason: str, as_new: bool, now: datetime
) -> Refund | None:
    """The order's whole-order Refund, recorded or readied to be asked
    again; None when there is nothing to ask a provider for and a void is
    all that is left (the order refunded already, or no payment held
    through a provider, or nothing left of it). Locks as refund_order."""
    order = lock_order(order_id)
    _refuse_free_order(order)
    if order.status == Order.Status.REFUNDED:
        return None
    if order.status != Order.Status.PAID:
        raise OrderNotRefundable("Only paid orders can be refunded.")
    payment = _kept_payment(order)
    if payment is None:
        return None
    existing = (
        Refund.objects.select_for_update(of=("self",))
        .select_related("payment")
        .filter(key=order_refund_key(payment))
        .first()
    )
    if existing is not None and existing.status == Refund.Status.SUCCEEDED:
        return existing
    if existing is not None and not _ready_to_resend(
        existing, order=order, as_new=as_new, now=now
    ):
        # The same request again, under the same key: the provider answers
        # as it did, or makes it once.
        return existing
    tickets = _lock_live_tickets(order)
    under_way = Refund.objects.filter(order=order, status=Refund.Status.PENDING)
    if existing is not None:
        under_way = under_way.exclude(pk=existing.pk)
    if under_way.exists():
        raise OrderNotRefundable(
            "A refund of some of this order's tickets is under way; refund the"
            " rest once it is done (reload the page in a few minutes)."
        )
    amount = refundable_left(payment, excluding=existing)
    if existing is not None:
        # A new request (after a refusal, or as_new): for what is left now.
        existing.amount = amount
        existing.save(update_fields=["amount", "updated_at"])
        existing.tickets.set(tickets)
        return existing
    if amount <= 0:
        return None
    refund = Refund.objects.create(
        order=order,
        payment=payment,
        kind=Refund.Kind.SENT,
        whole_order=True,
        amount=amount,
        currency=order.currency,
        key=order_refund_key(payment),
        reason=reason,
    )
    refund.tickets.set(tickets)
    return refund


@transaction.atomic
def _apply_order_refund(
    *, refund_id, reference: str, actor=None, now: datetime | None = None
) -> Order:
    """Book a whole-order refund the provider made and void the order.

    Locks the order, the refund, then as void_order, which does the rest
    (the `order_refunded` email, the audit entry with a staff `actor`).
    Repeating it changes nothing.
    """
    order_id = Refund.objects.values_list("order_id", flat=True).get(pk=refund_id)
    order = lock_order(order_id)
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    if refund.status != Refund.Status.SUCCEEDED:
        refund.status = Refund.Status.SUCCEEDED
        refund.provider_reference = reference[:255]
        refund.save(update_fields=["status", "provider_reference", "updated_at"])
        if order.status == Order.Status.REFUNDED and actor is not None:
            # Stripe's charge.refunded got here first and voided the order;
            # the decision was still this staff member's.
            _record_order_refund(
                order,
                actor=actor,
                before=Order.Status.PAID,
                amount=jsonable(refund.amount),
                reason=refund.reason,
            )
    return void_order(
        order_id=order_id,
        reason=refund.reason,
        amount=refund.amount,
        actor=actor,
        now=now,
    )


@transaction.atomic
def void_order(
    *,
    order_id,
    reason: str = "",
    amount: Decimal | None = None,
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
    payments refunded (one still due back is left to the refund sweep),
    queues the `order_refunded` email, quoting `amount`, what this refund
    gave back (none is quoted without it: earlier partial refunds make the
    order's total wrong), and announces availability after commit.
    Repeating it changes nothing. With a staff `actor` the refund is
    recorded in the audit log.
    """
    now = now or timezone.now()
    order = lock_order(order_id, nowait=nowait)
    if order.status == Order.Status.REFUNDED:
        return order
    was_holding = order.status in HOLDING_STATUSES
    tickets = _lock_live_tickets(order)
    _void_tickets(order, tickets, now=now)
    # A payment still due back keeps its state: the worker's refund sweep
    # sends it and books it (settle_refund), which a void must not pre-empt.
    Payment.objects.filter(order=order, status=Payment.Status.SUCCEEDED).update(
        status=Payment.Status.REFUNDED, updated_at=now
    )
    previous_status = order.status
    order.status = Order.Status.REFUNDED
    order.updated_at = now
    order.save(update_fields=["status", "updated_at"])
    if was_holding:
        release_held([order.id])
    if actor is not None:
        _record_order_refund(
            order,
            actor=actor,
            before=previous_status,
            tickets_voided=len(tickets),
            reason=reason,
        )
    if previous_status == Order.Status.PAID or tickets:
        _queue_order_refunded(
            order, reason=reason, tickets_voided=len(tickets), amount=amount
        )
    if tickets or was_holding:
        _announce_freed_seats(order.event_id)
    return order


def _record_order_refund(order: Order, *, actor, before: str, **details) -> None:
    """The audit entry of a staff member's refund of a whole order. Another
    seller's sale (external) is voided instead: its money went to that
    seller, who refunds it; nothing went back from here."""
    if order.source == Order.Source.EXTERNAL:
        record_change(
            actor=actor,
            action="order.void_elsewhere",
            obj=order,
            object_repr=f"{order.code} · {order.customer_name}",
            event=order.event,
            after={
                "paid_to_other_seller": jsonable(order.total),
                "refunded_by": "the other seller",
                **details,
            },
        )
        return
    record_change(
        actor=actor,
        action="order.refund",
        obj=order,
        object_repr=f"{order.code} · {order.customer_name}",
        event=order.event,
        before={"status": before},
        after={"status": order.status, "total": jsonable(order.total), **details},
    )


def _queue_order_refunded(
    order: Order, *, reason: str, tickets_voided: int, amount: Decimal | None
) -> None:
    """Queue the customer's `order_refunded` email, quoting `amount`, what
    this refund gave back: the one notice of a whole-order refund, however
    it was booked (void_order, or the stalled-refund sweep's _apply_refund).
    None for a cancelled event's order: its cancellation message is the
    one (core.services.event_cancellation)."""
    if Event.objects.filter(pk=order.event_id, cancelled_at__isnull=False).exists():
        return
    queue_email(
        kind="order_refunded",
        to=order.customer_email,
        order=order,
        context={
            "reason": reason,
            "tickets_voided": tickets_voided,
            "amount": str(amount) if amount else "",
            "currency": order.currency,
        },
    )


def _lock_live_tickets(order: Order, ticket_ids=None) -> list[Ticket]:
    """The order's tickets that still admit (of `ticket_ids`, if given),
    locked in primary-key order."""
    tickets = Ticket.objects.select_for_update().filter(order=order)
    if ticket_ids is not None:
        tickets = tickets.filter(pk__in=ticket_ids)
    return list(
        tickets.exclude(status=Ticket.Status.VOID)
        .order_by("pk")
        .only("pk", "status", "ticket_type_id", "code", "price_paid")
    )


def _void_tickets(order: Order, tickets: list[Ticket], *, now: datetime) -> None:
    """Void locked live tickets and free their seats: sold goes down by each
    (the event, then its types in primary-key order), and each used one
    leaves its check-in tally slot. Caller holds the order's and the
    tickets' locks."""
    if not tickets:
        return
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


def _announce_freed_seats(event_id) -> None:
    realtime.announce_availability_changed(event_id, reason="refund")
    offer_after_commit(event_id)


def refund_key(order_id, ticket_ids, *, prefix: str = "refund") -> str:
    """The idempotency key of refunding these tickets of this order: the same
    request twice (a retry, a double click) is one refund at the provider."""
    joined = ",".join(sorted(str(t) for t in ticket_ids))
    return f"{prefix}-{order_id}-{hashlib.sha256(joined.encode()).hexdigest()[:32]}"


def attempt_key(refund: Refund) -> str:
    """The idempotency key sent for the refund's current try: its own key at
    first, then one per try that follows a refusal, since the provider
    replays a refusal to the key it was given for a day."""
    if refund.attempt <= 1:
        return refund.key
    return f"{refund.key}-{refund.attempt}"


def refund_tickets(
    *,
    order_id,
    ticket_ids,
    reason: str = "",
    actor=None,
    as_new: bool = False,
    now: datetime | None = None,
) -> Refund:
    """Give back the price of chosen tickets of a paid order and void them.

    Three steps, so money never goes back twice and never goes unrecorded:
    1. in one transaction, locks the order, then the chosen tickets in
       primary-key order, checks them and records a pending Refund of the
       sum of their `price_paid` (a Stripe `charge.refunded` arriving from
       now on counts it as ours);
    2. outside any transaction, asks the provider to refund that amount of
       the order's payment, with an idempotency key from the order and the
       tickets (refund_key), so retrying the same refund is one refund;
       if that fails, the Refund is marked failed, nothing else changes,
       and PaymentUnavailable is raised (PaymentRefused, with the
       provider's reason, if it refused: then asking again sends a new key,
       attempt_key, so that it can go through once the cause is put right);
    3. _apply_refund voids the tickets and books it (locks as void_order).
    Asked again after a failure whose outcome is unknown, it resends the
    same key only while the provider remembers it (_ready_to_resend):
    later it raises RefundUnconfirmed and sends nothing, unless `as_new`,
    the owner having found in the provider's records that nothing went
    back. Raises InvalidRequest for a free order (as refund_order),
    OrderNotRefundable unless the order is paid, TicketsNotRefundable for
    no tickets, tickets of another order, void ones, or ones already in a
    refund under way. Asking again for a refund already made returns it.
    """
    reason = (reason or "").strip()[:200]
    ticket_ids = _parse_ticket_ids(ticket_ids)
    refund = _record_pending_refund(
        order_id=order_id,
        ticket_ids=ticket_ids,
        reason=reason,
        as_new=as_new,
        now=now or timezone.now(),
    )
    if refund.status == Refund.Status.SUCCEEDED:
        return refund
    reference = _send_refund(refund)
    return _apply_refund(refund_id=refund.pk, reference=reference, actor=actor, now=now)


def _send_refund(refund: Refund) -> str:
    """Ask the provider for a recorded refund; returns its reference.

    Sends the request exactly as first recorded (payment, amount, reason),
    under the current try's key, so asking again, whoever asks, is answered
    as the first time: the provider refuses a key reused with other
    parameters. A refund with nothing to send (no payment held, nothing to
    give back) sends nothing. If the provider fails, marks this try failed,
    with the provider's reason if it refused, and raises PaymentUnavailable
    (PaymentRefused).
    """
    if refund.payment_id is None or refund.amount <= 0:
        return ""
    payment = refund.payment
    try:
        return get_provider(payment.provider).refund(
            payment=payment,
            reason=refund.reason or "refunded by the organiser",
            amount=refund.amount,
            idempotency_key=attempt_key(refund),
        )
    except PaymentUnavailable as exc:
        # Only a refusal lets the next try send a new key; a failure that may
        # have refunded leaves the reason empty, so the same key is resent.
        refusal = ""
        if isinstance(exc, PaymentRefused):
            refusal = exc.reason or "The payment provider gave no reason."
        # A later try of the same refund is not this one's to mark.
        Refund.objects.filter(
            pk=refund.pk, status=Refund.Status.PENDING, attempt=refund.attempt
        ).update(
            status=Refund.Status.FAILED,
            refusal_reason=refusal[:255],
            updated_at=timezone.now(),
        )
        raise


def complete_stalled_refunds(*, now: datetime | None = None, limit: int = 50) -> int:
    """Worker sweep: book the refunds whose process died after it asked the
    provider; returns how many it completed.

    Such a refund (of tickets, or of a whole order) stays pending, its money
    back with the customer, its tickets still admitting. Each one pending for
    STALLED_REFUND_GRACE is sent again as last sent, same key (the provider
    answers with its first answer, so nothing goes back twice) and booked by
    _apply_refund: tickets voided, seats freed, the customer emailed as the
    refund's own path would have (`order_refunded` for a whole order; no
    second email if Stripe's `charge.refunded` voided the order first), the
    audit log says the system did it. Each is claimed, sent and booked on
    its own (locks as refund_tickets), so one that fails leaves the others
    be. A refusal or a failure at the provider marks it failed, for the
    owner to see on the order (and to retry as refund_tickets or
    refund_order does); so does one too old for the provider to replay
    (REFUND_REPLAY_WINDOW).
    """
    now = now or timezone.now()
    stalled = list(
        Refund.objects.filter(
            kind=Refund.Kind.SENT,
            status=Refund.Status.PENDING,
            updated_at__lte=now - STALLED_REFUND_GRACE,
        )
        .order_by("updated_at")
        .values_list("pk", "order_id")[:limit]
    )
    done = 0
    for refund_id, order_id in stalled:
        try:
            done += _complete_stalled_refund(refund_id=refund_id, now=now)
        except Exception:
            # One refund's trouble must not keep the others waiting; this one
            # stays pending and the next sweep tries it again.
            logger.exception(
                "Order %s: stalled refund %s could not be completed",
                order_id,
                refund_id,
            )
    return done


def _complete_stalled_refund(*, refund_id, now: datetime) -> bool:
    refund = _claim_stalled_refund(refund_id=refund_id, now=now)
    if refund is None:
        return False
    try:
        reference = _send_refund(refund)
    except PaymentUnavailable as exc:
        logger.warning(
            "Order %s: stalled refund %s %s; marked failed",
            refund.order_id,
            refund.pk,
            "refused by the provider"
            if isinstance(exc, PaymentRefused)
            else "failed at the provider, perhaps after refunding",
        )
        return False
    # Booked at the clock, not the sweep's start (provider calls before this
    # one can take minutes): door phones copy tickets changed since their
    # last copy, and a void dated earlier would not reach them.
    _apply_refund(
        refund_id=refund.pk,
        reference=reference,
        recovered=True,
        now=max(now, timezone.now()),
    )
    logger.info(
        "Order %s: stalled refund %s completed and its tickets voided",
        refund.order_id,
        refund.pk,
    )
    return True


@transaction.atomic
def _claim_stalled_refund(*, refund_id, now: datetime) -> Refund | None:
    """The refund, if it is still stalled, touched so that no other worker
    sends it meanwhile; None if it was booked, failed or taken up since.
    Locks the order, then the refund. One too old to resend is marked
    failed instead."""
    order_id = Refund.objects.values_list("order_id", flat=True).get(pk=refund_id)
    lock_order(order_id)
    refund = (
        Refund.objects.select_for_update(of=("self",))
        .select_related("payment")
        .get(pk=refund_id)
    )
    if (
        refund.status != Refund.Status.PENDING
        or refund.updated_at > now - STALLED_REFUND_GRACE
    ):
        return None
    # The clock, not the sweep's start: its provider calls can take minutes
    # each, and a stale time could resend a key the provider has forgotten,
    # or touch it as if claimed long ago (another worker would send it too).
    clock = max(now, timezone.now())
    if refund.too_late_to_resend(clock):
        refund.status = Refund.Status.FAILED
        refund.save(update_fields=["status", "updated_at"])
        logger.warning(
            "Order %s: refund %s stalled too long to resend safely; marked failed",
            order_id,
            refund.pk,
        )
        return None
    Refund.objects.filter(pk=refund.pk).update(updated_at=clock)
    return refund


@transaction.atomic
def _record_pending_refund(
    *, order_id, ticket_ids: list, reason: str, as_new: bool, now: datetime
) -> Refund:
    key = refund_key(order_id, ticket_ids)
    order = lock_order(order_id)
    _refuse_free_order(order)
    existing = (
        Refund.objects.select_for_update(of=("self",))
        .select_related("payment")
        .filter(key=key)
        .first()
    )
    if existing is not None and existing.status == Refund.Status.SUCCEEDED:
        return existing
    if order.status != Order.Status.PAID:
        raise OrderNotRefundable("Only paid orders can be refunded.")
    if existing is not None and existing.status == Refund.Status.PENDING:
        # Cut short after the provider may have sent it: ask again and book it.
        _ready_to_resend(existing, order=order, as_new=as_new, now=now)
        return existing
    tickets = _chosen_live_tickets(order, ticket_ids, sending_key=key)
    if existing is not None:
        # It failed before: ask again, for tickets that still admit.
        _ready_to_resend(existing, order=order, as_new=as_new, now=now)
        return existing
    amount = sum((t.price_paid for t in tickets), Decimal("0.00"))
    payment = _kept_payment(order)
    if payment is not None and amount > 0:
        left = refundable_left(payment)
        if amount > left:
            raise TicketsNotRefundable(
                f"Only {money(left, payment.currency)} of this payment is left to"
                " refund: part of it was refunded already (perhaps in Stripe)."
                " Void the tickets without refunding instead."
            )
    refund = Refund.objects.create(
        order=order,
        payment=payment,
        kind=Refund.Kind.SENT,
        amount=amount,
        currency=order.currency,
        key=key,
        reason=reason,
    )
    refund.tickets.set(tickets)
    return refund


def _ready_to_resend(
    refund: Refund, *, order: Order, as_new: bool, now: datetime
) -> bool:
    """Set a refund not made yet (failed, or pending and cut short) to be
    asked for again; returns whether that is a new try, under a new key
    (attempt_key). Caller holds the order's and the refund's locks.

    A refusal made no refund, and the provider would repeat it to the same
    key, so that try is followed by a new one. Any other failure may have
    refunded, so the same key is resent (touching a pending refund tells
    the stalled-refund sweep someone is on it), but only while the provider
    remembers the key: past REFUND_REPLAY_WINDOW it raises
    RefundUnconfirmed, unless `as_new`, the owner having found in the
    provider's records that nothing went back; then a new try follows. A
    refund of tickets is still refused if the provider reports money back
    that no refund here accounts for: it may be this one.
    """
    too_late = refund.too_late_to_resend(now)
    if too_late and not as_new:
        raise RefundUnconfirmed(_unconfirmed_message(refund))
    if too_late and not refund.whole_order:
        # A whole-order refund asks for what is left by then, which leaves
        # out any refund the provider reports.
        unmatched = refunded_outside(order, excluding=refund)
        if unmatched > 0:
            raise RefundUnconfirmed(
                f"Stripe reports {money(unmatched, order.currency)} refunded on"
                " this order that no refund here accounts for, so this refund"
                " may have gone through after all; nothing was sent. If it is"
                " this one, tick its tickets and choose “Void without refunding”."
                " If it is another, match that one to its tickets the same way"
                " first, then send this one as a new refund."
            )
    new_try = bool(refund.refusal_reason) or too_late
    refund.status = Refund.Status.PENDING
    fields = ["status", "updated_at"]
    if new_try:
        refund.attempt += 1
        refund.attempt_started_at = now
        refund.refusal_reason = ""
        fields += ["attempt", "attempt_started_at", "refusal_reason"]
    refund.save(update_fields=fields)
    return new_try


def _unconfirmed_message(refund: Refund) -> str:
    """What the owner is told when a refund is too old to resend."""
    hours = int(REFUND_REPLAY_WINDOW.total_seconds() // 3600)
    if refund.whole_order:
        went_back = (
            "If it is there, the money went back: send nothing more (the order"
            " is marked refunded once Stripe tells this site of it)."
        )
    else:
        went_back = (
            "If it is there, the money went back: tick these tickets and choose"
            " “Void without refunding” (it shows once Stripe has told this site"
            " of that refund)."
        )
    return (
        f"This refund was sent to Stripe more than {hours} hours ago and never"
        " confirmed. Stripe forgets a request after a day, so sending it again"
        " could refund the customer twice; nothing was sent. Find the payment"
        f" in Stripe's dashboard and look for this refund. {went_back} If it is"
        " not there, nothing went back: confirm that and choose “Send as a new"
        " refund”."
    )


def _kept_payment(order: Order) -> Payment | None:
    """The payment held through a provider that the order's refunds go back
    to (an order keeps one: a second is refunded as it arrives)."""
    return (
        order.payments.filter(
            status=Payment.Status.SUCCEEDED, provider__in=REFUNDABLE_PROVIDERS
        )
        .order_by("created_at")
        .first()
    )


@transaction.atomic
def void_tickets_refunded_outside(
    *,
    order_id,
    ticket_ids,
    reason: str = "",
    actor=None,
    now: datetime | None = None,
) -> Refund:
    """Void chosen tickets against money already given back in Stripe's
    dashboard, sending nothing.

    Locks as void_order. Records an `outside` Refund of the tickets' price,
    up to what is still unaccounted for of the outside refund, then voids
    them and books it as refund_tickets does. Raises OrderNotRefundable
    unless the order is paid and some refund made outside is not yet
    matched to tickets; TicketsNotRefundable as refund_tickets. Choosing the
    same tickets again returns the same Refund.
    """
    reason = (reason or "").strip()[:200]
    ticket_ids = _parse_ticket_ids(ticket_ids)
    key = refund_key(order_id, ticket_ids, prefix="outside")
    order = lock_order(order_id)
    existing = Refund.objects.filter(key=key).first()
    if existing is not None:
        return existing
    if order.status != Order.Status.PAID:
        raise OrderNotRefundable("Only paid orders can have tickets voided here.")
    unmatched = refunded_outside(order)
    if unmatched <= 0:
        raise OrderNotRefundable(
            "No refund made outside this system is waiting to be matched to"
            " tickets; refund the tickets instead."
        )
    tickets = _chosen_live_tickets(order, ticket_ids)
    price = sum((t.price_paid for t in tickets), Decimal("0.00"))
    payment = (
        order.payments.filter(status=Payment.Status.SUCCEEDED, provider_refunded__gt=0)
        .order_by("created_at")
        .first()
    )
    refund = Refund.objects.create(
        order=order,
        payment=payment,
        kind=Refund.Kind.OUTSIDE,
        amount=min(price, unmatched),
        currency=order.currency,
        key=key,
        reason=reason,
    )
    refund.tickets.set(tickets)
    return _apply_refund(refund_id=refund.pk, actor=actor, now=now)


@transaction.atomic
def _apply_refund(
    *,
    refund_id,
    reference: str = "",
    actor=None,
    recovered: bool = False,
    now: datetime | None = None,
) -> Refund:
    """Void a refund's tickets that still admit, free their seats and book it.

    Locks the order, the refund, then its tickets in primary-key order, then
    the event and its types (as void_order). A ticket voided meanwhile (the
    whole order refunded in Stripe, say) is not voided twice. An order left
    with no ticket that admits becomes refunded, its kept payments too.
    Queues the `tickets_refunded` email (`order_refunded` for a whole-order
    refund, as refund_order sends; none if its tickets were voided
    meanwhile, since whatever voided them told the customer), writes the
    audit entry with a staff `actor` (or as the system when `recovered` by
    the stalled-refund sweep), and offers the freed seats after commit.
    Repeating it changes nothing.
    """
    now = now or timezone.now()
    order_id = Refund.objects.values_list("order_id", flat=True).get(pk=refund_id)
    order = lock_order(order_id)
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    if refund.status == Refund.Status.SUCCEEDED:
        return refund
    chosen = list(refund.tickets.values_list("pk", flat=True))
    tickets = _lock_live_tickets(order, chosen)
    _void_tickets(order, tickets, now=now)
    refund.status = Refund.Status.SUCCEEDED
    refund.provider_reference = reference[:255]
    refund.save(update_fields=["status", "provider_reference", "updated_at"])
    previous_status = order.status
    left = Ticket.objects.filter(order=order).exclude(status=Ticket.Status.VOID).count()
    if left == 0 and order.status == Order.Status.PAID:
        Payment.objects.filter(order=order, status=Payment.Status.SUCCEEDED).update(
            status=Payment.Status.REFUNDED, updated_at=now
        )
        order.status = Order.Status.REFUNDED
        order.updated_at = now
        order.save(update_fields=["status", "updated_at"])
    voided = (
        Ticket.objects.filter(pk__in=[t.pk for t in tickets])
        .select_related("ticket_type")
        .order_by("created_at", "code")
    )
    described = [
        {"code": t.code, "type": t.ticket_type.name, "guest": t.guest_name}
        for t in voided
    ]
    if actor is not None or recovered:
        record_change(
            actor=actor,
            action=_refund_action(refund, recovered=recovered),
            obj=order,
            object_repr=f"{order.code} · {order.customer_name}",
            event=order.event,
            before={"status": previous_status},
            after={
                "status": order.status,
                "amount": jsonable(refund.amount),
                "tickets_voided": [t["code"] for t in described],
                "reason": refund.reason,
            },
        )
    if tickets and refund.whole_order:
        # As refund_order tells it: one notice, of the order refunded.
        _queue_order_refunded(
            order,
            reason=refund.reason,
            tickets_voided=len(tickets),
            amount=refund.amount,
        )
        _announce_freed_seats(order.event_id)
    elif tickets:
        queue_email(
            kind="tickets_refunded",
            to=order.customer_email,
            order=order,
            context={
                "reason": refund.reason,
                "amount": str(refund.amount),
                "currency": refund.currency,
                "outside": refund.kind == Refund.Kind.OUTSIDE,
                "refunded_tickets": described,
                "tickets_left": left,
            },
        )
        _announce_freed_seats(order.event_id)
    return refund


def _refund_action(refund: Refund, *, recovered: bool) -> str:
    """The audit log's name for booking this refund."""
    if refund.order.source == Order.Source.EXTERNAL and not recovered:
        # Another seller's tickets: voided, nothing sent (that seller refunds).
        return "order.void_elsewhere_tickets"
    if recovered:
        if refund.whole_order:
            return "order.refund_order_completed"
        return "order.refund_completed"
    if refund.kind == Refund.Kind.SENT:
        return "order.refund_tickets"
    return "order.void_refunded_outside"


def _parse_ticket_ids(ticket_ids) -> list[uuid.UUID]:
    parsed = set()
    for value in ticket_ids or ():
        try:
            parsed.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError as exc:
            raise TicketsNotRefundable(
                "Those tickets are not part of this order."
            ) from exc
    if not parsed:
        raise TicketsNotRefundable("Tick at least one ticket.")
    return sorted(parsed)


def _chosen_live_tickets(
    order: Order, ticket_ids: list, *, sending_key: str | None = None
) -> list[Ticket]:
    """The chosen tickets, locked; refuses any not of this order, void, or in
    another refund under way. For a refund about to be sent under
    `sending_key`, also any in another sent refund whose outcome is unknown:
    it may have paid them back, and a different key would pay them again."""
    tickets = list(
        Ticket.objects.select_for_update()
        .filter(order=order, pk__in=ticket_ids)
        .order_by("pk")
        .only("pk", "status", "ticket_type_id", "code", "price_paid")
    )
    if len(tickets) != len(ticket_ids):
        raise TicketsNotRefundable("Some of those tickets are not part of this order.")
    void = [t.code for t in tickets if t.status == Ticket.Status.VOID]
    if void:
        raise TicketsNotRefundable(
            f"Ticket {', '.join(void)} is void already; nothing changed."
        )
    if Refund.objects.filter(
        tickets__in=ticket_ids, status=Refund.Status.PENDING
    ).exists():
        raise TicketsNotRefundable(
            "A refund of some of those tickets is already under way; reload the page."
        )
    if sending_key is not None:
        _refuse_tickets_of_unconfirmed_refunds(tickets, sending_key)
    return tickets


def _refuse_tickets_of_unconfirmed_refunds(tickets: list[Ticket], key: str) -> None:
    unconfirmed = (
        Refund.objects.filter(
            tickets__in=[t.pk for t in tickets],
            kind=Refund.Kind.SENT,
            status=Refund.Status.FAILED,
            refusal_reason="",  # failed without the provider saying no
        )
        .exclude(key=key)
        .prefetch_related("tickets")
        .first()
    )
    if unconfirmed is None:
        return
    codes = ", ".join(sorted(t.code for t in unconfirmed.tickets.all()))
    raise TicketsNotRefundable(
        f"A refund of {codes} was sent before and never confirmed, so it may"
        " have gone through; nothing was sent. Tick exactly those tickets to ask"
        " for that refund again (it cannot be paid twice), or, if Stripe's"
        " dashboard shows it went back, choose “Void without refunding” for"
        " them. Then refund the others."
    )
