"""Reads of the waitlist."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from core.models import Event, Order, WaitlistEntry
from core.queries.availability import EventAvailability, TicketTypeAvailability


def position_in_line(entry: WaitlistEntry) -> int | None:
    """1 for the next person to get an offer; None once the entry is not waiting."""
    if entry.status != WaitlistEntry.Status.WAITING:
        return None
    ahead = WaitlistEntry.objects.filter(
        event_id=entry.event_id, status=WaitlistEntry.Status.WAITING
    ).filter(
        Q(created_at__lt=entry.created_at)
        | Q(created_at=entry.created_at, id__lt=entry.id)
    )
    return ahead.count() + 1


def waitlist_for_event(event: Event) -> QuerySet[WaitlistEntry]:
    """Every entry of the event in queue order, for the owner."""
    return (
        WaitlistEntry.objects.filter(event=event)
        .select_related("ticket_type", "offer_order")
        .order_by("created_at", "id")
    )


def waitlist_summary(event: Event) -> dict:
    """Counts by status and how many waiting tickets are wanted."""
    counts = WaitlistEntry.objects.filter(event=event).aggregate(
        waiting=Count("id", filter=Q(status=WaitlistEntry.Status.WAITING)),
        offered=Count("id", filter=Q(status=WaitlistEntry.Status.OFFERED)),
        claimed=Count("id", filter=Q(status=WaitlistEntry.Status.CLAIMED)),
        expired=Count("id", filter=Q(status=WaitlistEntry.Status.EXPIRED)),
        total=Count("id"),
    )
    return counts


def types_to_wait_for(
    availability: EventAvailability,
) -> tuple[list[TicketTypeAvailability], bool]:
    """(the ticket types one may wait for, whether "any type" may be asked).

    With the whole event sold out: any type, or one in particular. That is
    the event as a whole, whether or not a type shows seats: someone
    waiting for "any type" keeps the free seats from the public
    (availability.waiting_by_type) while each type still has one, and
    buying any of them is refused. With some types still on sale, only the
    sold-out ones: the others can be bought now, and join_waitlist would
    refuse them. With none sold out, none.
    """
    types = availability.types
    if not types:
        return [], False
    if availability.is_sold_out:
        return list(types), True
    return [t for t in types if t.sold_out], False


def offer_held_to_sales_close(entry: WaitlistEntry) -> bool:
    """Whether the entry's offer was held for less than WAITLIST_OFFER_HOURS:
    cut short at its ticket type's sales close, which its page and email say."""
    return bool(
        entry.offered_at
        and entry.offer_expires_at
        and entry.offer_expires_at
        < entry.offered_at + timedelta(hours=settings.WAITLIST_OFFER_HOURS)
    )


def offer_has_ended(entry: WaitlistEntry) -> bool:
    """Whether an entry still marked offered has lost its offer: its order
    was cancelled (a bank debit that failed) or has expired, and the sweep
    (expire_offers) has not closed the entry yet. Reads entry.offer_order."""
    return (
        entry.status == WaitlistEntry.Status.OFFERED
        and entry.offer_order_id is not None
        and entry.offer_order.status in (Order.Status.CANCELLED, Order.Status.EXPIRED)
    )
