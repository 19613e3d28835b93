"""What the door page reads: events to scan, live counters, ticket states, guests."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format

from core.folding import fold
from core.models import CheckInTally, Event, Role, ScanLog, Ticket, TicketType
from core.queries.analytics import free_tickets_by_type
from core.queries.console import free_tickets_by_event
from core.queries.staff import role_of
from core.services.checkin import checkin_opens_at
from core.tickets.signing import event_key, public_key_b64

RECENT_SCANS = 20
GUEST_RESULTS = 25
# Events stay on the door's list until a day after they start.
DOOR_LIST_GRACE = timedelta(days=1)


def scannable_events(*, now=None) -> QuerySet[Event]:
    """Events still worth scanning (today's and upcoming), soonest first,
    with `checked_in_count`.

    On sale or not: `is_active` only says whether the sites sell and show
    the event, and owners stop online sales at doors-open while the door
    goes on scanning (the scan API does not look at it either). A cancelled
    one stays listed, for the list to say so (`cancelled_at`): door staff
    who find it gone would not know whether to let guests in.
    """
    now = now or timezone.now()
    return with_checked_in(
        Event.objects.filter(starts_at__gte=now - DOOR_LIST_GRACE).order_by(
            "starts_at", "name"
        )
    )


def events_to_put_door_staff_on(*, now=None) -> QuerySet[Event]:
    """Events a door person may be put on: those the door still lists, so a
    show already under way can be given to someone joining mid-evening."""
    now = now or timezone.now()
    return Event.objects.filter(starts_at__gte=now - DOOR_LIST_GRACE).order_by(
        "starts_at"
    )


def with_checked_in(events: QuerySet[Event]) -> QuerySet[Event]:
    """`events` with `checked_in_count`: the sum of their check-in tallies."""
    tallied = (
        CheckInTally.objects.filter(event=OuterRef("pk"))
        .order_by()
        .values("event")
        .annotate(total=Sum("checked_in"))
        .values("total")
    )
    return events.annotate(
        checked_in_count=Coalesce(Subquery(tallied, output_field=IntegerField()), 0)
    )


def checked_in_by_type(event_id) -> dict[int, int]:
    """How many tickets of each type of the event are checked in (types
    with none are left out): one indexed read of at most SLOTS rows a type."""
    rows = (
        CheckInTally.objects.filter(event=event_id)
        .order_by()
        .values_list("ticket_type")
        .annotate(total=Sum("checked_in"))
    )
    return dict(rows)


def door_list_for(user, *, now=None) -> tuple[list[Event], bool]:
    """The scannable events `user` may scan, soonest first, and whether
    `user` is door staff limited to chosen events (so an empty list means
    theirs are over, not that there is nothing to scan).

    Door staff assigned to events see only those; managers, owners and door
    staff on no event in particular see all. Each event carries `free_count`
    and `paid_count` (its sold_count less the free tickets): "Sold" means
    paid for, as in the console.
    """
    events = scannable_events(now=now)
    limited = False
    if role_of(user) == Role.DOOR:
        assigned = list(user.staff_profile.events.values_list("pk", flat=True))
        if assigned:
            limited = True
            events = events.filter(pk__in=assigned)
    events = list(events)
    free = free_tickets_by_event([event.pk for event in events])
    for event in events:
        event.free_count = free.get(event.pk, 0)
        event.paid_count = max(0, event.sold_count - event.free_count)
    return events, limited


def scan_feed_item(log: ScanLog | dict) -> dict:
    """One line of the 'last scans' feed, from a ScanLog row (no joins needed)."""
    if isinstance(log, ScanLog):
        log = {
            "id": log.pk,
            "result": log.result,
            "detail": log.detail,
            "device_label": log.device_label,
            "at": log.at,
            "offline": log.offline,
        }
    detail = log["detail"] or {}
    ticket = detail.get("ticket") or {}
    return {
        "id": log["id"],
        "code": log["result"],
        "verdict": detail.get("verdict", "reject"),
        "message": detail.get("message", ""),
        "ticket_code": ticket.get("code", ""),
        "guest_name": ticket.get("guest_name", ""),
        "ticket_type": ticket.get("ticket_type", ""),
        "ticket_type_id": ticket.get("ticket_type_id"),
        "device": log["device_label"],
        "staff": detail.get("staff_name", ""),
        "at": log["at"].isoformat(),
        "offline": log["offline"],
    }


def door_counters(event: Event) -> dict:
    """Checked in / sold / free / capacity, in total and per type (types in
    the purchase page's order): three queries, the types, their tallies and
    their free tickets.

    In the console's words: `sold` is tickets paid for, `free` the free
    tickets that still admit (core.queries.money.FREE_TICKET), and
    `tickets` both, every ticket that may come in.
    """
    types = TicketType.objects.filter(event=event).order_by(
        "sort_order", "price", "name"
    )
    checked_in = checked_in_by_type(event.pk)
    free = free_tickets_by_type(event.pk)
    all_free = sum(free.values())
    return {
        "totals": {
            "checked_in": sum(checked_in.values()),
            "sold": max(0, event.sold_count - all_free),
            "free": all_free,
            "tickets": event.sold_count,
            "capacity": event.venue_capacity,
        },
        "types": [
            {
                "id": t.pk,
                "name": t.name,
                "checked_in": checked_in.get(t.pk, 0),
                "sold": max(0, t.sold_count - free.get(t.pk, 0)),
                "free": free.get(t.pk, 0),
                "capacity": t.capacity,
            }
            for t in types
        ],
    }


def door_snapshot(event: Event, *, recent: int = RECENT_SCANS) -> dict:
    """The event as it is now, counters (door_counters) and the last scans.

    Five queries: the event row, its types, their check-in tallies and
    free tickets, and the last scans, all read fresh so a page that missed pushes is right again
    after one call. The event's name, start (`when`, as the page's header
    words it), time zone and check-in opening let a page left open follow
    an edit without a reload.
    """
    event = Event.objects.get(pk=event.pk)
    logs = (
        ScanLog.objects.filter(event=event)
        .order_by("-at", "-id")
        .values("id", "result", "detail", "device_label", "at", "offline")[:recent]
    )
    return {
        "event": {
            "id": str(event.pk),
            "name": event.name,
            "starts_at": event.starts_at.isoformat(),
            "when": date_format(event.local_starts_at(), "D j M · H:i"),
            "time_zone": event.time_zone,
            "checkin_opens_at": checkin_opens_at(event).isoformat(),
            # Its tickets are all void: the page says so in a banner.
            "cancelled": event.cancelled_at is not None,
        },
        **door_counters(event),
        "recent": [scan_feed_item(log) for log in logs],
        "server_time": timezone.now().isoformat(),
    }


def _ticket_state(row: dict) -> dict:
    return {
        "code": row["code"],
        "status": row["status"],
        "guest_name": row["guest_name"],
        "ticket_type": row["ticket_type__name"],
        "ticket_type_id": row["ticket_type_id"],
        "used_at": row["scanned_at"].isoformat() if row["scanned_at"] else None,
        "used_device": row["scanned_device"],
        "used_by": _used_by(row),
    }


def _state_fields() -> tuple[str, ...]:
    """What a ticket's state is read from, who let it in by name included
    (a door phone offline says "Already used … by Sam", as the server does)."""
    username = get_user_model().USERNAME_FIELD
    return (
        "code",
        "status",
        "guest_name",
        "ticket_type__name",
        "ticket_type_id",
        "scanned_at",
        "scanned_device",
        "scanned_by__first_name",
        "scanned_by__last_name",
        f"scanned_by__{username}",
    )


def _used_by(row: dict) -> str:
    """As checkin.staff_display_name names the user: full name, or username."""
    username = get_user_model().USERNAME_FIELD
    full = f"{row['scanned_by__first_name'] or ''} {row['scanned_by__last_name'] or ''}"
    return full.strip() or (row[f"scanned_by__{username}"] or "")


def ticket_states(event: Event, *, since=None) -> dict:
    """Every ticket's state for a door phone's offline copy, and how to verify codes.

    With `since`, only tickets changed after it (services that change a
    ticket's status set `updated_at`). Guest emails are not included. A
    cancelled event's tickets are all void, as the server answers them,
    before the worker's refunds void them order by order: sent whole once
    the cancellation is newer than `since`, though no ticket row changed.
    """
    cancelled_at = event.cancelled_at
    tickets = Ticket.objects.filter(event=event)
    if since is not None and not (cancelled_at and cancelled_at >= since):
        tickets = tickets.filter(updated_at__gte=since)
    rows = tickets.order_by("code").values(*_state_fields())
    states = [_ticket_state(row) for row in rows]
    if cancelled_at:
        for state in states:
            state["status"] = Ticket.Status.VOID
    return {
        "event": str(event.pk),
        "event_key": event_key(event.pk),
        "public_key": public_key_b64(),
        "generated_at": timezone.now().isoformat(),
        "partial": since is not None,
        "tickets": states,
    }


def search_guests(event: Event, query: str, *, limit: int = GUEST_RESULTS) -> list:
    """Tickets of `event` whose guest name or email contains `query`, or
    whose code is it. Names match ignoring case and accents ("garcia" finds
    "Ana García"), codes ignoring case, spaces and dashes ("9qy2 yxed-dq"),
    as the door page's offline search does. A NUL (which Postgres cannot
    compare) counts as a space. Emails are matched whole but answered
    masked (masked_email): any two letters list up to `limit` guests, and
    a door phone is often a volunteer's own."""
    query = " ".join((query or "").replace("\x00", " ").split())[:100]
    if len(query) < 2:
        return []
    code = "".join(ch for ch in query if ch not in " -").upper()
    wanted = Q(guest_email__icontains=query) | Q(code=code)
    if name := fold(query):
        # Folded on both sides, so a plain (case-sensitive) LIKE will do.
        wanted |= Q(guest_name_folded__contains=name)
    matches = (
        Ticket.objects.filter(event=event)
        .filter(wanted)
        .order_by("guest_name", "code")
        .values(*_state_fields(), "guest_email")[:limit]
    )
    return [
        {**_ticket_state(row), "guest_email": masked_email(row["guest_email"])}
        for row in matches
    ]


def masked_email(email: str) -> str:
    """'an…@example.com': enough to tell two guests of one name apart at
    the door, not an address to keep."""
    local, at, domain = (email or "").partition("@")
    if not local:
        return ""
    return f"{local[:2]}\u2026{at}{domain}"
