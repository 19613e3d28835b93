"""Creating and editing events and their ticket types (the owner's console).

Every function here is one transaction that writes an audit entry for each
change and announces it after commit. Capacity edits take the same locks as
checkout (the event row, then its ticket types by primary key), so a capacity
can never be set below what is sold plus what is held at that instant.
"""

import functools
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import slugify

from core import realtime
from core.exceptions import (
    CapacityBelowSold,
    HasSales,
    InvalidRequest,
    NotFound,
    PermissionRefused,
)
from core.images import prepare_event_image
from core.models import AuditLogEntry, Event, Order, OrderLine, Ticket, TicketType
from core.phones import country_of_time_zone
from core.queries.availability import held_by_type
from core.queries.devices import found_devices
from core.queries.staff import (
    can_manage_events,
    can_manage_staff,
    door_access,
    door_staff_only_at,
)
from core.services.audit import changed_only, record_change, snapshot
from core.services.event_changes import (
    ChangeNotice,
    event_change,
    holder_facts,
    tell_ticket_holders_of_change,
)
from core.services.staff import display_name
from core.services.waitlist import offer_after_commit
from core.templatetags.zones import zone_abbreviation

# Currencies the console offers; the `money` filter knows their symbols.
CURRENCIES = {
    "usd": "US dollar ($)",
    "eur": "Euro (€)",
    "gbp": "Pound sterling (£)",
    "cad": "Canadian dollar (CA$)",
    "aud": "Australian dollar (A$)",
    "mxn": "Mexican peso (MX$)",
}
MAX_PRICE = Decimal("99999999.99")
MAX_CAPACITY = 1_000_000
MAX_PER_ORDER_LIMIT = 100
MAX_SORT_ORDER = 32767
DOORS_BEFORE_START_MAX_HOURS = 12

EVENT_FIELDS = (
    "name",
    "description",
    "venue",
    "starts_at",
    "doors_at",
    "time_zone",
    "venue_capacity",
    "currency",
    "is_active",
    "sales_start_at",
    "sales_end_at",
    "waitlist_skip_larger_requests",
)
TYPE_FIELDS = (
    "name",
    "description",
    "price",
    "capacity",
    "max_per_order",
    "sort_order",
    "is_active",
    "sales_start_at",
    "sales_end_at",
)


@dataclass(frozen=True)
class EventDetails:
    """What the owner types about an event (everything but its ticket types)."""

    name: str
    starts_at: datetime
    venue_capacity: int
    time_zone: str = "UTC"
    currency: str = "usd"
    description: str = ""
    venue: str = ""
    doors_at: datetime | None = None
    sales_start_at: datetime | None = None
    sales_end_at: datetime | None = None
    is_active: bool = True
    waitlist_skip_larger_requests: bool = False


@dataclass(frozen=True)
class TicketTypeDetails:
    """One ticket type as edited; `id` names an existing type, `delete` removes it."""

    name: str
    price: Decimal
    capacity: int
    max_per_order: int = 10
    sort_order: int = 0
    description: str = ""
    is_active: bool = True
    sales_start_at: datetime | None = None
    sales_end_at: datetime | None = None
    id: int | None = None
    delete: bool = False


def event_details_of(event: Event) -> EventDetails:
    return EventDetails(
        **{f.name: getattr(event, f.name) for f in fields(EventDetails)}
    )


@dataclass(frozen=True)
class EventUpdate:
    """What update_event saved, and what it did about ticket holders.

    `sales_close_moved` names each "Sales close" that moved with a moved
    start, with its new time ("VIP: Sat 11 May, 20:00 CEST"); `start_moved_by`
    is how far (negative: earlier)."""

    event: Event
    notice: ChangeNotice
    sales_close_moved: tuple[str, ...] = ()
    start_moved_by: timedelta = timedelta(0)


@dataclass(frozen=True)
class OpenedVersion:
    """What an edit page was opened on: the event's `updated_at` and each of
    its ticket types' (by id). Every edit saves them; the sales counters do
    not, so a sale never makes an open page out of date."""

    event: datetime
    types: Mapping[int, datetime]


def opened_version_of(
    event: Event, ticket_types: Sequence[TicketType]
) -> OpenedVersion:
    return OpenedVersion(
        event=event.updated_at, types={t.id: t.updated_at for t in ticket_types}
    )


def ticket_type_details_of(ticket_type: TicketType) -> TicketTypeDetails:
    values = {
        f.name: getattr(ticket_type, f.name)
        for f in fields(TicketTypeDetails)
        if f.name != "delete"
    }
    return TicketTypeDetails(**values)


