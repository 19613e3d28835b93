"""Orders and tickets as their holders see them (found by unguessable token)."""

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, connections
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.folding import fold
from core.models import (
    Event,
    Order,
    OrderLine,
    OutboundMessage,
    Payment,
    Refund,
    Ticket,
)
from core.rows import model_columns, planned_cursor

# How long after payment the order page says the tickets are on their way
# (the email and text go out within seconds, give or take a retry).
TICKETS_ON_THEIR_WAY = timedelta(minutes=15)


@dataclass(frozen=True)
class OrderView:
    order: Order
    lines: list[OrderLine]
    tickets: list[Ticket]

    @property
    def hold_is_live(self) -> bool:
        return self.order.is_payable(timezone.now())

    @property
    def tickets_on_their_way(self) -> bool:
        """Whether the tickets were paid for moments ago, their email and text
        still arriving; reopened later, the page no longer says so."""
        paid_at = self.order.paid_at
        return paid_at is not None and timezone.now() - paid_at < TICKETS_ON_THEIR_WAY

    @functools.cached_property
    def money_back(self):
        """The order's money (taken, refunded, sent back, net) once some of
        it went back, for the summary's refund lines; None while none did
        (and for orders not paid, without a query)."""
        if self.order.status not in (Order.Status.PAID, Order.Status.REFUNDED):
            return None
        from core.queries.money import money_of_orders  # it reads this module

        money = money_of_orders([self.order.pk]).get(self.order.pk)
        if money is None or not (money.refunded or money.sent_back):
            return None
        return money

    @property
    def just_bought(self) -> bool:
        """Whether the order was paid moments ago (the same window) and still
        has a ticket that admits: the page the buyer comes back to from
        paying may celebrate; opened again later, or once refunded, not."""
        return (
            self.order.status == Order.Status.PAID
            and self.tickets_on_their_way
            and any(ticket.status != Ticket.Status.VOID for ticket in self.tickets)
        )


def order_by_token(token: str) -> Order | None:
    """The order holding this token, with its event; or None.

    Every step of paying reads the order first, so the query is written
    once per database (core.rows) rather than compiled each time.
    """
    if not token or len(token) > 64:
        return None
    sql, order_columns, event_columns = _order_by_token_query(connection.alias)
    with planned_cursor() as cursor:
        cursor.execute(sql, [token])
        row = cursor.fetchone()
    if row is None:
        return None
    order = order_columns.instance(row[: len(order_columns)], connection.alias)
    order.event = event_columns.instance(row[len(order_columns) :], connection.alias)
    return order


@functools.cache
def _order_by_token_query(alias: str) -> tuple:
    quote = connections[alias].ops.quote_name
    order_columns = model_columns(Order, alias)
    event_columns = model_columns(Event, alias)
    order_table, event_table = quote(Order._meta.db_table), quote(Event._meta.db_table)
    event_fk = quote(Order._meta.get_field("event").column)
    sql = (
        f"SELECT {order_columns.select}, {event_columns.select}"
        f" FROM {order_table} INNER JOIN {event_table}"
        f" ON {event_table}.{quote(Event._meta.pk.column)} = {order_table}.{event_fk}"
        f" WHERE {order_table}.{quote(Order._meta.get_field('token').column)} = %s"
    )
    return sql, order_columns, event_columns


def order_and_lines_by_token(token: str) -> tuple[Order, list[OrderLine]] | None:
    """The order holding this token and its lines by ticket type, in one
    statement: what paying an order reads (the simulated payment page's
    POST). Not its event, which paying does not need: read on use."""
    if not token or len(token) > 64:
        return None
    sql, order_columns, line_columns = _order_and_lines_query(connection.alias)
    with planned_cursor() as cursor:
        cursor.execute(sql, [token])
        rows = cursor.fetchall()
    if not rows:
        return None
    alias, width = connection.alias, len(order_columns)
    order = order_columns.instance(rows[0][:width], alias)
    lines = [
        line_columns.instance(row[width:], alias)
        for row in rows
        if row[width] is not None  # LEFT JOIN: no lines
    ]
    return order, lines


@functools.cache
def _order_and_lines_query(alias: str) -> tuple:
    quote = connections[alias].ops.quote_name
    order_columns = model_columns(Order, alias)
    line_columns = model_columns(OrderLine, alias)
    order_table = quote(Order._meta.db_table)
    line_table = quote(OrderLine._meta.db_table)
    line_fk = quote(OrderLine._meta.get_field("order").column)
    line_type = quote(OrderLine._meta.get_field("ticket_type").column)
    sql = (
        f"SELECT {order_columns.select}, {line_columns.select} FROM {order_table}"
        f" LEFT JOIN {line_table} ON {line_table}.{line_fk}"
        f" = {order_table}.{quote(Order._meta.pk.column)}"
        f" WHERE {order_table}.{quote(Order._meta.get_field('token').column)} = %s"
        f" ORDER BY {line_table}.{line_type}"
    )
    return sql, order_columns, line_columns


