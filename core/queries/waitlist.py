"""Reads of the waitlist."""

from django.db.models import Count, Q, QuerySet

from core.models import Event, WaitlistEntry
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

    With the whole event sold out: any type, or one in particular. With some
    types still on sale, only the sold-out ones: the others can be bought
    now, and join_waitlist would refuse them. With none sold out, none.
    """
    types = availability.types
    sold_out = [t for t in types if t.sold_out]
    if not sold_out:
        return [], False
    if availability.is_sold_out:
        return list(types), True
    return sold_out, False
