"""Availability: capacity, sold, held and free seats per ticket type and event.

Sold comes from counters kept in the issuing transactions; held is the sum of
unexpired pending orders' lines. Neither grows with tickets sold, and an
expired hold stops counting the instant it expires, whether or not the sweep
has run (the seed's get_event_availability / get_ticket_count_by_type /
get_unified_capacity).
"""

import functools
import hashlib
import pickle
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, connections
from django.db.models import Sum
from django.utils import timezone

from core.models import Event, Order, OrderLine, TicketType, WaitlistEntry
from core.rows import model_columns, planned_cursor

HOLDING_STATUSES = (Order.Status.PENDING, Order.Status.PROCESSING)
# What EventAvailability.shown_fingerprint leaves out of the event (moved by
# sales, or by any save, and never on a public page) and takes of each type.
_EVENT_FIELDS_NOT_SHOWN = frozenset({"sold_count", "updated_at"})
_TYPE_FIELDS_SHOWN = (
    "id",
    "name",
    "description",
    "price",
    "currency",
    "available",
    "max_per_order",
    "on_sale",
    "opens_at",
    "held_for_now",
    "closes_at",
    "sales_closed",
)


@dataclass(frozen=True)
class TicketTypeAvailability:
    id: int
    name: str
    description: str
    price: Decimal
    currency: str
    capacity: int
    sold: int
    held: int
    available: int
    max_per_order: int
    on_sale: bool
    # When its sales open, while they have yet to (the event's or its own
    # sales start, whichever is later); None once open, or if never.
    opens_at: datetime | None = None
    # None left only because checkouts hold them: some come back to the
    # public if those holds lapse unpaid (not if the waitlist wants them).
    held_for_now: bool = False
    # When its sales close: the earlier of its own close and the event's
    # (its sales close, else its start). An open buy page closes the type
    # then, as nothing is written to tell it. `sales_closed`: that is past.
    closes_at: datetime | None = None
    sales_closed: bool = False

    @property
    def sold_out(self) -> bool:
        return self.available <= 0

    @property
    def max_selectable(self) -> int:
        return max(0, min(self.max_per_order, self.available))


@dataclass(frozen=True)
class EventAvailability:
    event: Event
    types: list[TicketTypeAvailability] = field(default_factory=list)
    total_capacity: int = 0
    total_sold: int = 0
    total_held: int = 0
    total_available: int = 0
    # When the event's sales open, while they have yet to; None once open.
    opens_at: datetime | None = None
    # Nothing left only because checkouts hold the last seats: some come
    # back to the public if those holds lapse unpaid (TicketTypeAvailability).
    held_for_now: bool = False

    @property
    def is_sold_out(self) -> bool:
        return self.total_available <= 0

    @functools.cached_property
    def shown_fingerprint(self) -> bytes:
        """A digest of what buyers are shown of these figures: the event as
        edited and each type's name, price, limit, sale state and seats left,
        but not the counts sold and held behind them. The event page's
        shell is keyed on it: in the last seconds of a sell-out each payment
        moves held seats to sold, nothing shown changes, and the page was
        rendered again for every one. Worked out once per object, and a
        snapshot read from the cache is one object shared by the requests
        that read the same entry (core.queries.snapshots)."""
        event = self.event
        shown = (
            [
                (f.attname, f.value_to_string(event))
                for f in event._meta.concrete_fields
                if f.attname not in _EVENT_FIELDS_NOT_SHOWN
            ],
            [
                tuple(getattr(t, name) for name in _TYPE_FIELDS_SHOWN)
                for t in self.types
            ],
            self.total_available,
            self.opens_at,
            self.held_for_now,
        )
        return hashlib.blake2b(pickle.dumps(shown, 5), digest_size=16).digest()

    @property
    def from_price(self) -> Decimal | None:
        prices = [t.price for t in self.types if t.on_sale and not t.sold_out]
        prices = prices or [t.price for t in self.types]
        return min(prices) if prices else None

    def as_api_dict(self) -> dict:
        """The seed's event-availability response shape."""
        event = self.event
        return {
            "event": {
                "id": str(event.id),
                "slug": event.slug,
                "name": event.name,
                "event_date": event.starts_at.isoformat(),
                "venue": event.venue,
                "venue_capacity": event.venue_capacity,
                "currency": event.currency,
                "is_active": event.is_active,
            },
            "availability": [
                {
                    "id": t.id,
                    "name": t.name,
                    "price": float(t.price),
                    "capacity": t.capacity,
                    "sold": t.sold,
                    "held": t.held,
                    "available": t.available,
                    "sold_out": t.sold_out,
                    "max_per_order": t.max_per_order,
                    "on_sale": t.on_sale,
                    "held_for_now": t.held_for_now,
                    "closes_at": t.closes_at.isoformat() if t.closes_at else None,
                }
                for t in self.types
            ],
            "summary": {
                "total_capacity": self.total_capacity,
                "total_sold": self.total_sold,
                "total_held": self.total_held,
                "total_available": self.total_available,
                "is_sold_out": self.is_sold_out,
                # Pages say "All taken for now" rather than "Sold out".
                "held_for_now": self.held_for_now,
            },
        }