def order_view(order: Order) -> OrderView:
    return OrderView(
        order=order,
        lines=list(
            order.lines.select_related("ticket_type").order_by("ticket_type_id")
        ),
        tickets=list(
            order.tickets.select_related("ticket_type").order_by("created_at", "code")
        ),
    )


def ticket_by_token(token: str) -> Ticket | None:
    if not token or len(token) > 64:
        return None
    return (
        Ticket.objects.select_related("event", "ticket_type", "order")
        .filter(token=token)
        .first()
    )


CONSOLE_SEARCH_LIMIT = 50
LIVE_TICKET = (Ticket.Status.ISSUED, Ticket.Status.USED)
# Refunds that count against what the provider says went back: made (or
# being made) here, or tickets voided against a refund made outside.
ACCOUNTED = (Refund.Status.PENDING, Refund.Status.SUCCEEDED)
# The payments an order keeps, which its tickets stand on. One it turned away
# (a second payment, or one too late for the seats) is `refund_due` and then
# `refunded`: the system sends all of it back (refund_due_payment), so what
# the provider reports refunded of it was never refunded outside.
KEPT = Payment.Status.SUCCEEDED
# How long the worker waits before asking again for a refund of a payment
# not kept that the provider refused (core.services.payments): its cause
# takes someone to put right, and each try is a new request to the provider.
REFUSED_REFUND_RETRY = timedelta(minutes=15)
# Past its time by this much, a retry has not been answered: the worker
# sweeps every 15 seconds, so it is likely not running, or cannot reach the
# provider.
WORKER_LATE = timedelta(minutes=2)


@dataclass(frozen=True)
class RefusedRefund:
    """A payment not kept whose refund the provider refused, and when the
    worker asks again (`late`: that time passed without an answer)."""

    payment: Payment
    next_try_at: datetime
    late: bool


def refunded_outside(order: Order, *, excluding: Refund | None = None) -> Decimal:
    """Money the provider says went back of this order's kept payments that
    no Refund here accounts for: a refund made in Stripe's dashboard, whose
    tickets the owner has yet to choose (or `excluding`, if it was made after
    all). Per payment, never below zero; nothing once the order is no longer
    paid (its tickets are all void). A payment turned away and refunded as
    due is not counted (KEPT)."""
    if order.status != Order.Status.PAID:
        return Decimal("0.00")
    payments = list(order.payments.filter(status=KEPT, provider_refunded__gt=0))
    if not payments:
        return Decimal("0.00")
    refunds = Refund.objects.filter(payment__in=payments, status__in=ACCOUNTED)
    if excluding is not None:
        refunds = refunds.exclude(pk=excluding.pk)
    accounted = dict(
        refunds.values("payment_id")
        .annotate(total=Sum("amount"))
        .values_list("payment_id", "total")
    )
    return sum(
        (
            max(p.provider_refunded - accounted.get(p.pk, 0), Decimal("0.00"))
            for p in payments
        ),
        Decimal("0.00"),
    )


def order_search_events() -> QuerySet[Event]:
    """Every event, newest first, to narrow the order search to one."""
    return Event.objects.order_by("-starts_at").only("id", "name", "starts_at")


