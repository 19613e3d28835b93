"""Turning a paid order into tickets, exactly once."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from core import realtime
from core.exceptions import OrderBusy, TicketingError
from core.models import Order, OrderLine, OutboundMessage, Payment, Ticket
from core.notify.outbox import new_message
from core.queries.availability import (
    HOLDING_STATUSES,
    compute_availability,
    held_by_type,
)
from core.rows import (
    as_json,
    insert_row_if_new,
    insert_rows,
    planned_cursor,
    row_values,
    rows_where,
    update_row,
)
from core.services.counters import move_counters, release_held
from core.services.locks import lock_event_and_types, lock_order
from core.services.waitlist import mark_claimed
from core.tickets.signing import sign_ticket


@dataclass(frozen=True)
class FulfilmentResult:
    order: Order
    issued: bool  # tickets were issued by this call
    needs_refund: bool = False  # paid, but the seats were gone: refund it


def _seats_still_free(order: Order, now) -> bool:
    """Whether an order whose hold lapsed still fits (its own lines not counted as held)."""
    event, types = lock_event_and_types(order.event_id)
    lines = list(order.lines.all())
    held = held_by_type(event_ids=[order.event_id], now=now, exclude_order_id=order.id)
    availability = compute_availability(event, types, held, now)
    free = {row.id: row.available for row in availability.types}
    if sum(line.quantity for line in lines) > availability.total_available:
        return False
    return all(line.quantity <= free.get(line.ticket_type_id, 0) for line in lines)


def _new_tickets(order: Order, lines: list[OrderLine]) -> list[Ticket]:
    """One signed ticket per seat of each line, not written yet."""
    tickets = []
    for line in lines:
        for _ in range(line.quantity):
            ticket = Ticket(
                order=order,
                event_id=order.event_id,
                ticket_type_id=line.ticket_type_id,
                guest_name=order.customer_name,
                guest_email=order.customer_email,
                guest_phone=order.customer_phone,
                price_paid=line.unit_price,
            )
            ticket.qr_payload = sign_ticket(
                event_id=order.event_id, ticket_code=ticket.code
            )
            tickets.append(ticket)
    return tickets


def _issue_tickets(order: Order) -> list:
    lines = rows_where(OrderLine, order=order.pk, order_by="ticket_type")
    insert_rows(_new_tickets(order, lines))
    return lines


def _count_sold(order: Order, lines: list, *, was_holding: bool) -> None:
    """Move the counters: event row first, then types in primary-key order;
    the seats of an order that was still pending or processing stop
    counting as held.

    That is the order place_order locks them in, so the two cannot
    deadlock; done last, so the event row (which every checkout of the event
    waits for) is held only until commit. The check constraints
    (sold <= capacity) are the last guard against overselling.
    """
    by_type = Counter()
    for line in lines:
        by_type[line.ticket_type_id] += line.quantity
    move_counters(
        event_id=order.event_id,
        by_type=by_type,
        column="sold_count",
        from_held=was_holding,
    )


class ExternalPaymentNotKept(TicketingError):
    """A payment another channel took that this order cannot keep: we cannot
    refund it, so it is refused and the transaction rolls back instead."""

    code = "external_payment_not_kept"
    message = (
        "This order is already settled or its tickets are gone; a payment taken"
        " by another channel cannot be refunded from here, so nothing was recorded."
    )
    http_status = 409


class PaymentReferenceTaken(TicketingError):
    """An external channel's payment reference already recorded for another
    order: it paid that order, not this one. Nothing of the call is kept."""

    code = "payment_reference_taken"
    message = (
        "This payment reference was already recorded for another orderId;"
        " nothing was changed."
    )
    http_status = 409


def _mark_refund_due(payment: Payment) -> None:
    """Turn a payment away: the worker refunds it and emails the customer.

    Never an external channel's: that money never passed through us, so
    raises ExternalPaymentNotKept (nothing of the call is kept) instead.
    """
    if payment.provider == Payment.Provider.EXTERNAL:
        raise ExternalPaymentNotKept()
    payment.status = Payment.Status.REFUND_DUE
    payment.save(update_fields=["status", "updated_at"])


def order_messages(order: Order) -> list[OutboundMessage]:
    """Confirmation email, and an SMS when a phone was given, not written yet."""
    messages = [
        new_message(
            OutboundMessage.Channel.EMAIL,
            kind="order_confirmation",
            to=order.customer_email,
            order=order,
        )
    ]
    if order.customer_phone:
        messages.append(
            new_message(
                OutboundMessage.Channel.SMS,
                kind="order_tickets_link",
                to=order.customer_phone,
                order=order,
            )
        )
    return messages


def queue_order_messages(order: Order) -> None:
    """Queue the order's messages (sent by the worker), in one statement."""
    insert_rows(order_messages(order))


