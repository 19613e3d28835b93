"""Reads for the owner's console: event lists, comps and the audit log."""

import datetime
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.models import (
    AuditLogEntry,
    Event,
    Order,
    OrderLine,
    Role,
    Ticket,
    TicketType,
)
from core.queries.analytics import NIGHT_LENGTH
from core.queries.availability import EventAvailability, availability_for_events
from core.queries.money import FREE_TICKET
from core.templatetags.ticketing import SYMBOLS, money
from core.templatetags.zones import zone_abbreviation

EVENT_LIST_VIEWS = ("upcoming", "inactive", "past")


def console_events(*, show: str = "upcoming", now=None) -> QuerySet[Event]:
    """Upcoming (on sale), inactive (not on sale, still to come) or past events.

    An event is still to come until NIGHT_LENGTH after it starts, as in
    analytics: tonight's show stays on the "On sale" tab while it is on.
    """
    now = now or timezone.now()
    over_before = now - NIGHT_LENGTH
    events = Event.objects.all()
    if show == "past":
        return events.filter(starts_at__lte=over_before).order_by("-starts_at", "name")
    to_come = events.filter(starts_at__gt=over_before)
    if show == "inactive":
        return to_come.filter(is_active=False).order_by("starts_at", "name")
    return to_come.filter(is_active=True).order_by("starts_at", "name")


def console_event_counts(now=None) -> dict[str, int]:
    now = now or timezone.now()
    return {
        show: console_events(show=show, now=now).count() for show in EVENT_LIST_VIEWS
    }


@dataclass(frozen=True)
class EventListRow:
    """An event of the console's list with its figures. "Sold" means what
    the event page and analytics mean (core.queries.event_page): tickets
    paid for; free tickets stand beside them, and the bar (capacity
    use, the availability's total_sold) counts both."""

    event: Event
    availability: EventAvailability
    free: int

    @property
    def paid(self) -> int:
        return max(0, self.availability.total_sold - self.free)

    def summary(self) -> dict:
        """The row's live figures: the availability JSON's `summary`, with
        sold split into `total_paid` and `total_free` as the event page's."""
        availability = self.availability
        return {
            "total_capacity": availability.total_capacity,
            "total_sold": availability.total_sold,
            "total_paid": self.paid,
            "total_free": self.free,
            "total_held": availability.total_held,
            "total_available": availability.total_available,
            "is_sold_out": availability.is_sold_out,
        }


def console_event_rows(*, show: str = "upcoming", now=None) -> list[EventListRow]:
    """One tab of the event list (console_events) with each event's figures,
    in a fixed number of queries whatever the number of events: the page and
    its live figures read the same rows."""
    now = now or timezone.now()
    events = list(console_events(show=show, now=now))
    availability = availability_for_events(events, now)
    free = free_tickets_by_event([event.id for event in events])
    return [
        EventListRow(
            event=event, availability=availability[event.id], free=free.get(event.id, 0)
        )
        for event in events
    ]


def free_tickets_by_event(event_ids: list) -> dict:
    """Free tickets (core.queries.money.FREE_TICKET: comps, and tickets of a
    type priced 0) that still admit, per event id, as analytics counts them:
    one grouped query on the tickets' event index, which holds their price."""
    if not event_ids:
        return {}
    rows = (
        Ticket.objects.filter(FREE_TICKET, event_id__in=event_ids)
        .exclude(status=Ticket.Status.VOID)
        .values("event_id")
        .annotate(n=Count("status"))
        .order_by()
    )
    return {row["event_id"]: row["n"] for row in rows}


def event_ticket_types(event: Event) -> list[TicketType]:
    return list(event.ticket_types.order_by("sort_order", "pk"))


def comp_orders(event: Event) -> QuerySet[Order]:
    """Free tickets the owner issued for an event, newest first."""
    return (
        Order.objects.filter(event=event, source=Order.Source.COMP)
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("ticket_type"))
        )
        .order_by("-created_at")
    )


# --- the audit log, described for people -----------------------------------