def held_by_type(
    *, event_ids: Iterable, now=None, exclude_order_id=None
) -> dict[int, int]:
    """Seats held by unexpired pending orders and processing ones, keyed by
    ticket type id (see held_and_waiting); `exclude_order_id`'s own seats
    left out."""
    now = now or timezone.now()
    held, _ = held_and_waiting(event_ids=event_ids, now=now, waiting=False)
    if exclude_order_id is not None:
        order = Order.objects.filter(pk=exclude_order_id).first()
        if order is not None and order.holds_seats(now):
            for line in order.lines.all():
                held[line.ticket_type_id] = (
                    held.get(line.ticket_type_id, 0) - line.quantity
                )
    return {type_id: seats for type_id, seats in held.items() if seats}


def waiting_by_type(*, event_ids: Iterable) -> dict:
    """Seats wanted by people still waiting, keyed by (event id, type id or None for any)."""
    rows = (
        WaitlistEntry.objects.filter(
            event_id__in=list(event_ids), status=WaitlistEntry.Status.WAITING
        )
        .values("event_id", "ticket_type_id")
        .annotate(wanted=Sum("quantity"))
    )
    return {(row["event_id"], row["ticket_type_id"]): row["wanted"] for row in rows}


def held_and_waiting(
    *, event_ids: Iterable, now=None, waiting: bool = True
) -> tuple[dict, dict]:
    """Seats held, keyed by ticket type id, and seats wanted by people still
    waiting, keyed by (event id, type id or None for any), in one round trip.

    Held: the seats of processing orders and of pending ones whose hold is
    live. That is each type's held_count (all its pending and processing
    orders) less the pending orders whose hold lapsed and that the sweep
    has not closed yet: a handful, however many holds are live, so a read's
    cost does not grow with a rush (core_place_hold counts the same way).
    Every checkout and every availability snapshot needs both; as ORM
    queries they cost most of their CPU in compiling SQL.

    The lapsed orders are read by status and expiry alone, every event's,
    as the sweep reads them (the join to the events' types keeps their
    seats), and their lines by order key, one probe per lapsed order.
    Named with their event, the cached (generic) plan read the orders
    through the event's index: every order the night ever sold. Joined to
    the lines as a set, once analyzed Postgres took the pending orders with
    no expiry for some 6% of all orders (paid ones have none either; there
    are none) and hashed every order line ever sold.
    """
    now = now or timezone.now()
    event_pk = Event._meta.pk
    event_ids = [event_pk.get_db_prep_value(pk, connection) for pk in event_ids]
    if not event_ids:
        return {}, {}
    events_in = ", ".join(["%s"] * len(event_ids))
    # Postgres reads `= ANY (ARRAY(subquery))` as that many keys, whatever
    # it guesses of the orders (IN would let it join them as a set).
    lines_of = "= ANY (ARRAY" if connection.vendor == "postgresql" else "IN"
    end = ")" if connection.vendor == "postgresql" else ""
    # The status written in, not bound: to a generic plan a bound status
    # is any status, half the orders rather than the few pending.
    pending = Order.Status.PENDING.value
    sql = f"""
        SELECT 'held', NULL, t.id, t.held_count - COALESCE(lapsed.seats, 0)
          FROM {TicketType._meta.db_table} t
          LEFT JOIN (
                SELECT line.ticket_type_id AS id, SUM(line.quantity) AS seats
                  FROM {OrderLine._meta.db_table} line
                 WHERE line.order_id {lines_of} (
                        SELECT id FROM {Order._meta.db_table}
                         WHERE status = '{pending}' AND hold_expires_at <= %s
                        UNION ALL
                        SELECT id FROM {Order._meta.db_table}
                         WHERE status = '{pending}' AND hold_expires_at IS NULL
                       ){end}
                 GROUP BY line.ticket_type_id
               ) lapsed ON lapsed.id = t.id
         WHERE t.event_id IN ({events_in}) AND t.held_count > 0
    """
    params = [connection.ops.adapt_datetimefield_value(now), *event_ids]
    if waiting:
        sql += f"""
        UNION ALL
        SELECT 'waiting', entry.event_id, entry.ticket_type_id, SUM(entry.quantity)
          FROM {WaitlistEntry._meta.db_table} entry
         WHERE entry.event_id IN ({events_in})
           AND entry.status = %s
         GROUP BY entry.event_id, entry.ticket_type_id
        """
        params += [*event_ids, WaitlistEntry.Status.WAITING.value]
    held: dict[int, int] = {}
    wanted: dict = {}
    with planned_cursor() as cursor:
        cursor.execute(sql, params)
        for kind, event_id, type_id, total in cursor.fetchall():
            if kind == "waiting":
                wanted[(event_pk.to_python(event_id), type_id)] = int(total)
            elif total > 0:  # a counter that was off never frees seats
                held[type_id] = int(total)
    return held, wanted