def announce_event_changed(event_id, *, change: str, was_listed: bool = False) -> None:
    """After commit: pages showing the event hear of it (core.realtime), and
    every process forgets the event it kept for door phones, signed in
    (core.queries.staff door_access) or by device token (found_devices keeps
    each device with its event), so the next scan answers by the event as
    it is now: cancelled, or its check-in moved."""
    realtime.announce_event_changed(event_id, change=change, was_listed=was_listed)
    transaction.on_commit(door_access.announce_change)
    transaction.on_commit(found_devices.announce_change)


# --- validation -----------------------------------------------------------


def _invalid(message: str, code: str, field: str, **detail) -> InvalidRequest:
    return InvalidRequest(message, code=code, field=field, **detail)


def _require_manager(actor) -> None:
    """`actor=None` is the system (commands, seed); people need a managing role."""
    if actor is not None and not can_manage_events(actor):
        raise PermissionRefused("Only the owner and managers can change events.")


def _aware(value: datetime | None, field: str) -> None:
    if value is not None and timezone.is_naive(value):
        raise _invalid("Give a date with a time zone.", "naive_datetime", field)


@functools.cache
def place_time_zones() -> frozenset[str]:
    """The time zones an event can be given: UTC and the tz database's zones
    of real places (its zone.tab and zone1970.tab, as core.phones reads
    them). Not its old aliases ("Asia/Calcutta"), its "Etc/GMT+5" zones (whose
    sign reads backwards), "Factory" or "localtime"."""
    return frozenset(
        {"UTC"} | {z for z in zoneinfo.available_timezones() if country_of_time_zone(z)}
    )


def _check_time_zone(time_zone: str, kept: str | None = None) -> None:
    """A zone of a real place, or `kept`: the zone the event already has
    (an event on an alias keeps it through an edit or a copy)."""
    if time_zone in place_time_zones() or (
        time_zone == kept and time_zone in zoneinfo.available_timezones()
    ):
        return
    raise _invalid(
        f"“{time_zone}” is not a time zone we offer: choose the place of the "
        "event, e.g. Europe/Madrid.",
        "invalid_time_zone",
        "time_zone",
    )


def _doors_after_start(doors_at: datetime, starts_at: datetime, time_zone: str):
    """ "Doors (19:00) are after the start (18:00)…", with the dates when
    they fall on different days, in the event's zone."""
    zone = zoneinfo.ZoneInfo(time_zone)
    doors, start = doors_at.astimezone(zone), starts_at.astimezone(zone)

    def shown(moment: datetime) -> str:
        if doors.date() == start.date():
            return f"{moment:%H:%M}"
        return f"{moment:%a} {moment.day} {moment:%b %H:%M}"

    return _invalid(
        f"Doors ({shown(doors)}) are after the start ({shown(start)}): set the "
        "doors earlier or the start later.",
        "doors_after_start",
        "doors_at",
    )


def _moment(value: datetime, time_zone: str, *, now: datetime) -> str:
    """ "Sat 4 May, 21:00 CEST" in the event's zone; the year too when it
    is not this year's."""
    local = timezone.localtime(value, zoneinfo.ZoneInfo(time_zone))
    this_year = local.year == timezone.localtime(now, local.tzinfo).year
    text = date_format(local, "D j M, H:i" if this_year else "D j M Y, H:i")
    return f"{text} {zone_abbreviation(local)}".strip()


def _check_dates(details: EventDetails, *, now: datetime, creating: bool) -> None:
    """A new event starts in the future, and sales open before the start.

    An edit may set a start in the past: a past event's record can be
    corrected, and a show that began early can say so."""
    if creating and details.starts_at < now:
        raise _invalid(
            f"The start ({_moment(details.starts_at, details.time_zone, now=now)}) "
            "is in the past: check the date and time.",
            "starts_in_past",
            "starts_at",
        )
    if (
        details.sales_start_at is not None
        and details.sales_start_at >= details.starts_at
    ):
        raise _sales_open_after_start(
            details.sales_start_at, details, now=now, detail={}
        )


def _sales_open_after_start(opens: datetime, details: EventDetails, *, now, detail):
    zone = details.time_zone
    return _invalid(
        f"Sales open ({_moment(opens, zone, now=now)}) after the event starts "
        f"({_moment(details.starts_at, zone, now=now)}), so nothing would sell: "
        "open sales before the start, or leave “Sales open” empty.",
        "sales_open_after_start",
        "sales_start_at",
        **detail,
    )


def _check_type_dates(
    specs: Sequence[TicketTypeDetails], details: EventDetails, *, now: datetime
) -> None:
    for index, spec in enumerate(specs):
        opens = spec.sales_start_at
        if not spec.delete and opens is not None and opens >= details.starts_at:
            raise _sales_open_after_start(
                opens, details, now=now, detail={"type_index": index}
            )


