"""What cancelling an event will do, and how far its refunds have gone.

Read by the owner's cancel page (before) and the event page's Cancelled
banner (after); core.services.event_cancellation does the writing.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core.models import Event, Order, Refund, Ticket, WaitlistEntry
from core.queries.availability import HOLDING_STATUSES
from core.queries.money import ZERO, money_of_orders

# Orders whose money goes back through the payment provider; a comp is
# free, and an external channel's sale was paid for elsewhere.
REFUNDED_SOURCES = (Order.Source.WEB, Order.Source.WAITLIST)
ACTIVE_WAITLIST = (WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED)


@dataclass(frozen=True)
class CancellationPlan:
    """What cancel_event will do to an event, counted now."""

    paid_orders: int
    paid_total: object  # Decimal: what goes back of them (less earlier refunds)
    free_tickets: int
    free_orders: int
    external_orders: list = field(default_factory=list)  # Order rows
    waitlist_people: int = 0
    held_orders: int = 0
    refunded_before: object = 0  # Decimal: refunded of them already


def cancellation_plan(event: Event, *, now: datetime | None = None) -> CancellationPlan:
    """What cancelling `event` would do: paid orders to refund in full, free
    tickets to cancel, externally sold orders to void (listed: their money
    is not ours to give back), people on the waitlist to tell and checkouts
    being paid for to release."""
    now = now or timezone.now()
    paid = Order.objects.filter(event=event, status=Order.Status.PAID)
    # What each still holds (core.queries.money): an order partly refunded
    # already gets only the rest back, as the cancellation email says.
    to_refund = list(
        paid.filter(source__in=REFUNDED_SOURCES).values_list("pk", flat=True)
    )
    money = money_of_orders(to_refund).values()
    comps = paid.filter(source=Order.Source.COMP)
    return CancellationPlan(
        paid_orders=len(to_refund),
        paid_total=sum((m.net for m in money if m.net > 0), ZERO),
        refunded_before=sum((m.refunded for m in money), ZERO),
        free_orders=comps.count(),
        free_tickets=Ticket.objects.filter(order__in=comps.values("pk"))
        .exclude(status=Ticket.Status.VOID)
        .count(),
        external_orders=list(
            paid.filter(source=Order.Source.EXTERNAL).order_by("created_at", "pk")
        ),
        waitlist_people=WaitlistEntry.objects.filter(
            event=event, status__in=ACTIVE_WAITLIST
        ).count(),
        held_orders=Order.objects.filter(
            event=event, status__in=HOLDING_STATUSES
        ).count(),
    )


@dataclass(frozen=True)
class FailedRefund:
    order: Order
    reason: str


@dataclass(frozen=True)
class CancellationProgress:
    """How far a cancelled event's refunds have gone (the worker's sweep,
    core.services.event_cancellation.settle_cancelled_events)."""

    refunded: int
    to_refund: int  # all the paid orders, refunded or not
    failed: list  # FailedRefund, oldest first
    free_left: int
    external_left: int
    external_voided: list  # Order rows voided since the cancellation

    @property
    def done(self) -> bool:
        return (
            self.refunded == self.to_refund
            and not self.free_left
            and not self.external_left
        )


def cancellation_progress(event: Event) -> CancellationProgress | None:
    """None for an event that is not cancelled."""
    if event.cancelled_at is None:
        return None
    orders = Order.objects.filter(event=event, paid_at__isnull=False)
    # Refunded since the cancellation: an order refunded before it was
    # nobody's to refund here.
    closed_since = Q(
        status__in=(Order.Status.REFUNDED, Order.Status.CANCELLED),
        updated_at__gte=event.cancelled_at,
    )
    web = orders.filter(source__in=REFUNDED_SOURCES)
    still_paid = web.filter(status=Order.Status.PAID)
    refunded = web.filter(closed_since).count()
    failed_refund = Refund.objects.filter(
        order=OuterRef("pk"), status=Refund.Status.FAILED
    )
    failed = []
    for order in still_paid.filter(Exists(failed_refund)).order_by("paid_at", "pk"):
        refund = (
            Refund.objects.filter(order=order, status=Refund.Status.FAILED)
            .order_by("-updated_at")
            .first()
        )
        failed.append(
            FailedRefund(order=order, reason=(refund.refusal_reason if refund else ""))
        )
    external = orders.filter(source=Order.Source.EXTERNAL)
    return CancellationProgress(
        refunded=refunded,
        to_refund=refunded + still_paid.count(),
        failed=failed,
        free_left=orders.filter(
            source=Order.Source.COMP, status=Order.Status.PAID
        ).count(),
        external_left=external.filter(status=Order.Status.PAID).count(),
        external_voided=list(external.filter(closed_since).order_by("created_at")),
    )


def cancellation_state_of_order(order: Order) -> str:
    """What a customer's order page says of its money once the event is
    cancelled: "refunded", "refunding", "processing" (its payment not
    through yet), "free", "external", or "" (nothing was charged)."""
    if order.source == Order.Source.COMP:
        return "free"
    if order.source == Order.Source.EXTERNAL:
        return "external"
    if order.status == Order.Status.PAID:
        return "refunding"
    if order.status == Order.Status.REFUNDED:
        return "refunded"
    if order.status == Order.Status.PROCESSING:
        return "processing"
    return ""