def search_orders(*, text: str = "", event_id=None) -> list[Order]:
    """Orders for the console, newest first: all of them, or those whose
    code, ticket code, customer email or name, or a ticket's guest name
    matches `text` (a code exactly, whatever its case; email and names by
    any part; guest names ignoring accents, as the door's guest search does,
    so "garcia" finds the tickets of "Ana García").

    Each order carries `email_failed` and `sms_failed`: whether a message
    to its customer was given up on, and `refund_failed`: whether a refund
    of tickets that still admit did not go through, and
    `payment_refund_refused`: whether the provider refused to refund a
    payment the order did not keep (the list flags both), computed in the
    same query."""
    orders = (
        Order.objects.select_related("event")
        .annotate(
            email_failed=_failed_send(OutboundMessage.Channel.EMAIL),
            sms_failed=_failed_send(OutboundMessage.Channel.SMS),
            refund_failed=Exists(
                Refund.objects.filter(
                    order_id=OuterRef("pk"),
                    status=Refund.Status.FAILED,
                    tickets__status__in=LIVE_TICKET,
                )
            ),
            payment_refund_refused=Exists(
                Payment.objects.filter(
                    order_id=OuterRef("pk"), status=Payment.Status.REFUND_DUE
                ).exclude(refund_refusal_reason="")
            ),
            provider_refunded=_order_sum(Payment, "provider_refunded", status=KEPT),
            refunds_accounted=_order_sum(
                Refund, "amount", status__in=ACCOUNTED, payment__status=KEPT
            ),
            paid_amount=_order_sum(
                Payment, "amount", status=KEPT, provider_refunded__gt=0
            ),
        )
        .order_by("-created_at")
    )
    if event_id:
        orders = orders.filter(event_id=event_id)
    text = (text or "").strip()[:200]
    if text:
        wanted = (
            Q(code__iexact=text)
            | Q(pk__in=Ticket.objects.filter(code__iexact=text).values("order_id"))
            | Q(customer_email__icontains=text)
            | Q(customer_name__icontains=text)
        )
        if name := fold(text):
            guests = Ticket.objects.filter(guest_name_folded__contains=name)
            wanted |= Q(pk__in=guests.values("order_id"))
        orders = orders.filter(wanted)
    found = list(orders[:CONSOLE_SEARCH_LIMIT])
    for order in found:
        # What the list flags: money back in Stripe not yet matched to tickets
        # (of kept payments: refunded_outside).
        order.refunded_outside = (
            max(order.provider_refunded - order.refunds_accounted, Decimal("0.00"))
            if order.status == Order.Status.PAID
            else Decimal("0.00")
        )
        # A refund that did not go through while the order still stands, or
        # an extra payment the provider would not take back.
        order.refund_trouble = (
            order.refund_failed and order.status == Order.Status.PAID
        ) or order.payment_refund_refused
    return found


