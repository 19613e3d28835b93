"""Cancelling an event: off sale for good, every ticket holder told once,
every paid order refunded in full by the worker.

cancel_event is the owner's decision, one short transaction under the
event's lock: it records who, when and why, takes the event off sale,
releases the checkouts being paid for, closes the waitlist (each person
told by one email) and queues one message per ticket holder (email, and a
text where there is a phone) saying the event is cancelled, why, and what
happens to their money. It calls no payment provider.

settle_cancelled_events, a worker sweep (core.management.commands.
run_worker.PERIODIC_SWEEPS), does the slow part in batches: each paid order
is refunded through refund_order (its idempotency key makes a repeat after
a crash one refund at Stripe), each free-ticket order (a comp, or free
tickets taken on the buy page) cancelled through cancel_comp_tickets, each
externally sold order voided (its money is the channel's to give back: the
event page lists them for the owner). A refund
that fails is tried again on a later round and shown on the event page
until it goes through. The ordinary refund and comp-cancelled emails are
not sent for these (core.services.orders._queue_order_refunded skips the
orders of a cancelled event): the holder already has the cancellation.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core import realtime
from core.exceptions import (
    InvalidRequest,
    NotFound,
    OrderBusy,
    OrderNotRefundable,
    PaymentRefused,
    PaymentUnavailable,
    PermissionRefused,
    RefundUnconfirmed,
    TicketingError,
)
from core.models import Event, Order, OutboundMessage, Refund, WaitlistEntry
from core.notify.outbox import new_message, queue_to_each_order
from core.queries.availability import HOLDING_STATUSES
from core.queries.cancellation import ACTIVE_WAITLIST
from core.queries.money import is_free_order, money_of_orders
from core.queries.staff import can_manage_staff
from core.services.audit import record_change
from core.services.comps import cancel_comp_tickets
from core.services.counters import release_held
from core.services.events import announce_event_changed
from core.services.orders import refund_order

logger = logging.getLogger(__name__)

KIND = "event_cancelled"
WAITLIST_KIND = "event_cancelled_waitlist"
REASON_MAX = 300
# Orders settled per event a round: each refund is one Stripe call.
SETTLED_PER_ROUND = 25
# A refund Stripe failed or refused is asked again no sooner than this.
RETRY_AFTER = timedelta(minutes=5)
# Messages held in memory and written per bulk_create.


class EventAlreadyCancelled(TicketingError):
    code = "already_cancelled"
    message = "This event is already cancelled; nothing changed."
    http_status = 409


def cancel_event(*, actor, event_id, reason: str, now: datetime | None = None) -> Event:
    """Cancel an event for good (the owner's decision).

    In one transaction: locks the event row (as set_event_active), then
    the orders still holding seats with SKIP LOCKED (one being paid right
    now is left: if its payment goes through, the sweep refunds it). Sets
    cancelled_at/by and cancel_reason, takes the event off sale, cancels
    those held orders and releases their seats (their Stripe pages are
    closed by the hold sweep), removes everyone from the waitlist and
    queues one email each, queues the `event_cancelled` email (and text,
    with a phone) to each paid order, writes an `event.cancel` audit entry
    and announces the change after commit. Calls no payment provider.

    Raises PermissionRefused (owner only), InvalidRequest (`reason`
    missing or too long: field "reason"), NotFound, EventAlreadyCancelled.
    Nothing is written when it raises.
    """
    if not can_manage_staff(actor):
        raise PermissionRefused("Only the owner can cancel an event.")
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidRequest(
            "Say why the event is cancelled: your customers will read it.",
            code="reason_required",
            field="reason",
        )
    if len(reason) > REASON_MAX:
        raise InvalidRequest(
            f"Keep the reason to {REASON_MAX} characters (it has {len(reason)}).",
            code="reason_too_long",
            field="reason",
        )
    now = now or timezone.now()
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            raise NotFound("This event no longer exists.", code="unknown_event")
        if event.cancelled_at is not None:
            raise EventAlreadyCancelled(
                f"{event.name} was already cancelled; nothing changed."
            )
        was_active = event.is_active
        event.cancelled_at = now
        event.cancelled_by = actor
        event.cancel_reason = reason
        event.is_active = False
        event.save(
            update_fields=[
                "cancelled_at",
                "cancelled_by",
                "cancel_reason",
                "is_active",
                "updated_at",
            ]
        )
        released = _release_holds(event, now=now)
        waitlist = _close_waitlist(event, now=now)
        told = _tell_holders(event, _orders_to_tell(event))
        record_change(
            actor=actor,
            action="event.cancel",
            obj=event,
            event=event,
            before={"is_active": was_active},
            after={
                "is_active": False,
                "reason": reason,
                "orders_told": told,
                "checkouts_released": released,
                "waitlist_told": waitlist,
            },
        )
        announce_event_changed(event.id, change="cancelled", was_listed=was_active)
        if released:
            realtime.announce_availability_changed(event.id, reason="cancelled")
    return event


def _release_holds(event: Event, *, now: datetime) -> int:
    """Cancel the event's orders still holding seats that no one else holds
    (SKIP LOCKED: the order's lock comes before the event's everywhere
    else), and mark their Stripe pages for the hold sweep to close."""
    orders = list(
        Order.objects.select_for_update(skip_locked=True)
        .filter(event=event, status=Order.Status.PENDING)
        .only("pk")
    )
    if not orders:
        return 0
    ids = [o.pk for o in orders]
    Order.objects.filter(pk__in=ids).update(
        status=Order.Status.CANCELLED,
        updated_at=now,
        checkout_to_close=Q(stripe_checkout_session_id__isnull=False),
    )
    release_held(ids)
    return len(ids)


def _close_waitlist(event: Event, *, now: datetime) -> int:
    """Take everyone off the waitlist, each told by one short email. Their
    offers' orders are pending, so _release_holds cancelled them."""
    entries = list(
        WaitlistEntry.objects.select_for_update()
        .filter(event=event, status__in=ACTIVE_WAITLIST)
        .order_by("pk")
    )
    if not entries:
        return 0
    WaitlistEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
        status=WaitlistEntry.Status.REMOVED, updated_at=now
    )
    context = {"event_name": event.name, "reason": event.cancel_reason}
    OutboundMessage.objects.bulk_create(
        new_message(
            OutboundMessage.Channel.EMAIL,
            kind=WAITLIST_KIND,
            to=entry.email,
            event=event,
            context=context,
        )
        for entry in entries
    )
    return len(entries)