def _clean_event(
    details: EventDetails, kept_time_zone: str | None = None
) -> EventDetails:
    name = (details.name or "").strip()
    if not name:
        raise _invalid("Give the event a name.", "name_required", "name")
    if len(name) > 200:
        raise _invalid("Keep the name under 200 characters.", "name_too_long", "name")
    if details.starts_at is None:
        raise _invalid("When does the event start?", "starts_at_required", "starts_at")
    for field in ("starts_at", "doors_at", "sales_start_at", "sales_end_at"):
        _aware(getattr(details, field), field)
    _check_time_zone(details.time_zone, kept_time_zone)
    currency = (details.currency or "").lower()
    if currency not in CURRENCIES:
        raise _invalid(
            "Choose one of the listed currencies.", "invalid_currency", "currency"
        )
    capacity = details.venue_capacity
    if not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY:
        raise _invalid(
            f"Venue capacity must be a whole number from 1 to {MAX_CAPACITY:,}.",
            "invalid_capacity",
            "venue_capacity",
        )
    if details.doors_at is not None:
        if details.doors_at > details.starts_at:
            raise _doors_after_start(
                details.doors_at, details.starts_at, details.time_zone
            )
        gap = details.starts_at - details.doors_at
        if gap.total_seconds() > DOORS_BEFORE_START_MAX_HOURS * 3600:
            raise _invalid(
                f"Doors open more than {DOORS_BEFORE_START_MAX_HOURS} hours before the "
                "start; check the time.",
                "doors_too_early",
                "doors_at",
            )
    _check_window(details.sales_start_at, details.sales_end_at, {})
    return replace(
        details,
        name=name,
        currency=currency,
        venue=(details.venue or "").strip(),
        description=(details.description or "").strip(),
    )


def _check_window(start, end, detail: dict) -> None:
    if start is not None and end is not None and end <= start:
        raise _invalid(
            "Sales must end after they start.", "sales_window", "sales_end_at", **detail
        )


def _clean_type(spec: TicketTypeDetails, index: int) -> TicketTypeDetails:
    where = {"type_index": index}
    name = (spec.name or "").strip()
    if spec.delete:
        return replace(spec, name=name)
    if not name:
        raise _invalid("Give the ticket type a name.", "name_required", "name", **where)
    if len(name) > 100:
        raise _invalid(
            "Keep the name under 100 characters.", "name_too_long", "name", **where
        )
    try:
        price = Decimal(spec.price)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise _invalid(
            "Give a price like 25.00.", "invalid_price", "price", **where
        ) from exc
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        raise _invalid(
            "The price must be 0 (free) or more.", "invalid_price", "price", **where
        )
    if price != price.quantize(Decimal("0.01")):
        raise _invalid(
            "Prices have at most two decimals, like 25.50.",
            "invalid_price",
            "price",
            **where,
        )
    if not isinstance(spec.capacity, int) or not 0 <= spec.capacity <= MAX_CAPACITY:
        raise _invalid(
            f"Capacity must be a whole number from 0 to {MAX_CAPACITY:,}.",
            "invalid_capacity",
            "capacity",
            **where,
        )
    if (
        not isinstance(spec.max_per_order, int)
        or not 1 <= spec.max_per_order <= MAX_PER_ORDER_LIMIT
    ):
        raise _invalid(
            f"Tickets per order must be from 1 to {MAX_PER_ORDER_LIMIT}.",
            "invalid_max_per_order",
            "max_per_order",
            **where,
        )
    if (
        not isinstance(spec.sort_order, int)
        or not 0 <= spec.sort_order <= MAX_SORT_ORDER
    ):
        raise _invalid(
            "The position must be a whole number, 0 or more.",
            "invalid_sort_order",
            "sort_order",
            **where,
        )
    _aware(spec.sales_start_at, "sales_start_at")
    _aware(spec.sales_end_at, "sales_end_at")
    _check_window(spec.sales_start_at, spec.sales_end_at, where)
    return replace(
        spec,
        name=name,
        price=price.quantize(Decimal("0.01")),
        description=(spec.description or "").strip(),
    )


def _check_type_names(specs: Sequence[TicketTypeDetails], kept_names: dict) -> None:
    """Names are unique per event, ignoring case; `kept_names` maps name to index."""
    seen = dict(kept_names)
    for index, spec in enumerate(specs):
        if spec.delete:
            continue
        key = spec.name.casefold()
        if key in seen and seen[key] != index:
            raise _invalid(
                f"There are two ticket types called “{spec.name}”. Give each its own name.",
                "duplicate_type_name",
                "name",
                type_index=index,
            )
        seen[key] = index


def _check_name_free(name: str, exclude_id=None) -> None:
    clash = Event.objects.filter(name__iexact=name)
    if exclude_id is not None:
        clash = clash.exclude(pk=exclude_id)
    if clash.exists():
        raise _invalid(
            f"There is already an event called “{name}”. Choose another name.",
            "name_taken",
            "name",
        )