def _order_sum(model, field: str, **filters) -> Coalesce:
    rows = (
        model.objects.filter(order_id=OuterRef("pk"), **filters)
        .values("order_id")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(
        Subquery(rows), Decimal("0.00"), output_field=Payment._meta.get_field("amount")
    )


def _failed_send(channel: str) -> Exists:
    return Exists(
        OutboundMessage.objects.filter(
            order_id=OuterRef("pk"),
            channel=channel,
            status=OutboundMessage.Status.FAILED,
        )
    )


@dataclass(frozen=True)
class ConsoleOrder:
    """One order as the owner's console shows it."""

    order: Order
    lines: list[OrderLine]
    tickets: list[Ticket]
    payments: list[Payment]
    messages: list[OutboundMessage]
    # Refunds of some tickets booked (a whole-order one shows as the order's
    # and its payment's status).
    refunds: list[Refund]
    refunded_outside: Decimal
    # Refunds (of tickets, or of the whole order) not (yet) booked: pending
    # or failed.
    unfinished_refunds: list[Refund]
    seen_at: datetime = field(default_factory=timezone.now)

    @property
    def left_to_refund(self) -> Decimal:
        """What refunding the rest of the order sends back (refund_order):
        what is left of each payment held through a provider. A whole-order
        refund not booked yet (cut short, or failed) is what would be sent
        again, so it is not taken off what is left."""
        unbooked = {
            refund.payment_id: refund
            for refund in self.unfinished_refunds
            if refund.whole_order
        }
        return sum(
            (
                refundable_left(payment, excluding=unbooked.get(payment.pk))
                for payment in self.payments
                if payment.status == Payment.Status.SUCCEEDED
                and payment.provider in REFUNDABLE_PROVIDERS
            ),
            Decimal("0.00"),
        )

    @property
    def refundable(self) -> bool:
        """What refund_order accepts; also when resend_order_tickets has tickets to send."""
        return self.order.status == Order.Status.PAID

    @property
    def free(self) -> bool:
        """Free tickets (is_free_order_id): cancelled, never refunded."""
        from core.queries.money import is_free_order  # it reads this module

        return is_free_order(self.order)

    @property
    def undelivered_messages(self) -> list[OutboundMessage]:
        return [m for m in self.messages if m.undelivered]

    @property
    def live_tickets(self) -> int:
        return sum(1 for t in self.tickets if t.status != Ticket.Status.VOID)

    @property
    def refunds_under_way(self) -> list[Refund]:
        """Refunds asked of the provider and not yet booked: their tickets
        admit until they are (the worker completes one cut short)."""
        return [
            r
            for r in self.unfinished_refunds
            if r.status == Refund.Status.PENDING
            and r.pk not in self.refunds_too_late_to_resend
        ]

    @property
    def failed_refunds(self) -> list[Refund]:
        """Refunds that did not go through, of tickets that still admit: the
        owner's to try again (or to void, if the money went back after all).
        One pending too long to resend is among them (the worker, if it is
        running, marks it failed)."""
        if self.order.status != Order.Status.PAID:
            return []
        return [
            r
            for r in self.unfinished_refunds
            if (
                r.status == Refund.Status.FAILED
                or r.pk in self.refunds_too_late_to_resend
            )
            and any(t.status in LIVE_TICKET for t in r.tickets.all())
        ]

    @functools.cached_property
    def refunds_too_late_to_resend(self) -> set:
        """Refunds whose outcome was never known, their key perhaps forgotten
        by the provider: the owner must check its records before one is
        sent afresh (Refund.too_late_to_resend)."""
        return {
            r.pk for r in self.unfinished_refunds if r.too_late_to_resend(self.seen_at)
        }

    @property
    def tickets_refund_under_way(self) -> set:
        return {t.pk for r in self.refunds_under_way for t in r.tickets.all()}

    @property
    def tickets_refund_failed(self) -> set:
        return {
            t.pk
            for r in self.failed_refunds
            for t in r.tickets.all()
            if t.status in LIVE_TICKET
        }

    @property
    def outside_of(self) -> Decimal:
        """The kept payment part of which went back outside this system."""
        return sum(
            (
                p.amount
                for p in self.payments
                if p.status == KEPT and p.provider_refunded > 0
            ),
            Decimal("0.00"),
        )

    @property
    def refused_refunds(self) -> list["RefusedRefund"]:
        """Payments the order did not keep whose refund the provider refused
        (refund_refusal_reason): nothing went back yet; the worker asks
        again every REFUSED_REFUND_RETRY until it does."""
        return [
            RefusedRefund(
                payment=p,
                next_try_at=p.updated_at + REFUSED_REFUND_RETRY,
                late=p.updated_at + REFUSED_REFUND_RETRY + WORKER_LATE < self.seen_at,
            )
            for p in self.payments
            if p.status == Payment.Status.REFUND_DUE and p.refund_refusal_reason
        ]

    @property
    def refused_refund_retry_minutes(self) -> int:
        return int(REFUSED_REFUND_RETRY.total_seconds() // 60)

    @property
    def payments_refunded_as_due(self) -> list[Payment]:
        """Payments the order did not keep (a second payment, or one that
        came too late for the seats), which the system refunded in full by
        itself: nothing for the owner to do."""
        return [
            p
            for p in self.payments
            if p.status == Payment.Status.REFUNDED and p.refunded_at is not None
        ]


def is_free_order_id(order_id) -> bool:
    """Whether the order is free tickets (core.queries.money.FREE_ORDER: a
    comp the owner gave, or free tickets taken on the buy page): those are
    cancelled, never refunded."""
    from core.queries.money import FREE_ORDER  # it reads this module

    return Order.objects.filter(FREE_ORDER, pk=order_id).exists()


def console_order(order_id) -> ConsoleOrder | None:
    order = Order.objects.select_related("event").filter(pk=order_id).first()
    if order is None:
        return None
    view = order_view(order)
    refunds = list(order.refunds.prefetch_related("tickets"))
    return ConsoleOrder(
        order=order,
        lines=view.lines,
        tickets=view.tickets,
        payments=list(order.payments.order_by("created_at")),
        messages=list(order.messages.order_by("-created_at")),
        refunds=[
            r
            for r in refunds
            if r.status == Refund.Status.SUCCEEDED and not r.whole_order
        ],
        refunded_outside=refunded_outside(order),
        unfinished_refunds=[r for r in refunds if r.status != Refund.Status.SUCCEEDED],
    )


# Payments whose money we hold and can give back through a provider.
REFUNDABLE_PROVIDERS = (Payment.Provider.STRIPE, Payment.Provider.SIMULATED)


def refundable_left(payment: Payment, *, excluding: Refund | None = None) -> Decimal:
    """What can still go back of a payment: its amount less what is known to
    have gone back (the provider's running total, or the refunds sent from
    here if the provider has not told us of them yet), not counting the
    refund `excluding` (one about to be asked for anew)."""
    sent = Refund.objects.filter(
        payment=payment,
        kind=Refund.Kind.SENT,
        status__in=(Refund.Status.PENDING, Refund.Status.SUCCEEDED),
    )
    if excluding is not None:
        sent = sent.exclude(pk=excluding.pk)
    sent = sent.aggregate(total=Sum("amount"))["total"] or Decimal("0.00")
    return max(payment.amount - max(payment.provider_refunded, sent), Decimal("0.00"))