def _orders_to_tell(event: Event):
    """The event's paid orders not yet sent the cancellation (all of them
    when it is cancelled; one paid since, its payment having been under
    way, when the sweep comes to it)."""
    told = OutboundMessage.objects.filter(order=OuterRef("pk"), kind=KIND)
    return (
        Order.objects.filter(event=event, status=Order.Status.PAID)
        .exclude(Exists(told))
        .only(
            "id", "event_id", "source", "currency", "customer_email", "customer_phone"
        )
        .order_by("created_at", "pk")
    )


def _tell_holders(event: Event, orders) -> int:
    """Queue the cancellation email (and text, with a phone) to each order;
    returns how many orders. What each says of money: its amount being
    refunded, nothing for free tickets, and for an external channel's to
    ask the seller."""
    orders = list(orders)
    if not orders:
        return 0
    money = money_of_orders([o.pk for o in orders])

    def context_of(order: Order) -> dict:
        paid = money.get(order.pk)
        return {
            "event_name": event.name,
            "reason": event.cancel_reason,
            "source": order.source,
            "amount": str(paid.net) if paid and paid.net > 0 else "",
            "currency": order.currency,
        }

    queue_to_each_order(orders, kind=KIND, context_of=context_of)
    return len(orders)


def settle_cancelled_events(
    *, now: datetime | None = None, limit: int = SETTLED_PER_ROUND
) -> int:
    """Worker sweep: refund, cancel or void the paid orders of cancelled
    events, up to `limit` per event a round; returns how many it settled.

    Safe to run again and by two workers at once: refund_order and
    cancel_comp_tickets lock the order and do nothing to one already
    settled, and a refund asked again goes under the same idempotency key.
    An order paid since the cancellation (its payment was under way) is
    told first. A refund Stripe refused or failed is left RETRY_AFTER and
    asked again; once Stripe does not answer, the round ends for that event
    (the rest next round). Releases held orders the cancellation skipped.
    Never raises: what fails is logged and tried again.
    """
    now = now or timezone.now()
    settled = 0
    cancelled = Event.objects.filter(cancelled_at__isnull=False)
    busy = (
        Order.objects.filter(
            event_id__in=cancelled.values("pk"),
            status__in=(Order.Status.PAID, *HOLDING_STATUSES),
        )
        .values_list("event_id", flat=True)
        .order_by()  # Order's default ordering would make DISTINCT per row
        .distinct()
    )
    for event_id in list(busy):
        try:
            settled += _settle_event(event_id, now=now, limit=limit)
        except Exception:
            logger.exception("Settling cancelled event %s failed", event_id)
    return settled


def _settle_event(event_id, *, now: datetime, limit: int) -> int:
    event = Event.objects.select_related("cancelled_by").get(pk=event_id)
    with transaction.atomic():
        if Order.objects.filter(event=event, status=Order.Status.PENDING).exists():
            locked = Event.objects.select_for_update().get(pk=event.pk)
            if _release_holds(locked, now=now):
                realtime.announce_availability_changed(event.pk, reason="cancelled")
    recent_failure = Refund.objects.filter(
        order=OuterRef("pk"),
        status=Refund.Status.FAILED,
        updated_at__gt=now - RETRY_AFTER,
    )
    orders = list(
        Order.objects.filter(event=event, status=Order.Status.PAID)
        .exclude(Exists(recent_failure))
        .order_by("paid_at", "pk")
        .only("pk", "total")[:limit]
    )
    settled = 0
    for order in orders:
        order_id = order.pk
        with transaction.atomic():
            _tell_holders(event, _orders_to_tell(event).filter(pk=order_id))
        try:
            if is_free_order(order):
                cancel_comp_tickets(
                    order_id=order_id,
                    reason=event.cancel_reason,
                    actor=event.cancelled_by,
                    tell_guest=False,
                )
            else:
                # An external channel's order is voided, nothing sent.
                refund_order(
                    order_id=order_id,
                    reason=event.cancel_reason,
                    actor=event.cancelled_by,
                )
        except PaymentRefused as exc:
            logger.warning(
                "Refund of order %s (cancelled event) refused: %s",
                order_id,
                exc.reason,
            )
            continue
        except PaymentUnavailable:
            logger.warning(
                "Stripe did not answer refunding order %s; the rest of event %s"
                " next round",
                order_id,
                event_id,
            )
            break
        except (OrderBusy, RefundUnconfirmed, OrderNotRefundable) as exc:
            # Busy, or a partial refund under way: next round. Unconfirmed:
            # the event page shows it for the owner to check Stripe.
            logger.info("Order %s of a cancelled event left: %s", order_id, exc.code)
            continue
        except Exception:
            logger.exception("Settling order %s of a cancelled event failed", order_id)
            continue
        settled += 1
    if settled:
        realtime.announce_event_changed(event.pk, change="cancel_progress")
    return settled
