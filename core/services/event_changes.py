"""Telling ticket holders that their event changed (a new time, venue or name).

People plan around an event's date, doors time and venue, and find it in
their inbox and calendar by its name: when the owner changes one of these,
each paid order that still holds a ticket gets an email (with an updated
calendar file) and, with a phone, a text, saying what changed, old and new,
in the event's own zone. Prices, capacity, sales windows, the description
or the picture change nothing for someone who already holds a ticket.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from django.utils import dateformat, timezone

from core.models import Event
from core.notify.outbox import queue_to_each_order
from core.queries.ticket_holders import orders_holding_tickets
from core.services.audit import record_change
from core.templatetags.zones import zone_abbreviation

KIND = "event_changed"
NOT_ANNOUNCED = "to be announced"


@dataclass(frozen=True)
class HolderFacts:
    """What a ticket holder relies on, as it stands before or after an edit."""

    name: str
    starts_at: datetime
    doors_at: datetime | None
    time_zone: str
    venue: str


@dataclass(frozen=True)
class ChangedDetail:
    label: str
    now: str
    was: str


@dataclass(frozen=True)
class EventChange:
    """The differences a ticket holder would notice, in words."""

    before: HolderFacts
    after: HolderFacts
    details: tuple[ChangedDetail, ...]

    def __bool__(self) -> bool:
        return bool(self.details)

    @property
    def what(self) -> str:
        """ "new time", "new time and venue", "new doors time, venue and name"."""
        labels = {detail.label for detail in self.details}
        parts = []
        if "Starts" in labels:
            parts.append("time")
        elif "Doors open" in labels:
            parts.append("doors time")
        if "Venue" in labels:
            parts.append("venue")
        if "Event name" in labels:
            parts.append("name")
        if not parts:
            return ""
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1])
        if len(parts) > 1:
            listed += f" and {parts[-1]}"
        return f"new {listed}"


@dataclass(frozen=True)
class ChangeNotice:
    """What update_event did about ticket holders: `what` changed for them
    ("" for nothing), and how many orders are being told (0: none)."""

    what: str = ""
    orders_told: int = 0


def holder_facts(event: Event) -> HolderFacts:
    return HolderFacts(
        name=event.name,
        starts_at=event.starts_at,
        doors_at=event.doors_at,
        time_zone=event.time_zone,
        venue=event.venue,
    )


def _local(value: datetime, zone_name: str) -> datetime:
    return timezone.localtime(value, zoneinfo.ZoneInfo(zone_name))


def _moment(value: datetime | None, zone_name: str, *, year: bool = False) -> str:
    """ "Sat 12 Dec, 21:00 CET" in the event's zone, as its holders read it.

    Plain spaces and ASCII only, so the same words fit a text message.
    """
    if value is None:
        return NOT_ANNOUNCED
    local = _local(value, zone_name)
    text = dateformat.format(local, "D j M Y, H:i" if year else "D j M, H:i")
    return f"{text} {zone_abbreviation(local)}".strip()


def _years_differ(a: datetime | None, a_zone: str, b: datetime | None, b_zone: str):
    if a is None or b is None:
        return False
    return _local(a, a_zone).year != _local(b, b_zone).year


def _text_or_tba(value: str) -> str:
    return value or NOT_ANNOUNCED


def event_change(before: HolderFacts, after: HolderFacts) -> EventChange:
    """Compare what holders see, each time in its own zone: a new zone with
    the same wall clock is a new time ("21:00 GMT (was 21:00 CET)"), and a
    new zone that reads the same (Paris to Madrid) changes nothing for them."""
    details = []
    for label, old, new in (
        ("Starts", before.starts_at, after.starts_at),
        ("Doors open", before.doors_at, after.doors_at),
    ):
        year = _years_differ(old, before.time_zone, new, after.time_zone)
        was = _moment(old, before.time_zone, year=year)
        now = _moment(new, after.time_zone, year=year)
        if was != now:
            details.append(ChangedDetail(label=label, now=now, was=was))
    if before.venue != after.venue:
        details.append(
            ChangedDetail(
                label="Venue",
                now=_text_or_tba(after.venue),
                was=_text_or_tba(before.venue),
            )
        )
    if before.name != after.name:
        details.append(
            ChangedDetail(label="Event name", now=after.name, was=before.name)
        )
    return EventChange(before=before, after=after, details=tuple(details))


def change_message_context(change: EventChange) -> dict:
    """What the event_changed email and text say; the same for every order
    (each message adds its own order and link when it is rendered)."""
    after, by_label = change.after, {d.label: d for d in change.details}
    starts = by_label.get("Starts")
    venue = by_label.get("Venue")
    name = by_label.get("Event name")
    local_start = _local(after.starts_at, after.time_zone)
    doors = (
        dateformat.format(_local(after.doors_at, after.time_zone), "H:i")
        if after.doors_at
        else ""
    )
    return {
        "event_name": after.name,
        "what_changed": change.what,
        "changes": [
            {"label": d.label, "now": d.now, "was": d.was} for d in change.details
        ],
        "starts": starts.now if starts else _moment(after.starts_at, after.time_zone),
        "when": f"{dateformat.format(local_start, 'l j F Y, H:i')} "
        f"{zone_abbreviation(local_start)}",
        "doors": doors,
        "venue": after.venue,
        "starts_was": starts.was if starts else "",
        "venue_was": venue.was if venue else "",
        "name_was": name.was if name else "",
    }


def tell_ticket_holders_of_change(*, actor, event: Event, change: EventChange) -> int:
    """Queue the event_changed email, and a text where there is a phone, to
    each paid order still holding a ticket; returns how many orders.

    Call it once the change is saved, in a transaction of its own
    (update_event): it writes a row per message, too long to hold the
    event's lock for. An order paid after the change is told too (its
    confirmation already shows the new details). Messages are written in
    batches through the outbox, so the worker sends them after commit.
    Writes one audit entry with the numbers told. Takes no locks.
    """
    if not change:
        return 0
    context = change_message_context(change)
    orders = (
        orders_holding_tickets(event.id)
        .only("id", "event_id", "customer_email", "customer_phone")
        .order_by("created_at", "pk")
    )
    told, texts = queue_to_each_order(orders, kind=KIND, context_of=lambda _: context)
    if told:
        record_change(
            actor=actor,
            action="event.ticket_holders_told",
            obj=event,
            event=event,
            after={
                "told_of": change.what,
                "orders": told,
                "emails": told,  # one per order
                "texts": texts,
            },
        )
    return told