def compute_availability(
    event: Event,
    types: list[TicketType],
    held: dict[int, int],
    now=None,
    waiting: dict | None = None,
) -> EventAvailability:
    """Combine counters and holds; also used by services under their locks.

    `waiting` (from waiting_by_type) keeps freed seats for the people on the
    waitlist: what they wait for is not offered to the public. Leave it out
    to see the seats that are physically free.
    """
    now = now or timezone.now()
    waiting = waiting or {}
    reserved_any = waiting.get((event.id, None), 0)
    reserved_total = reserved_any + sum(waiting.get((event.id, t.id), 0) for t in types)
    total_held = sum(held.get(t.id, 0) for t in types)
    event_opens_at = _opens_at(event, now)
    venue_free = max(
        0, event.venue_capacity - event.sold_count - total_held - reserved_total
    )
    # The same seats if every hold lapsed unpaid: what could come back.
    venue_unheld = max(0, event.venue_capacity - event.sold_count - reserved_total)
    rows = []
    free_sum = 0
    unheld_sum = 0
    for t in types:
        type_waiting = waiting.get((event.id, t.id), 0)
        type_held = held.get(t.id, 0) + type_waiting
        type_free = max(0, t.capacity - t.sold_count - type_held)
        free_sum += type_free
        type_unheld = min(
            max(0, t.capacity - t.sold_count - type_waiting), venue_unheld
        )
        unheld_sum += type_unheld
        available = min(type_free, venue_free)
        on_sale = event.is_active and t.sales_open(now)
        closes_at = min(
            filter(None, (t.sales_end_at, event.sales_end_at or event.starts_at)),
            default=None,
        )
        rows.append(
            TicketTypeAvailability(
                id=t.id,
                name=t.name,
                description=t.description,
                price=t.price,
                currency=event.currency,
                capacity=t.capacity,
                sold=t.sold_count,
                held=held.get(t.id, 0),
                available=available,
                max_per_order=t.max_per_order,
                on_sale=on_sale,
                opens_at=None
                if on_sale
                else _type_opens_at(event, t, event_opens_at, now),
                held_for_now=available <= 0 < type_unheld,
                closes_at=closes_at,
                sales_closed=closes_at is not None and closes_at <= now,
            )
        )
    total_available = max(0, min(free_sum - reserved_any, venue_free))
    could_come_back = min(unheld_sum - reserved_any, venue_unheld)
    return EventAvailability(
        event=event,
        types=rows,
        total_capacity=min(event.venue_capacity, sum(t.capacity for t in types)),
        total_sold=event.sold_count,
        total_held=total_held,
        total_available=total_available,
        opens_at=event_opens_at,
        held_for_now=total_available <= 0 < could_come_back,
    )


def _opens_at(event: Event, now) -> datetime | None:
    """When an active event's sales open, if they have yet to at `now`."""
    start = event.sales_start_at
    return start if event.is_active and start and now < start else None


def _type_opens_at(event: Event, ticket_type: TicketType, event_opens_at, now):
    """When a type not on sale at `now` goes on sale: the later of the
    event's and its own sales start, if one is still to come and its sales
    will not have closed by then; else None (it is simply not on sale)."""
    own = ticket_type.sales_start_at
    own = own if own and now < own else None
    opens = max(filter(None, (event_opens_at, own)), default=None)
    if opens is None or not event.is_active:
        return None
    closes = [ticket_type.sales_end_at, event.sales_end_at or event.starts_at]
    if any(close and close <= opens for close in closes):
        return None
    return opens