ACTION_LABELS: dict[str, str] = {
    "event.create": "Created the event",
    "event.update": "Edited the event",
    "event.activate": "Put the event on sale",
    "event.deactivate": "Took the event off sale",
    "event.delete": "Deleted the event",
    "event.duplicate": "Created as a copy",
    "event.ticket_holders_told": "Told ticket holders of the change",
    "event.cancel": "Cancelled the event",
    "ticket_type.create": "Added a ticket type",
    "ticket_type.update": "Changed a ticket type",
    "ticket_type.delete": "Deleted a ticket type",
    "comp.issue": "Issued free tickets",
    "comp.cancel": "Cancelled free tickets",
    "order.refund": "Refunded an order",
    "order.refund_tickets": "Refunded some tickets of an order",
    "order.refund_completed": "Completed a ticket refund that was cut short",
    "order.refund_order_completed": "Completed an order refund that was cut short",
    "order.void_refunded_outside": "Voided tickets refunded in Stripe",
    "order.void_elsewhere": "Voided a sale by another seller",
    "order.void_elsewhere_tickets": "Voided some tickets sold by another seller",
    "order.email": "Corrected a customer's email",
    "order.phone": "Corrected a customer's phone",
    "staff.invite": "Invited a staff member",
    "staff.invite_revoke": "Cancelled an invitation",
    "staff.join": "Joined the staff",
    "staff.role": "Changed a role",
    "staff.events": "Changed door events",
    "staff.deactivate": "Deactivated a staff member",
    "staff.reactivate": "Reactivated a staff member",
    "device.add": "Added a door device",
    "device.revoke": "Revoked a door device",
    "waitlist.offer": "Offered tickets from the waitlist",
    "waitlist.remove": "Removed someone from the waitlist",
}
FIELD_LABELS: dict[str, str] = {
    "name": "Name",
    "description": "Description",
    "venue": "Venue",
    "starts_at": "Starts at",
    "doors_at": "Doors open",
    "time_zone": "Time zone",
    "venue_capacity": "Venue capacity",
    "currency": "Currency",
    "is_active": "On sale",
    "sales_start_at": "Sales open",
    "sales_end_at": "Sales close",
    "waitlist_skip_larger_requests": "Waitlist: offer freed tickets to the next "
    "person who fits",
    "image": "Picture",
    "slug": "Web address",
    "price": "Price",
    "capacity": "Capacity",
    "max_per_order": "Max per order",
    "sort_order": "Position",
    "role": "Role",
    "events": "Events",
    "email": "Email",
    "phone": "Phone",
    "username": "Username",
    "guest_name": "Guest",
    "guest_email": "Guest email",
    "customer_email": "Customer email",
    "customer_phone": "Customer phone",
    "tickets_updated": "Tickets changed",
    "ticket_type": "Ticket type",
    "quantity": "Quantity",
    "order_code": "Order",
    "copied_from": "Copied from",
    "scans": "Scans",
    "status": "Status",
    "offer_withdrawn": "Their offer withdrawn",
    "offer_expires_at": "Offer ends",
    "reason": "Reason",
    "orders_told": "Ticket holders told",
    "checkouts_released": "Checkouts released",
    "waitlist_told": "Waitlist told",
    "paid_to_other_seller": "Paid to the other seller",
    "refunded_by": "Refunded by",
}
HIDDEN_FIELDS = {"copied_from_id"}
# Set for the owner when a ticket type is added (its place in the list) and
# worth telling only when someone changes it.
HIDDEN_WHEN_ADDED_OR_DELETED = {"sort_order"}
# Amounts of money recorded as plain numbers: shown in the event's currency.
MONEY_FIELDS = {"price", "amount", "total", "paid_to_other_seller"}
TIME_FIELDS = {
    "starts_at",
    "doors_at",
    "sales_start_at",
    "sales_end_at",
    "offer_expires_at",
}


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class AuditRow:
    at: datetime.datetime
    actor: str
    action: str
    subject: str
    changes: list[Change] = field(default_factory=list)


def _describe(
    name: str, value, event: Event | None, event_names: dict | None = None
) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if name in TIME_FIELDS and isinstance(value, str):
        moment = parse_datetime(value)
        if moment is not None:
            zone = event.tz if event is not None else timezone.get_current_timezone()
            local = timezone.localtime(moment, zone)
            # With the zone's short name, as the console shows every time.
            return f"{local:%a %d %b %Y, %H:%M}\u00a0{zone_abbreviation(local)}".strip()
    if name in MONEY_FIELDS and event is not None:
        return _money(value, event.currency)
    if name == "role":
        try:
            return Role(value).label
        except ValueError:
            return str(value)
    if name == "status" and isinstance(value, str):
        return _status_label(value)
    if name == "currency" and isinstance(value, str):
        return value.upper()
    if name == "time_zone" and isinstance(value, str):
        return value.replace("_", " ")  # as the time zone picker names it
    if name == "events" and isinstance(value, list):
        # Events by name; older invites recorded their ids.
        names = event_names or {}
        return ", ".join(names.get(str(v), str(v)) for v in value) or "All events"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if name == "image":
        return "new picture" if value else "none"
    return str(value)