def fulfil_order(
    *,
    order_id,
    provider: str,
    provider_reference: str,
    amount: Decimal,
    currency: str,
    provider_event_id: str = "",
    nowait: bool = False,
    now=None,
    order: Order | None = None,
    lines: list[OrderLine] | None = None,
) -> FulfilmentResult:
    """Record a successful payment and issue the order's tickets exactly once.

    Locks the order (raising OrderBusy with `nowait` if another request holds
    it), then the event and ticket types when a lapsed hold must be re-checked.
    A second call for the same payment changes nothing. If the hold lapsed and
    the seats are gone, or the order was already settled by another payment,
    the payment is recorded as `refund_due` and `needs_refund` is returned
    (core.services.payments refunds it and tells the customer); an external
    channel's payment, which we cannot refund, raises ExternalPaymentNotKept,
    and one whose reference is another order's payment's raises
    PaymentReferenceTaken (another provider's payment of another order issues
    nothing here). Queues the confirmation messages and broadcasts after
    commit.

    On Postgres an order that still holds its seats is paid in one statement
    (core_fulfil_order, ADR 14), its own transaction when the caller has
    none; every other case takes the locks from here. `order` and its
    `lines`, the caller's read of them (without a lock), spare reading them
    again; they are checked under the lock, and `order` becomes the result's.
    """
    paying = _Paying(
        order_id=order_id,
        provider=provider,
        provider_reference=provider_reference,
        amount=amount,
        currency=currency.lower(),
        provider_event_id=provider_event_id,
        nowait=nowait,
        now=now or timezone.now(),
    )
    if connection.vendor == "postgresql":
        if order is None or order.pk != order_id:
            order, lines = None, None
        result = _fulfil_in_database(paying, order=order, lines=lines)
        if result is not None:
            return result
    return _fulfil_under_locks(paying)


@dataclass(frozen=True)
class _Paying:
    """One payment to record: what both of fulfil_order's paths are given."""

    order_id: Any
    provider: str
    provider_reference: str
    amount: Decimal
    currency: str  # lower case, as stored
    provider_event_id: str
    nowait: bool
    now: datetime

    def new_payment(self, order: Order) -> Payment:
        return Payment(
            order=order,
            provider=self.provider,
            provider_reference=self.provider_reference,
            amount=self.amount,
            currency=self.currency,
            status=Payment.Status.SUCCEEDED,
            provider_event_id=self.provider_event_id,
        )

    @property
    def stripe_intent(self) -> str | None:
        """The Stripe PaymentIntent this payment is, if it is one: refunds
        find the order by it."""
        if self.provider == Payment.Provider.STRIPE and (
            self.provider_reference.startswith("pi_")
        ):
            return self.provider_reference
        return None


def _fulfil_in_database(
    paying: _Paying, *, order: Order | None, lines: list[OrderLine] | None
) -> FulfilmentResult | None:
    """Pay an order that holds its seats in one statement, or None when that
    statement wrote nothing and the Python path must judge.

    Every row is built here, from the order and its lines read without a
    lock: the tickets signed, the payment, the messages. core_fulfil_order
    locks the order and writes them only if it still holds its seats, with
    the contact and lines they were built from, and the payment is new;
    then it moves the counters, event first. Postgres holds the order's lock
    while that one statement runs, and the event's from the counters to the
    commit, not across round trips that wait for this thread's turn on the
    CPU. A waitlist offer (its entry is marked claimed) and a lapsed hold go
    the Python path straight away.
    """
    now = paying.now
    if order is None:
        found = rows_where(Order, id=paying.order_id)
        if not found:
            return None
        order = found[0]
    if order.source == Order.Source.WAITLIST or not order.holds_seats(now):
        return None
    if lines is None:
        lines = rows_where(OrderLine, order=order.pk, order_by="ticket_type")
    intent = paying.stripe_intent
    rows = {
        "seen": {
            "customer_name": order.customer_name,
            "customer_email": order.customer_email,
            "customer_phone": order.customer_phone,
            "lines": {
                str(line.ticket_type_id): [line.quantity, str(line.unit_price)]
                for line in lines
            },
        },
        "payment": row_values([paying.new_payment(order)])[0],
        "tickets": row_values(_new_tickets(order, lines)),
        "messages": row_values(order_messages(order)),
        "updated_at": timezone.now(),
        "stripe_payment_intent_id": intent,
    }
    try:
        with planned_cursor() as cursor:
            cursor.execute(
                "SELECT core_fulfil_order(%s, %s, %s, %s::jsonb)",
                [order.pk, now, paying.nowait, as_json(rows)],
            )
            (outcome,) = cursor.fetchone()
    except OperationalError as exc:
        if paying.nowait and getattr(exc.__cause__, "sqlstate", None) == "55P03":
            raise OrderBusy() from exc  # lock_not_available
        raise
    if outcome != "issued":
        return None
    order.status = Order.Status.PAID
    order.paid_at = now
    order.hold_expires_at = None
    order.updated_at = rows["updated_at"]
    if intent and not order.stripe_payment_intent_id:
        order.stripe_payment_intent_id = intent
    realtime.announce_availability_changed(order.event_id, reason="sale")
    return FulfilmentResult(order=order, issued=True)