def availability_for_events(events: Iterable[Event], now=None) -> dict:
    """Availability of many events in two queries, keyed by event id."""
    now = now or timezone.now()
    events = list(events)
    types_by_event: dict = defaultdict(list)
    # The join re-reads each event's counters, so a caller's stale instance
    # cannot make the figures stale.
    fresh_events = {}
    for ticket_type in TicketType.objects.filter(
        event__in=events, is_active=True
    ).select_related("event"):
        types_by_event[ticket_type.event_id].append(ticket_type)
        fresh_events[ticket_type.event_id] = ticket_type.event
    held, waiting = held_and_waiting(event_ids=[e.id for e in events], now=now)
    return {
        event.id: compute_availability(
            fresh_events.get(event.id, event),
            types_by_event[event.id],
            held,
            now,
            waiting,
        )
        for event in events
    }


def get_event_availability(event: Event, now=None) -> EventAvailability:
    """One event's availability, read fresh (the instance's own counters may be stale)."""
    availability = event_availability_now(event_id=event.pk, now=now)
    if availability is None:  # deleted meanwhile: nothing left to sell
        return compute_availability(event, [], {}, now)
    return availability


def event_availability_now(
    *,
    event_id=None,
    slug: str = "",
    name: str = "",
    active_only: bool = False,
    now=None,
) -> EventAvailability | None:
    """One event, found by id, slug or name, with its availability at `now`; or None.

    What get_event_availability gives, in two hand-written queries (the
    event with its active types, then holds and waitlist): a refused buyer
    in a rush, the purchase page and the availability API all start here,
    and the ORM spent more compiling the event and type queries than
    running them. `active_only` finds only events on public sale pages.
    """
    lookups = [
        (key, value)
        for key, value in (("id", event_id), ("slug", slug), ("name", name))
        if value
    ]
    if len(lookups) != 1:
        raise ValueError("Find the event by exactly one of event_id, slug or name.")
    (lookup, value), db = lookups[0], connection
    sql, event_columns, type_columns = _event_with_types_query(
        db.alias, lookup, active_only
    )
    if lookup == "id":
        value = Event._meta.pk.get_db_prep_value(value, db)
    with planned_cursor() as cursor:
        # The types' is_active, the lookup, and the event's is_active.
        cursor.execute(sql, [True, value, *([True] if active_only else [])])
        rows = cursor.fetchall()
    if not rows:
        return None
    event = event_columns.instance(rows[0][: len(event_columns)], db.alias)
    types = []
    for row in rows:
        if row[len(event_columns)] is None:  # LEFT JOIN: no active types
            continue
        ticket_type = type_columns.instance(row[len(event_columns) :], db.alias)
        ticket_type.event = event  # sales_open() reads it; no query per type
        types.append(ticket_type)
    now = now or timezone.now()
    held, waiting = held_and_waiting(event_ids=[event.pk], now=now)
    return compute_availability(event, types, held, now, waiting)


@functools.cache
def _event_with_types_query(alias: str, lookup: str, active_only: bool) -> tuple:
    """(SQL, event columns, type columns) for event_availability_now, built
    once per database. Types come in TicketType's default ordering, as the
    ORM would give them."""
    db = connections[alias]
    quote = db.ops.quote_name
    event_columns = model_columns(Event, alias)
    type_columns = model_columns(TicketType, alias)
    event_table = quote(Event._meta.db_table)
    type_table = quote(TicketType._meta.db_table)
    ordering = ", ".join(
        f"{type_table}.{quote(TicketType._meta.get_field(name.lstrip('-')).column)}"
        + (" DESC" if name.startswith("-") else "")
        for name in [*TicketType._meta.ordering, "id"]
    )
    event_pk = f"{event_table}.{quote(Event._meta.pk.column)}"
    type_event = f"{type_table}.{quote(TicketType._meta.get_field('event').column)}"
    sql = (
        f"SELECT {event_columns.select}, {type_columns.select}"
        f" FROM {event_table} LEFT OUTER JOIN {type_table} ON {type_event} = {event_pk} AND {type_table}.{quote('is_active')} = %s"
        f" WHERE {event_table}.{quote(Event._meta.get_field(lookup).column)} = %s"
        + (f" AND {event_table}.{quote('is_active')} = %s" if active_only else "")
        + f" ORDER BY {ordering}"
    )
    return sql, event_columns, type_columns