def _free_slug(name: str) -> str:
    base = (slugify(name) or "event")[:100].strip("-") or "event"
    slug, n = base, 1
    while Event.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _save_new_event(event: Event) -> None:
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError as exc:
        if Event.objects.filter(name__iexact=event.name).exists():
            raise _invalid(
                f"There is already an event called “{event.name}”. Choose another name.",
                "name_taken",
                "name",
            ) from exc
        raise InvalidRequest(
            "Someone saved a similar event at the same moment; please try again.",
            code="conflict",
        ) from exc


def _delete_file_after_commit(storage, name: str) -> None:
    if name:
        transaction.on_commit(lambda: storage.delete(name))


# --- services ---------------------------------------------------------------


@transaction.atomic
def create_event(
    *,
    actor,
    details: EventDetails,
    ticket_types: Sequence[TicketTypeDetails],
    image=None,
) -> Event:
    """Create an event with its ticket types; the slug comes from the name, once.

    Takes no locks (nothing is sold yet). Writes audit entries for the event and
    each type; announces the new event after commit. Raises PermissionRefused,
    InvalidRequest (with `field`, and `type_index` for a ticket type: codes
    name_taken, invalid_capacity, invalid_image, invalid_time_zone (not one
    of place_time_zones), no_ticket_types...).
    """
    return _create_event(
        actor=actor, details=details, ticket_types=ticket_types, image=image
    )


def _create_event(
    *,
    actor,
    details: EventDetails,
    ticket_types: Sequence[TicketTypeDetails],
    image=None,
    kept_time_zone: str | None = None,
) -> Event:
    """create_event, also accepting `kept_time_zone` (a copy's source's)."""
    _require_manager(actor)
    details = _clean_event(details, kept_time_zone)
    now = timezone.now()
    _check_dates(details, now=now, creating=True)
    specs = [_clean_type(spec, i) for i, spec in enumerate(ticket_types)]
    specs = [s for s in specs if not s.delete]
    if not specs:
        raise _invalid(
            "Add at least one ticket type.", "no_ticket_types", "ticket_types"
        )
    _check_type_dates(specs, details, now=now)
    _check_type_names(specs, {})
    _check_name_free(details.name)
    stored_image = prepare_event_image(image) if image else None

    event = Event(
        **{name: getattr(details, name) for name in EVENT_FIELDS},
        slug=_free_slug(details.name),
    )
    if stored_image is not None:
        event.image = stored_image
    _save_new_event(event)
    record_change(
        actor=actor,
        action="event.create",
        obj=event,
        event=event,
        after=snapshot(event, (*EVENT_FIELDS, "slug", "image")),
    )
    for spec in specs:
        _create_type(actor, event, spec)
    announce_event_changed(event.id, change="created")
    return event


def _create_type(actor, event: Event, spec: TicketTypeDetails) -> TicketType:
    ticket_type = TicketType.objects.create(
        event=event, **{name: getattr(spec, name) for name in TYPE_FIELDS}
    )
    record_change(
        actor=actor,
        action="ticket_type.create",
        obj=ticket_type,
        object_repr=ticket_type.name,
        event=event,
        after=snapshot(ticket_type, TYPE_FIELDS),
    )
    return ticket_type


def _type_has_sales(ticket_type: TicketType) -> bool:
    return (
        ticket_type.sold_count > 0
        or OrderLine.objects.filter(ticket_type=ticket_type).exists()
        or Ticket.objects.filter(ticket_type=ticket_type).exists()
    )


def _event_has_sales(event: Event) -> bool:
    return (
        event.sold_count > 0
        or Order.objects.filter(event=event).exists()
        or Ticket.objects.filter(event=event).exists()
    )


def lock_event_and_types(event_id) -> tuple[Event, list[TicketType]]:
    """Lock an event row, then its ticket types by primary key (checkout's order)."""
    event = Event.objects.select_for_update().filter(pk=event_id).first()
    if event is None:
        raise NotFound("This event no longer exists.", code="unknown_event")
    types = list(
        TicketType.objects.select_for_update().filter(event=event).order_by("pk")
    )
    return event, types