# No savepoint inside a caller's transaction (a Stripe webhook's): its
# RELEASE would be one more round trip after the counters, with the event's
# lock held. No caller catches an error from here and carries on.
@transaction.atomic(savepoint=False)
def _fulfil_under_locks(paying: _Paying) -> FulfilmentResult:
    """fulfil_order from Python, every case: SQLite, and on Postgres what
    core_fulfil_order declines."""
    now = paying.now
    order = lock_order(paying.order_id, nowait=paying.nowait)
    # Recorded unless this payment is already (a repeat: a retried webhook, the
    # return page racing it), in one statement; the first record is then read.
    payment = paying.new_payment(order)
    created = insert_row_if_new(payment, unique=("provider", "provider_reference"))
    if not created:
        payment = rows_where(
            Payment,
            provider=paying.provider,
            provider_reference=paying.provider_reference,
        )[0]
        if payment.order_id != order.pk:
            # Another order's payment (recorded while this call, past its
            # caller's check, waited for the locks): it pays that order.
            if paying.provider == Payment.Provider.EXTERNAL:
                raise PaymentReferenceTaken()
            return FulfilmentResult(order=order, issued=False)
    if payment.status in (Payment.Status.REFUND_DUE, Payment.Status.REFUNDED):
        # This payment was already turned away: a repeat must not issue now.
        return FulfilmentResult(
            order=order,
            issued=False,
            needs_refund=payment.status == Payment.Status.REFUND_DUE,
        )
    if order.status in (Order.Status.PAID, Order.Status.REFUNDED):
        if created:
            # A second payment for a settled order (two payment pages paid,
            # or paid after a refund): it goes back.
            _mark_refund_due(payment)
            return FulfilmentResult(order=order, issued=False, needs_refund=True)
        return FulfilmentResult(order=order, issued=False)

    was_holding = order.status in HOLDING_STATUSES
    if not order.holds_seats(now) and not _seats_still_free(order, now):
        if was_holding:
            order.status = Order.Status.EXPIRED
            order.save(update_fields=["status", "updated_at"])
            release_held([order.id])
        _mark_refund_due(payment)
        return FulfilmentResult(order=order, issued=False, needs_refund=True)

    lines = _issue_tickets(order)
    order.status = Order.Status.PAID
    order.paid_at = now
    order.hold_expires_at = None
    paid_fields = ["status", "paid_at", "hold_expires_at", "updated_at"]
    if paying.stripe_intent and not order.stripe_payment_intent_id:
        # Refunds find the order by it; written here, not after the counters.
        order.stripe_payment_intent_id = paying.stripe_intent
        paid_fields.append("stripe_payment_intent_id")
    update_row(order, paid_fields)
    if payment.status != Payment.Status.SUCCEEDED:
        payment.status = Payment.Status.SUCCEEDED
        payment.save(update_fields=["status", "updated_at"])
    if order.source == Order.Source.WAITLIST:
        mark_claimed(order)
    queue_order_messages(order)
    _count_sold(order, lines, was_holding=was_holding)
    realtime.announce_availability_changed(order.event_id, reason="sale")
    return FulfilmentResult(order=order, issued=True)