def _status_label(value: str) -> str:
    """An order's or a ticket's status as the console names it ("Refunded")."""
    for statuses in (Order.Status, Ticket.Status):
        try:
            return statuses(value).label
        except ValueError:
            continue
    return value


def _money(value, currency: str) -> str:
    """An amount as the console shows money ("€20.00"); none is "€0.00",
    not the shop's "Free": a refund of nothing is still an amount."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    if amount:
        return money(amount, currency)
    symbol = SYMBOLS.get((currency or "").lower())
    return f"{symbol}0.00" if symbol else f"0.00 {(currency or '').upper()}"


def _unchanged_or_not_for_role(entry: AuditLogEntry) -> set[str]:
    """Keys of `entry` not worth telling: a value recorded before and after
    that did not change (a partial refund leaves the order "paid"), and the
    events of an invitation to a role that sees every event by design (only
    door staff are limited to some)."""
    before, after = entry.before or {}, entry.after or {}
    skip = {key for key in before if key in after and before[key] == after[key]}
    if entry.action == "staff.invite" and after.get("role", Role.DOOR) != Role.DOOR:
        skip.add("events")
    return skip


def describe_entry(
    entry: AuditLogEntry, event: Event | None = None, event_names: dict | None = None
) -> AuditRow:
    """One entry in words: the form's labels, values as the console shows
    them. `event_names` names events recorded by id (event id -> name)."""
    event = event or entry.event
    hidden = HIDDEN_FIELDS
    if not entry.before or not entry.after:
        hidden = hidden | HIDDEN_WHEN_ADDED_OR_DELETED
    hidden = hidden | _unchanged_or_not_for_role(entry)
    keys = [k for k in (*entry.before, *entry.after) if k not in hidden]
    keys = list(dict.fromkeys(keys))
    changes = [
        Change(
            label=FIELD_LABELS.get(key, key.replace("_", " ").capitalize()),
            before=_describe(key, entry.before.get(key), event, event_names)
            if key in entry.before
            else "",
            after=_describe(key, entry.after.get(key), event, event_names)
            if key in entry.after
            else "",
        )
        for key in keys
    ]
    actor = entry.actor
    actor_name = (actor.get_full_name() or actor.get_username()) if actor else "System"
    return AuditRow(
        at=entry.at,
        actor=actor_name,
        action=ACTION_LABELS.get(entry.action, entry.action),
        subject=entry.object_repr,
        changes=changes,
    )


def event_audit_log(event: Event, limit: int = 500) -> list[AuditRow]:
    """An event's changes, newest first, in words and in the event's time zone."""
    entries = AuditLogEntry.objects.filter(event=event).select_related("actor")[:limit]
    return [describe_entry(entry, event) for entry in entries]


def staff_audit_log(limit: int = 100) -> list[AuditRow]:
    entries = list(
        AuditLogEntry.objects.filter(action__startswith="staff.").select_related(
            "actor"
        )[:limit]
    )
    names = _event_names(entries)
    return [describe_entry(entry, event_names=names) for entry in entries]


def device_audit_log(limit: int = 20) -> list[AuditRow]:
    """Door devices added and revoked, newest first: a device's token lets
    people in, so who handed one out stays on record."""
    entries = AuditLogEntry.objects.filter(action__startswith="device.")
    entries = entries.select_related("actor", "event")[:limit]
    return [describe_entry(entry) for entry in entries]


def _event_names(entries: list[AuditLogEntry]) -> dict:
    """Names of the events that older entries list by id (invitations used
    to record ids; now they record names, as edits do), in one query."""
    ids = set()
    for entry in entries:
        for value in (*entry.before.get("events", ()), *entry.after.get("events", ())):
            try:
                ids.add(uuid.UUID(str(value)))
            except ValueError:
                continue
    if not ids:
        return {}
    return {
        str(pk): name
        for pk, name in Event.objects.filter(pk__in=ids).values_list("pk", "name")
    }