def update_event(
    *,
    actor,
    event_id,
    details: EventDetails,
    ticket_types: Sequence[TicketTypeDetails],
    image=None,
    remove_image: bool = False,
    tell_ticket_holders: bool = False,
    opened: OpenedVersion | None = None,
    now: datetime | None = None,
) -> EventUpdate:
    """Change an event and its ticket types together.

    Locks the event row, then its ticket types in primary-key order (the order
    place_order uses), and only then reads what is sold and held, so no sale
    can slip in between the check and the write. `ticket_types` lists types
    to change (with `id`), add (without) or delete (`delete=True`); types not
    listed stay as they are. The slug never changes. A new price applies only
    to orders placed from now on (order lines keep their own unit price).

    `opened` is what the edit page showed (opened_version_of, when it was
    opened): if anyone changed the event or its ticket types since, under
    the lock, nothing is written and InvalidRequest (code edited_meanwhile)
    says who did and when, so a page left open never puts back prices,
    capacities or the on-sale state someone else changed. Without it (the
    system's callers) the details are written as given.

    Sales cannot open after the start. A moved start takes along each
    "Sales close" (the event's, each type's) that was left as it was and is
    still ahead, so a show moved a week later does not stop selling at the
    old date, and one brought forward does not go on selling after it has
    begun; the result's `sales_close_moved` names them.

    With `tell_ticket_holders`, a change to what ticket holders rely on (the
    start or doors time, the time zone, the venue or the name) queues a
    message to each paid order still holding tickets
    (core.services.event_changes), in a transaction of its own once the
    change is saved: writing one per order must not hold the event's lock,
    which every checkout and payment of the event waits for. The result's
    `notice` says what changed for them and how many orders are being told.

    Writes one audit entry per changed object; announces the event change,
    and availability when capacity, prices or types changed, after commit.
    Raises PermissionRefused, NotFound, InvalidRequest, CapacityBelowSold
    (capacity under sold + held; when several capacities are, one error
    listing each under `errors`) and HasSales (deleting a type with orders);
    errors carry `field` and, for a ticket type, `type_index`. The time zone
    is one of place_time_zones, or the one the event has.
    """
    with transaction.atomic():
        event, change, moved, start_moved_by = _update_event_locked(
            actor=actor,
            event_id=event_id,
            details=details,
            ticket_types=ticket_types,
            image=image,
            remove_image=remove_image,
            opened=opened,
            now=now,
        )
    told = 0
    if tell_ticket_holders and change:
        with transaction.atomic():
            told = tell_ticket_holders_of_change(
                actor=actor, event=event, change=change
            )
    return EventUpdate(
        event=event,
        notice=ChangeNotice(what=change.what, orders_told=told),
        sales_close_moved=moved,
        start_moved_by=start_moved_by,
    )


def _update_event_locked(
    *,
    actor,
    event_id,
    details: EventDetails,
    ticket_types: Sequence[TicketTypeDetails],
    image,
    remove_image: bool,
    opened: OpenedVersion | None,
    now: datetime | None,
):
    """update_event's change, under the event's lock: (event, EventChange,
    the sales closes moved, how far the start moved)."""
    _require_manager(actor)
    now = now or timezone.now()
    event, types = lock_event_and_types(event_id)
    if opened is not None:
        _refuse_if_changed_since(actor, event, types, opened, now=now)
    if details.is_active and event.cancelled_at is not None:
        raise _invalid(
            f"{event.name} is cancelled, so it cannot go back on sale: untick "
            "“On sale”. To sell a new date, duplicate it.",
            "event_cancelled",
            "is_active",
        )
    # The zone the event has stays valid, an old alias included.
    details = _clean_event(details, event.time_zone)
    specs = [_clean_type(spec, i) for i, spec in enumerate(ticket_types)]
    _check_dates(details, now=now, creating=False)
    _check_type_dates(specs, details, now=now)

    held = held_by_type(event_ids=[event.id], now=now)
    by_id = {t.id: t for t in types}

    _check_name_free(details.name, exclude_id=event.id)
    if details.currency != event.currency and _event_has_sales(event):
        raise _invalid(
            "The currency cannot change once tickets have been ordered.",
            "currency_locked",
            "currency",
        )
    # Every capacity under what is sold and held is reported at once.
    too_low: list[CapacityBelowSold] = []
    total_held = sum(held.get(t.id, 0) for t in types)
    if details.venue_capacity < event.sold_count + total_held:
        too_low.append(
            CapacityBelowSold(
                f"Venue capacity cannot be lower than {event.sold_count + total_held}: "
                f"{event.sold_count} tickets are sold and {total_held} are being "
                "paid for right now.",
                field="venue_capacity",
                minimum=event.sold_count + total_held,
            )
        )

    listed = {}
    for index, spec in enumerate(specs):
        if spec.id is None:
            continue
        if spec.id not in by_id:
            raise _invalid(
                "That ticket type does not belong to this event.",
                "unknown_ticket_type",
                "name",
                type_index=index,
            )
        if spec.id in listed:
            raise _invalid(
                "The same ticket type was sent twice.",
                "duplicate_ticket_type",
                "name",
                type_index=index,
            )
        listed[spec.id] = index
    unlisted_names = {t.name.casefold(): -1 - t.id for t in types if t.id not in listed}
    _check_type_names(specs, unlisted_names)

    for index, spec in enumerate(specs):
        if spec.id is None or spec.delete:
            continue
        current = by_id[spec.id]
        floor = current.sold_count + held.get(current.id, 0)
        if spec.capacity < floor:
            too_low.append(
                CapacityBelowSold(
                    f"{current.name}: capacity cannot be lower than {floor} "
                    f"({current.sold_count} sold, {held.get(current.id, 0)} being "
                    "paid for right now).",
                    field="capacity",
                    type_index=index,
                    minimum=floor,
                )
            )
    if too_low:
        raise _all_of(too_low)
    remaining = (
        len(types)
        - sum(1 for s in specs if s.delete and s.id)
        + sum(1 for s in specs if s.id is None and not s.delete)
    )
    if remaining < 1:
        raise _invalid(
            "An event needs at least one ticket type. Switch a type off instead "
            "of deleting it.",
            "no_ticket_types",
            "ticket_types",
        )

    for index, spec in enumerate(specs):
        if spec.id is not None and spec.delete and _type_has_sales(by_id[spec.id]):
            raise HasSales(
                f"{by_id[spec.id].name} has orders, so it cannot be deleted. Switch "
                "off “On sale” instead to stop selling it.",
                field="delete",
                type_index=index,
            )

    start_moved_by = details.starts_at - event.starts_at
    details, specs, moved = _move_sales_closes(details, specs, event, by_id, now=now)
    stored_image = prepare_event_image(image) if image else None

    # The event itself.
    before = snapshot(event, (*EVENT_FIELDS, "image"))
    # Whether the public list shows it now (upcoming_public_events' rule): an
    # edit taking it off the list must still reach the list.
    was_listed = event.is_active and event.starts_at >= timezone.now()
    facts_before = holder_facts(event)
    old_image = event.image.name if event.image else ""
    for name in EVENT_FIELDS:
        setattr(event, name, getattr(details, name))
    if stored_image is not None:
        event.image = stored_image
    elif remove_image:
        event.image = ""
    after = snapshot(event, (*EVENT_FIELDS, "image"))
    # Saved only when changed: its updated_at is what open edit pages were
    # opened on (OpenedVersion), and a save changing nothing must not make
    # them out of date.
    if after != before:
        try:
            with transaction.atomic():
                # Named fields only: the sold and checked-in counters belong to
                # the services that issue and redeem tickets.
                event.save(update_fields=[*EVENT_FIELDS, "image", "updated_at"])
        except IntegrityError as exc:
            raise _invalid(
                f"There is already an event called “{event.name}”. Choose another "
                "name.",
                "name_taken",
                "name",
            ) from exc
    if old_image and (stored_image is not None or remove_image):
        _delete_file_after_commit(event.image.storage, old_image)
    event_before, event_after = changed_only(before, after)
    if event_after:
        record_change(
            actor=actor,
            action=_event_action(event_before, event_after),
            obj=event,
            event=event,
            before=event_before,
            after=event_after,
        )
    change = event_change(facts_before, holder_facts(event))

    # Its ticket types: deletions first, so a new type may reuse a name.
    types_changed = False
    for spec in specs:
        if spec.id is None or not spec.delete:
            continue
        current = by_id[spec.id]
        record_change(
            actor=actor,
            action="ticket_type.delete",
            obj=current,
            object_repr=current.name,
            event=event,
            before=snapshot(current, TYPE_FIELDS),
        )
        current.delete()
        types_changed = True
    for spec in specs:
        if spec.id is None or spec.delete:
            continue
        current = by_id[spec.id]
        type_before = snapshot(current, TYPE_FIELDS)
        for name in TYPE_FIELDS:
            setattr(current, name, getattr(spec, name))
        type_before, type_after = changed_only(
            type_before, snapshot(current, TYPE_FIELDS)
        )
        if not type_after:
            continue
        try:
            with transaction.atomic():
                current.save(update_fields=[*TYPE_FIELDS, "updated_at"])
        except IntegrityError as exc:
            raise _invalid(
                "Two ticket types would end up with the same name. Rename one "
                "first, save, then rename the other.",
                "duplicate_type_name",
                "name",
                type_index=specs.index(spec),
            ) from exc
        record_change(
            actor=actor,
            action="ticket_type.update",
            obj=current,
            object_repr=current.name,
            event=event,
            before=type_before,
            after=type_after,
        )
        types_changed = True
    for spec in specs:
        if spec.id is None and not spec.delete:
            _create_type(actor, event, spec)
            types_changed = True

    if event_after:
        announce_event_changed(event.id, change="updated", was_listed=was_listed)
    if types_changed or "venue_capacity" in event_after:
        realtime.announce_availability_changed(event.id, reason="capacity")
        # Raised capacity goes to the people waiting first.
        offer_after_commit(event.id)
    return event, change, moved, start_moved_by


# Audit actions of changes an edit page shows.
EDIT_ACTIONS = (
    "event.update",
    "event.activate",
    "event.deactivate",
    "ticket_type.create",
    "ticket_type.update",
    "ticket_type.delete",
)


def _refuse_if_changed_since(
    actor, event: Event, types: Sequence[TicketType], opened: OpenedVersion, *, now
) -> None:
    """InvalidRequest (edited_meanwhile) if the event or its ticket types are
    not as the page showed them; called under the event's lock. It names the
    latest change's author and time from the audit log, when it has one."""
    if opened_version_of(event, types) == opened:
        return
    page_opened = max([opened.event, *opened.types.values()])
    entry = (
        AuditLogEntry.objects.filter(
            event=event, action__in=EDIT_ACTIONS, at__gt=page_opened
        )
        .select_related("actor")
        .order_by("-at", "-id")
        .first()
    )
    if entry is not None:
        changed_at, author = entry.at, entry.actor
    else:
        changed_at = max([event.updated_at, *(t.updated_at for t in types)])
        author = None
    local = timezone.localtime(changed_at, event.tz)
    if local.date() == timezone.localtime(now, event.tz).date():
        when = f"at {local:%H:%M}"
    else:
        when = f"on {date_format(local, 'D j M')} at {local:%H:%M}"
    when = f"{when} {zone_abbreviation(local)}".strip()
    if author is not None and actor is not None and author.pk == actor.pk:
        message = (
            f"You changed this event {when} on another page while this one was "
            "open. The changes on this page are not saved: reload to see the "
            "event as it is now and make them again."
        )
    else:
        who = display_name(author) if author is not None else "Someone"
        message = (
            f"{who} changed this event {when} while you were editing. Your "
            "changes are not saved: reload to see theirs and make yours again."
        )
    raise InvalidRequest(
        message,
        code="edited_meanwhile",
        changed_by=display_name(author) if author is not None else "",
        changed_at=changed_at.isoformat(),
    )


def _move_sales_closes(
    details: EventDetails,
    specs: list[TicketTypeDetails],
    event: Event,
    by_id: Mapping[int, TicketType],
    *,
    now: datetime,
) -> tuple[EventDetails, list[TicketTypeDetails], tuple[str, ...]]:
    """A moved start takes along each "Sales close" left as it was and still
    ahead (the event's, each type's), as duplicate_event moves them: a show
    moved a week keeps selling until as close to its new start as before,
    later or earlier. One the owner changed in the same save, or one already
    passed (sales they closed), stays. Returns (details, specs, each moved
    close named with its new time)."""
    shift = details.starts_at - event.starts_at
    if not shift:
        return details, specs, ()

    def moves(posted: datetime | None, kept: datetime | None) -> bool:
        return posted is not None and posted == kept and kept > now

    moved: list[str] = []
    if moves(details.sales_end_at, event.sales_end_at):
        details = replace(details, sales_end_at=details.sales_end_at + shift)
        moved.append(_moment(details.sales_end_at, details.time_zone, now=now))
    moved_specs = []
    for spec in specs:
        current = by_id.get(spec.id) if spec.id is not None else None
        if (
            current is not None
            and not spec.delete
            and moves(spec.sales_end_at, current.sales_end_at)
        ):
            spec = replace(spec, sales_end_at=spec.sales_end_at + shift)
            moved.append(
                f"{spec.name}: "
                + _moment(spec.sales_end_at, details.time_zone, now=now)
            )
        moved_specs.append(spec)
    return details, moved_specs, tuple(moved)


def _all_of(errors: list[CapacityBelowSold]) -> CapacityBelowSold:
    """One error for several: the first's message, `field` and `type_index`
    (as a single error has them), and all of them under `errors`, each as
    its own as_dict(), so a form shows each beside its field."""
    if len(errors) == 1:
        return errors[0]
    first = errors[0]
    return CapacityBelowSold(
        first.message,
        **first.detail,
        errors=[error.as_dict() for error in errors],
    )


def _event_action(before: dict, after: dict) -> str:
    if set(after) == {"is_active"}:
        return "event.activate" if after["is_active"] else "event.deactivate"
    return "event.update"


@transaction.atomic
def set_event_active(*, actor, event_id, active: bool) -> Event:
    """Put an event on sale (visible on the sites) or take it off.

    Locks the event row. Writes an audit entry and announces after commit when
    the state changed. A cancelled event stays off sale. Raises
    PermissionRefused, NotFound, InvalidRequest (event_cancelled).
    """
    _require_manager(actor)
    event = Event.objects.select_for_update().filter(pk=event_id).first()
    if event is None:
        raise NotFound("This event no longer exists.", code="unknown_event")
    if active and event.cancelled_at is not None:
        raise InvalidRequest(
            f"{event.name} is cancelled, so it cannot go back on sale. To sell "
            "a new date, duplicate it.",
            code="event_cancelled",
        )
    if event.is_active == active:
        return event
    event.is_active = active
    event.save(update_fields=["is_active", "updated_at"])
    record_change(
        actor=actor,
        action="event.activate" if active else "event.deactivate",
        obj=event,
        event=event,
        before={"is_active": not active},
        after={"is_active": active},
    )
    announce_event_changed(event.id, change="activated" if active else "deactivated")
    return event


def _in_words(names: Sequence[str]) -> str:
    """Names as a sentence gives them: A; A and B; A, B and C."""
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


def _refuse_if_only_event_of_door_staff(actor, event: Event) -> None:
    """Deleting the one event someone's door access is limited to would leave
    their limit empty, which means "every event": refuse and name them."""
    users, invites = door_staff_only_at(event.pk)
    if not users and not invites:
        return
    owner = actor is None or can_manage_staff(actor)
    names = [
        display_name(user) + ("" if user.is_active else " (deactivated)")
        for user in users
    ]
    if owner:
        names += [f"{invite.email} (invited)" for invite in invites]
    elif invites:
        # Invitees' addresses are on the Staff page, which is the owner's.
        names.append(
            "1 person invited"
            if len(invites) == 1
            else f"{len(invites)} people invited"
        )
    first = (
        "Change what they scan on the Staff page first"
        if owner
        else "Ask the owner to change what they scan on the Staff page first"
    )
    way_out = (
        f"{first}, or take the event off sale instead."
        if event.is_active
        else f"{first}; the event is already off sale, so the website does not "
        "show it meanwhile."
    )
    raise InvalidRequest(
        f"{_in_words(names)} may scan only this event. {way_out}",
        code="only_event_of_door_staff",
    )


@transaction.atomic
def delete_event(*, actor, event_id) -> None:
    """Delete an event that has never had an order.

    Locks the event row. An event with orders or tickets raises HasSales (the
    owner should deactivate it instead). An event that is the only one some
    door staff or pending door invite may scan raises InvalidRequest (code
    only_event_of_door_staff): without it they would scan every event. Writes
    an audit entry (kept after the event is gone), removes its picture and
    announces after commit. Raises PermissionRefused, NotFound, HasSales,
    InvalidRequest.
    """
    _require_manager(actor)
    event = Event.objects.select_for_update().filter(pk=event_id).first()
    if event is None:
        raise NotFound("This event no longer exists.", code="unknown_event")
    if _event_has_sales(event):
        raise HasSales(
            f"{event.name} has orders, so it cannot be deleted. Deactivate it to "
            "take it off the website instead."
        )
    _refuse_if_only_event_of_door_staff(actor, event)
    event_id = event.id
    record_change(
        actor=actor,
        action="event.delete",
        obj=event,
        event=None,
        before=snapshot(event, (*EVENT_FIELDS, "slug")),
    )
    image_name = event.image.name if event.image else ""
    storage = event.image.storage
    event.delete()
    _delete_file_after_commit(storage, image_name)
    announce_event_changed(event_id, change="deleted")


def _copy_name(name: str) -> str:
    base = re.sub(r" \(copy( \d+)?\)$", "", name)
    candidate, n = f"{base} (copy)", 1
    while Event.objects.filter(name__iexact=candidate).exists():
        n += 1
        candidate = f"{base} (copy {n})"
    return candidate[:200]


def suggested_copy_name(event: Event) -> str:
    return _copy_name(event.name)


@transaction.atomic
def duplicate_event(
    *,
    actor,
    event_id,
    name: str | None = None,
    starts_at: datetime | None = None,
) -> Event:
    """Copy an event and its ticket types (nothing sold), inactive until published.

    Doors and sales windows move with the new start time. Takes no locks: the
    source is only read. Writes audit entries, announces after commit. Raises
    PermissionRefused, NotFound, InvalidRequest (name_taken...).
    """
    _require_manager(actor)
    source = Event.objects.filter(pk=event_id).first()
    if source is None:
        raise NotFound("This event no longer exists.", code="unknown_event")
    starts_at = starts_at or source.starts_at
    _aware(starts_at, "starts_at")
    shift = starts_at - source.starts_at

    def moved(value: datetime | None) -> datetime | None:
        return value + shift if value is not None else None

    details = replace(
        event_details_of(source),
        name=(name or "").strip() or _copy_name(source.name),
        starts_at=starts_at,
        doors_at=moved(source.doors_at),
        sales_start_at=moved(source.sales_start_at),
        sales_end_at=moved(source.sales_end_at),
        is_active=False,
    )
    specs = [
        replace(
            ticket_type_details_of(t),
            id=None,
            sales_start_at=moved(t.sales_start_at),
            sales_end_at=moved(t.sales_end_at),
        )
        for t in source.ticket_types.order_by("sort_order", "pk")
    ]
    image = None
    if source.image:
        with source.image.open("rb") as original:
            image = ContentFile(original.read(), name=source.image.name)
    copy = _create_event(
        actor=actor,
        details=details,
        ticket_types=specs,
        image=image,
        kept_time_zone=source.time_zone,
    )
    record_change(
        actor=actor,
        action="event.duplicate",
        obj=copy,
        event=copy,
        after={"copied_from": source.name, "copied_from_id": str(source.id)},
    )
    return copy
