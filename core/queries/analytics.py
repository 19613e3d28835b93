"""Analytics for owners and managers: sales, revenue, holds, refunds, the door.

Every figure is aggregated by the database (GROUP BY with filtered counts and
sums); Python only loops over the handful of rows that come back (ticket
types, days, 5-minute buckets), never over tickets or scans, so the cost of a
dashboard stays a few indexed scans whatever the size of the event.

Definitions used throughout (and in the tests' hand-computed fixtures):

- *issued*: tickets that are not void. Void tickets are refunded or cancelled
  ones; they no longer count anywhere except in the refund figures and the
  cancelled free tickets.
- *free*: issued tickets nothing was paid for (core.queries.money.FREE_TICKET:
  the owner's comps, and tickets of a type priced 0 taken on the buy page).
  *sold* is issued minus free: the tickets paid for. Capacity use (fill
  rate, remaining) counts both.
- *free cancelled*: void free tickets (core.services.comps.
  cancel_comp_tickets): nothing was paid, so never refunds.
- *money* (core.queries.money, shared with the orders export): *taken* is
  every payment received, of which *other sellers'* were paid to an
  external channel; *refunded* the money given back to customers of
  the owner's payments kept (refunds booked here, or Stripe's own total when
  more: a refund made in its dashboard); *sent back automatically* the
  payments not kept (paid after the seats were gone, or paid twice), which
  never had tickets; *voided elsewhere* other sellers' sales voided here,
  which the seller refunds. *Revenue* = taken - refunded - sent back -
  voided elsewhere, to the cent.
- *tickets refunded*: void tickets that were neither free nor sold by other
  sellers (the owner's paid ticket is voided only by a refund); *tickets
  voided elsewhere*: other sellers' paid tickets voided.
- *ticket value*: the sum of `price_paid` over issued tickets, per type and
  over time. It equals revenue unless money went back without voiding
  tickets (a refund in Stripe's dashboard not yet matched to tickets).
- *held*: seats in pending or processing orders whose hold has not expired,
  exactly as availability counts them.
- *checked in*: tickets in status `used`; *no-shows* = issued - checked in;
  *attendance rate* = checked in / issued.
- Sales over time count sold tickets (not free ones) by when they were
  issued (`created_at`, written in the same transaction that marks the order
  paid), in the event's time zone: those that still admit, and apart those
  refunded or voided since. Issue time rather than the order's
  `paid_at` keeps the big aggregate on the ticket table alone, with no join
  to orders; free tickets are told apart by their price, which is in the
  same index.
- *Arrivals* are checked-in tickets by their `scanned_at`, so an admission
  that was undone is not an arrival.
- At the door, per door and per staff member: *scans* are scan attempts
  (an undo is a correction, not a scan); *in* counts the admits that stand,
  so the doors' (and the staff's) "in" add up to *checked in*. Each scan is
  in exactly one of: in, undone (an admit put back later), refunded after
  entry (the ticket was admitted, then refunded), refused, or let in twice
  (an offline admit of a ticket already admitted: the guest is in, counted
  once by the admit that stands, and not a refusal).
- Staff are named as the door page names them (full name, else username),
  doors by their name or "Unnamed door".
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import (
    Count,
    F,
    IntegerField,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import (
    Cast,
    ExtractMinute,
    Floor,
    TruncHour,
)
from django.utils import timezone

from core.models import (
    Event,
    Order,
    OrderLine,
    Payment,
    Refund,
    ScanLog,
    Ticket,
    TicketType,
    WaitlistEntry,
)
from core.queries.availability import HOLDING_STATUSES, held_by_type
from core.queries.money import (
    BY_OTHER_SELLERS,
    FREE_TICKET,
    NOT_KEPT,
    RECEIVED,
    REFUND_OF_OTHER_SELLERS,
    REFUNDABLE_PROVIDERS,
    ZERO,
    unbooked_refunded,
    unbooked_voided_elsewhere,
)
from core.services.checkin import UNNAMED_DOORS

# An event counts as "upcoming" (or on tonight) until this long after it starts.
NIGHT_LENGTH = dt.timedelta(hours=12)
# Hourly sales are shown for this window around the start.
HOURLY_BEFORE = dt.timedelta(hours=48)
HOURLY_AFTER = dt.timedelta(hours=6)
# Daily and 5-minute charts are capped so a stray early sale or a test scan
# weeks before cannot make a chart of thousands of empty bars.
MAX_DAYS = 120
ARRIVAL_BUCKET_MINUTES = 5
MAX_ARRIVAL_BUCKETS = 144  # 12 hours
# Scan results that are refusals at the door: not `ok` (an admission),
# `undone` (a correction by staff) or `offline_conflict` (a guest let in
# offline whose ticket was already admitted: let in, not refused).
NOT_REFUSALS = (
    ScanLog.Result.OK,
    ScanLog.Result.UNDONE,
    ScanLog.Result.OFFLINE_CONFLICT,
)
REJECTED_RESULTS = tuple(r for r in ScanLog.Result.values if r not in NOT_REFUSALS)
# What the door page calls a door nobody named, and a scan made by a door
# device's own token (no one signed in).
NO_DEVICE = "Unnamed door"
NO_STAFF = "Door device (no sign-in)"


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- Sales per ticket type and event ------------------------------------------


ISSUED = ~Q(status=Ticket.Status.VOID)
VOID = Q(status=Ticket.Status.VOID)


def _ticket_aggregates() -> dict:
    """Filtered aggregates over tickets alone (no join), per type or per event.

    Counting `status` (never null) rather than `id`: every column read is
    then in ticket_event_stats_idx (free tickets by their price, included in
    it), so Postgres can answer from the index.
    """
    return {
        "issued": Count("status", filter=ISSUED),
        "free": Count("status", filter=ISSUED & FREE_TICKET),
        "void": Count("status", filter=VOID),
        "free_cancelled": Count("status", filter=VOID & FREE_TICKET),
        "checked_in": Count("status", filter=Q(status=Ticket.Status.USED)),
        "revenue": Sum("price_paid", filter=ISSUED),
    }


@dataclass(frozen=True)
class TypeSales:
    id: int
    name: str
    price: Decimal
    capacity: int
    issued: int
    free: int
    void: int
    checked_in: int
    revenue: Decimal
    held: int
    free_cancelled: int = 0

    @property
    def sold(self) -> int:
        return self.issued - self.free

    @property
    def no_shows(self) -> int:
        return self.issued - self.checked_in

    @property
    def fill_rate(self) -> float | None:
        return _ratio(self.issued, self.capacity)

    @property
    def check_in_rate(self) -> float | None:
        return _ratio(self.checked_in, self.issued)


@dataclass(frozen=True)
class Refunds:
    """Money given back to customers of the payments kept, and the tickets
    voided by refunds. `not_matched`, part of `amount`: refunded in Stripe's
    dashboard and not yet matched to tickets (they still admit)."""

    amount: Decimal = ZERO
    tickets: int = 0
    not_matched: Decimal = ZERO


@dataclass(frozen=True)
class VoidedElsewhere:
    """Tickets other sellers sold, voided here (a cancelled event, say),
    and what was paid for them: nothing went back through the owner's
    payments; the seller refunds their buyers."""

    amount: Decimal = ZERO
    tickets: int = 0


@dataclass(frozen=True)
class SentBack:
    """Payments not kept (paid after the seats were gone, or paid twice),
    all of each sent back automatically; no tickets were issued for them.
    `due_*`: of those, still to go back (the worker retries them)."""

    payments: int = 0
    amount: Decimal = ZERO
    due_payments: int = 0
    due_amount: Decimal = ZERO


@dataclass(frozen=True)
class Holds:
    orders: int = 0
    tickets: int = 0
    amount: Decimal = ZERO


@dataclass(frozen=True)
class Waitlist:
    waiting_entries: int = 0
    waiting_tickets: int = 0
    offers_open: int = 0
    offers_made: int = 0
    claimed: int = 0
    expired: int = 0

    @property
    def conversion_rate(self) -> float | None:
        """Share of offers made that were claimed."""
        return _ratio(self.claimed, self.offers_made)


@dataclass(frozen=True)
class EventFigures:
    """The headline figures of one event (a row of the overview, the top of its page)."""

    event: Event
    capacity: int
    issued: int = 0
    free: int = 0
    free_cancelled: int = 0
    checked_in: int = 0
    taken: Decimal = ZERO
    ticket_value: Decimal = ZERO
    refunds: Refunds = field(default_factory=Refunds)
    sent_back: SentBack = field(default_factory=SentBack)
    holds: Holds = field(default_factory=Holds)
    waitlist: Waitlist = field(default_factory=Waitlist)
    # Of `taken`, paid to other sellers (not through the owner's payments).
    other_sellers: Decimal = ZERO
    voided_elsewhere: VoidedElsewhere = field(default_factory=VoidedElsewhere)

    @property
    def revenue(self) -> Decimal:
        """Money kept: taken - refunded - sent back - other sellers' sales
        voided (theirs to give back)."""
        return (
            self.taken
            - self.refunds.amount
            - self.sent_back.amount
            - self.voided_elsewhere.amount
        )

    @property
    def taken_by_owner(self) -> Decimal:
        """What the owner's own payments took: what Stripe pays out before
        refunds."""
        return self.taken - self.other_sellers

    @property
    def sold(self) -> int:
        return self.issued - self.free

    @property
    def cancelled(self) -> bool:
        return self.event.is_cancelled

    @property
    def remaining(self) -> int:
        """Places left to sell: none once the event is cancelled."""
        if self.cancelled:
            return 0
        return max(0, self.capacity - self.issued - self.holds.tickets)

    @property
    def fill_rate(self) -> float | None:
        return _ratio(self.issued, self.capacity)

    @property
    def no_shows(self) -> int:
        return self.issued - self.checked_in

    @property
    def attendance_rate(self) -> float | None:
        return _ratio(self.checked_in, self.issued)

    def is_past(self, now: dt.datetime) -> bool:
        return self.event.starts_at + NIGHT_LENGTH <= now

    def has_started(self, now: dt.datetime) -> bool:
        return self.event.starts_at <= now


@dataclass(frozen=True)
class EventSales:
    figures: EventFigures
    types: list[TypeSales]


@dataclass(frozen=True)
class _Money:
    taken: Decimal = ZERO
    refunded: Decimal = ZERO
    not_matched: Decimal = ZERO
    sent_back: SentBack = field(default_factory=SentBack)
    other_sellers: Decimal = ZERO
    voided_elsewhere: Decimal = ZERO


def _money_by_event(event_ids: list) -> dict:
    """Taken, refunded and sent back per event, in two grouped queries: the
    events' payments (through their orders) and their booked refunds (few).

    Refunded = the refunds booked here of the owner's sales plus, per kept
    payment, what the provider reports beyond them (core.queries.money.
    unbooked_refunded). Other sellers' sales voided, likewise: the voids
    booked of their tickets plus, per sale voided whole, the rest of it.
    """
    kept_in_stripe_while_paid = Q(
        provider__in=REFUNDABLE_PROVIDERS, order__status=Order.Status.PAID
    )
    due = Q(status=Payment.Status.REFUND_DUE)
    payments = (
        Payment.objects.filter(order__event_id__in=event_ids, status__in=RECEIVED)
        .values("order__event_id")
        .annotate(
            taken=Sum("amount"),
            sent_back=Sum("amount", filter=NOT_KEPT),
            sent_back_payments=Count("pk", filter=NOT_KEPT),
            due_amount=Sum("amount", filter=due),
            due_payments=Count("pk", filter=due),
            unbooked=Sum(unbooked_refunded()),
            not_matched=Sum(unbooked_refunded(only=kept_in_stripe_while_paid)),
            other_sellers=Sum("amount", filter=BY_OTHER_SELLERS),
            unbooked_voided=Sum(unbooked_voided_elsewhere()),
        )
        .order_by()
    )
    booked = {
        row.pop("order__event_id"): row
        for row in Refund.objects.filter(
            order__event_id__in=event_ids, status=Refund.Status.SUCCEEDED
        )
        .values("order__event_id")
        .annotate(
            own=Sum("amount", filter=~REFUND_OF_OTHER_SELLERS),
            elsewhere=Sum("amount", filter=REFUND_OF_OTHER_SELLERS),
        )
        .order_by()
    }
    paid = {row.pop("order__event_id"): row for row in payments}
    money = {}
    for event_id in paid.keys() | booked.keys():
        row, voids = paid.get(event_id, {}), booked.get(event_id, {})
        money[event_id] = _Money(
            taken=row.get("taken") or ZERO,
            refunded=(voids.get("own") or ZERO) + (row.get("unbooked") or ZERO),
            other_sellers=row.get("other_sellers") or ZERO,
            voided_elsewhere=(voids.get("elsewhere") or ZERO)
            + (row.get("unbooked_voided") or ZERO),
            not_matched=row.get("not_matched") or ZERO,
            sent_back=SentBack(
                payments=row.get("sent_back_payments", 0),
                amount=row.get("sent_back") or ZERO,
                due_payments=row.get("due_payments", 0),
                due_amount=row.get("due_amount") or ZERO,
            ),
        )
    return money


def _live_holds(event_ids: list, now: dt.datetime) -> Q:
    return Q(order__event_id__in=event_ids, order__status__in=HOLDING_STATUSES) & (
        Q(order__hold_expires_at__gt=now) | Q(order__status=Order.Status.PROCESSING)
    )


def _holds_by_event(event_ids: list, now: dt.datetime) -> dict:
    rows = (
        OrderLine.objects.filter(_live_holds(event_ids, now))
        .values("order__event_id")
        .annotate(
            orders=Count("order_id", distinct=True),
            tickets=Sum("quantity"),
            amount=Sum(F("quantity") * F("unit_price")),
        )
        .order_by()
    )
    return {
        row["order__event_id"]: Holds(
            orders=row["orders"],
            tickets=row["tickets"] or 0,
            amount=row["amount"] or ZERO,
        )
        for row in rows
    }


def _waitlist_by_event(event_ids: list) -> dict:
    status = WaitlistEntry.Status
    rows = (
        WaitlistEntry.objects.filter(event_id__in=event_ids)
        .values("event_id")
        .annotate(
            waiting_entries=Count("id", filter=Q(status=status.WAITING)),
            waiting_tickets=Sum("quantity", filter=Q(status=status.WAITING)),
            offers_open=Count("id", filter=Q(status=status.OFFERED)),
            offers_made=Count(
                "id",
                filter=Q(offered_at__isnull=False)
                | Q(status__in=[status.OFFERED, status.CLAIMED, status.EXPIRED]),
            ),
            claimed=Count("id", filter=Q(status=status.CLAIMED)),
            expired=Count("id", filter=Q(status=status.EXPIRED)),
        )
        .order_by()
    )
    return {
        row.pop("event_id"): Waitlist(
            **{**row, "waiting_tickets": row["waiting_tickets"] or 0}
        )
        for row in rows
    }


def _capacity_by_event(events: list[Event]) -> dict:
    rows = (
        TicketType.objects.filter(event__in=events, is_active=True)
        .values("event_id")
        .annotate(capacity=Sum("capacity"))
        .order_by()
    )
    type_capacity = {row["event_id"]: row["capacity"] for row in rows}
    return {
        event.id: min(event.venue_capacity, type_capacity.get(event.id, 0))
        for event in events
    }


def _refunds(money: _Money, *, voided: int) -> Refunds:
    return Refunds(amount=money.refunded, tickets=voided, not_matched=money.not_matched)


def _voided_elsewhere_tickets(event_ids: list) -> dict:
    """Paid tickets of other sellers' sales voided, per event id: void
    tickets (few, on ticket_event_stats_idx) of external orders."""
    rows = (
        Ticket.objects.filter(
            VOID & ~FREE_TICKET,
            event_id__in=event_ids,
            order__source=Order.Source.EXTERNAL,
        )
        .values("event_id")
        .annotate(n=Count("status"))
        .order_by()
    )
    return {row["event_id"]: row["n"] for row in rows}


def event_figures_for(events: Iterable[Event], *, now=None) -> dict:
    """Headline figures of many events in a fixed number of queries, by event id."""
    now = now or timezone.now()
    events = list(events)
    ids = [event.id for event in events]
    if not ids:
        return {}
    tickets = {
        row.pop("event_id"): row
        for row in Ticket.objects.filter(event_id__in=ids)
        .values("event_id")
        .annotate(**_ticket_aggregates())
        .order_by()
    }
    money = _money_by_event(ids)
    elsewhere = _voided_elsewhere_tickets(ids)
    holds = _holds_by_event(ids, now)
    waitlist = _waitlist_by_event(ids)
    capacity = _capacity_by_event(events)
    figures = {}
    for event in events:
        row = tickets.get(event.id, {})
        paid = money.get(event.id, _Money())
        figures[event.id] = EventFigures(
            event=event,
            capacity=capacity[event.id],
            issued=row.get("issued", 0),
            free=row.get("free", 0),
            free_cancelled=row.get("free_cancelled", 0),
            checked_in=row.get("checked_in", 0),
            taken=paid.taken,
            ticket_value=row.get("revenue") or ZERO,
            refunds=_refunds(
                paid,
                voided=row.get("void", 0)
                - row.get("free_cancelled", 0)
                - elsewhere.get(event.id, 0),
            ),
            sent_back=paid.sent_back,
            other_sellers=paid.other_sellers,
            voided_elsewhere=VoidedElsewhere(
                amount=paid.voided_elsewhere, tickets=elsewhere.get(event.id, 0)
            ),
            holds=holds.get(event.id, Holds()),
            waitlist=waitlist.get(event.id, Waitlist()),
        )
    return figures


def event_sales(event: Event, *, now=None) -> EventSales:
    """Per-type sales of one event, and its headline figures summed from them.

    Ticket types are listed when active or when they have tickets, so a type
    withdrawn after selling still shows what it sold.
    """
    now = now or timezone.now()
    by_type = {
        row.pop("ticket_type_id"): row
        for row in Ticket.objects.filter(event=event)
        .values("ticket_type_id")
        .annotate(**_ticket_aggregates())
        .order_by()
    }
    held = held_by_type(event_ids=[event.id], now=now)
    types = []
    active_capacity = 0
    for ticket_type in TicketType.objects.filter(event=event):
        row = by_type.get(ticket_type.id)
        if ticket_type.is_active:
            active_capacity += ticket_type.capacity
        elif row is None:
            continue
        row = row or {}
        types.append(
            TypeSales(
                id=ticket_type.id,
                name=ticket_type.name,
                price=ticket_type.price,
                capacity=ticket_type.capacity,
                issued=row.get("issued", 0),
                free=row.get("free", 0),
                free_cancelled=row.get("free_cancelled", 0),
                void=row.get("void", 0),
                checked_in=row.get("checked_in", 0),
                revenue=row.get("revenue") or ZERO,
                held=held.get(ticket_type.id, 0),
            )
        )
    paid = _money_by_event([event.id]).get(event.id, _Money())
    elsewhere = _voided_elsewhere_tickets([event.id]).get(event.id, 0)
    holds = _holds_by_event([event.id], now).get(event.id, Holds())
    waitlist = _waitlist_by_event([event.id]).get(event.id, Waitlist())
    figures = EventFigures(
        event=event,
        capacity=min(event.venue_capacity, active_capacity),
        issued=sum(t.issued for t in types),
        free=sum(t.free for t in types),
        free_cancelled=sum(t.free_cancelled for t in types),
        checked_in=sum(t.checked_in for t in types),
        taken=paid.taken,
        ticket_value=sum((t.revenue for t in types), ZERO),
        refunds=_refunds(
            paid,
            voided=sum(t.void - t.free_cancelled for t in types) - elsewhere,
        ),
        sent_back=paid.sent_back,
        other_sellers=paid.other_sellers,
        voided_elsewhere=VoidedElsewhere(
            amount=paid.voided_elsewhere, tickets=elsewhere
        ),
        holds=holds,
        waitlist=waitlist,
    )
    return EventSales(figures=figures, types=types)


# --- Sales over time ------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """One bar of a time chart: local start of the period, tickets and
    revenue. For sales, `tickets` (and `revenue`, their value) are the ones
    sold in the period that still admit, `voided` those sold in it and
    refunded or voided since: the bar is what was sold then."""

    start: dt.date | dt.datetime
    tickets: int
    revenue: Decimal = ZERO
    voided: int = 0

    @property
    def sold_then(self) -> int:
        return self.tickets + self.voided


@dataclass(frozen=True)
class SalesOverTime:
    days: list[Bucket]
    hours: list[Bucket]
    # Sales before the first of `days` (more than MAX_DAYS before the last
    # sale), all in one, starting on that first day; None when there are none.
    earlier: Bucket | None = None


def _sold_by_local_hour(event: Event) -> dict[dt.datetime, Bucket]:
    """Sold tickets per local hour (keyed by the hour's UTC start): those
    that still admit with their value, and those refunded or voided since.

    One grouped query over the ticket table alone: tickets that were paid
    for (not FREE_TICKET), by hour and status.
    """
    tz = event.tz
    rows = (
        Ticket.objects.filter(~FREE_TICKET, event=event)
        .annotate(hour=TruncHour("created_at", tzinfo=tz))
        .values("hour")
        .annotate(
            tickets=Count("status", filter=ISSUED),
            revenue=Sum("price_paid", filter=ISSUED),
            voided=Count("status", filter=VOID),
        )
        .order_by()
    )
    return {
        row["hour"].astimezone(dt.UTC): Bucket(
            start=row["hour"],
            tickets=row["tickets"],
            revenue=row["revenue"] or ZERO,
            voided=row["voided"],
        )
        for row in rows
    }


def _added(start, buckets: Iterable[Bucket]) -> Bucket:
    buckets = list(buckets)
    return Bucket(
        start=start,
        tickets=sum(b.tickets for b in buckets),
        revenue=sum((b.revenue for b in buckets), ZERO),
        voided=sum(b.voided for b in buckets),
    )


def _days(event: Event, hourly: dict) -> tuple[list[Bucket], Bucket | None]:
    """The days with sales, and those before the last MAX_DAYS in one."""
    tz = event.tz
    by_day: dict[dt.date, list] = defaultdict(list)
    for hour, bucket in hourly.items():
        by_day[timezone.localtime(hour, tz).date()].append(bucket)
    if not by_day:
        return [], None
    last = max(by_day)
    first = max(min(by_day), last - dt.timedelta(days=MAX_DAYS - 1))
    days = []
    day = first
    while day <= last:
        days.append(_added(day, by_day.get(day, ())))
        day += dt.timedelta(days=1)
    older = [b for day, found in by_day.items() if day < first for b in found]
    return days, (_added(first, older) if older else None)


def _hours(event: Event, hourly: dict) -> list[Bucket]:
    tz = event.tz
    window_start = event.starts_at - HOURLY_BEFORE
    window_end = event.starts_at + HOURLY_AFTER
    # Step in UTC so a DST change neither skips nor repeats an hour; zones
    # with half-hour offsets start their hours on the local hour.
    local_start = timezone.localtime(window_start, tz)
    moment = (local_start - dt.timedelta(minutes=local_start.minute)).replace(
        second=0, microsecond=0
    )
    moment = moment.astimezone(dt.UTC)
    hours = []
    while moment < window_end:
        found = hourly.get(moment)
        hours.append(_added(timezone.localtime(moment, tz), [found] if found else []))
        moment += dt.timedelta(hours=1)
    return hours


def sales_over_time(event: Event) -> SalesOverTime:
    """Sold tickets and revenue per local day and per local hour near the show.

    Days run from the first to the last day with sales (zeros filled in, at
    most the last MAX_DAYS); hours from 48 hours before the start to 6 after,
    whether or not anything sold. Sales before the days shown are added up
    in `earlier`, so nothing sold goes uncounted. A sale refunded or voided
    since still counts in its period, as `voided`, so a cancelled event's
    history shows what it sold. Bucket starts are dates, or aware datetimes
    in the event's time zone. Both series come from one hourly aggregate.
    """
    hourly = _sold_by_local_hour(event)
    days, earlier = _days(event, hourly)
    return SalesOverTime(days=days, hours=_hours(event, hourly), earlier=earlier)


def sales_by_day(event: Event) -> list[Bucket]:
    return sales_over_time(event).days


def sales_by_hour(event: Event) -> list[Bucket]:
    return sales_over_time(event).hours


# --- On the night -----------------------------------------------------------------


def arrivals(event: Event) -> list[Bucket]:
    """Checked-in tickets per 5 minutes of local time, gaps filled with zeros.

    Bucket starts are aware datetimes in the event's time zone. The series
    runs from the first to the last arrival, at most the last 12 hours of it.
    """
    tz = event.tz
    rows = (
        Ticket.objects.filter(
            event=event, status=Ticket.Status.USED, scanned_at__isnull=False
        )
        .annotate(
            hour=TruncHour("scanned_at", tzinfo=tz),
            slot=Cast(
                Floor(ExtractMinute("scanned_at", tzinfo=tz) / Value(5)),
                IntegerField(),
            ),
        )
        .values("hour", "slot")
        .annotate(tickets=Count("*"))
        .order_by()
    )
    step = dt.timedelta(minutes=ARRIVAL_BUCKET_MINUTES)
    found: dict[dt.datetime, int] = defaultdict(int)
    for row in rows:
        hour = timezone.localtime(row["hour"], tz).replace(tzinfo=None)
        found[hour + row["slot"] * step] += row["tickets"]
    if not found:
        return []
    first, last = min(found), max(found)
    first = max(first, last - (MAX_ARRIVAL_BUCKETS - 1) * step)
    buckets = []
    moment = first
    while moment <= last:
        buckets.append(
            Bucket(start=moment.replace(tzinfo=tz), tickets=found.get(moment, 0))
        )
        moment += step
    return buckets


def door_name(label: str | None) -> str:
    """A door as the door page names it: its name, or "Unnamed door" for a
    door left unnamed (no label, or the "Door" pages once saved for one)."""
    label = " ".join((label or "").split())
    if not label or label.casefold() in UNNAMED_DOORS:
        return NO_DEVICE
    return label


def staff_name(first_name: str | None, last_name: str | None, username: str) -> str:
    """A staff member as the door page names them (staff_display_name, from
    the user's columns): full name, else username."""
    full_name = f"{first_name or ''} {last_name or ''}".strip()
    return (full_name or username or "").strip()


# The user columns staff_name reads, through a relation (`staff__`...).
STAFF_NAME_FIELDS = ("first_name", "last_name", "username")


def _staff_name_of(row: dict, relation: str) -> str:
    return staff_name(*(row[f"{relation}__{name}"] for name in STAFF_NAME_FIELDS))


@dataclass(frozen=True)
class ScanRow:
    at: dt.datetime
    result: str
    result_label: str
    ticket_code: str
    ticket_type: str
    guest_name: str
    staff: str
    device: str
    offline: bool

    @property
    def admitted(self) -> bool:
        return self.result == ScanLog.Result.OK

    @property
    def let_in_twice(self) -> bool:
        return self.result == ScanLog.Result.OFFLINE_CONFLICT


def last_scans(event: Event, *, limit: int = 10) -> list[ScanRow]:
    """The latest scan attempts, newest first, with who scanned and where
    (staff by display name, doors by name or "Unnamed door")."""
    labels = dict(ScanLog.Result.choices)
    rows = (
        ScanLog.objects.filter(event=event)
        .order_by("-at", "-id")
        .values(
            "at",
            "result",
            "ticket__code",
            "ticket__ticket_type__name",
            "ticket__guest_name",
            "staff_id",
            *(f"staff__{name}" for name in STAFF_NAME_FIELDS),
            "device_label",
            "offline",
        )[:limit]
    )
    return [
        ScanRow(
            at=row["at"],
            result=row["result"],
            result_label=labels.get(row["result"], row["result"]),
            ticket_code=row["ticket__code"] or "",
            ticket_type=row["ticket__ticket_type__name"] or "",
            guest_name=row["ticket__guest_name"] or "",
            staff=_staff_name_of(row, "staff") if row["staff_id"] else "",
            device=door_name(row["device_label"]),
            offline=row["offline"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class ReasonCount:
    key: str
    label: str
    count: int


def rejected_by_reason(event: Event) -> list[ReasonCount]:
    """Refused scans per result (already used, void, wrong event...), most
    first. Guests let in twice offline were let in: they are not here."""
    labels = dict(ScanLog.Result.choices)
    rows = (
        ScanLog.objects.filter(event=event, result__in=REJECTED_RESULTS)
        .values("result")
        .annotate(n=Count("id"))
        .order_by("-n", "result")
    )
    return [
        ReasonCount(key=row["result"], label=labels[row["result"]], count=row["n"])
        for row in rows
    ]


@dataclass(frozen=True)
class ScanTally:
    """The scans of one door or staff member. `total` (scan attempts) =
    `admitted` (admits that stand) + `undone` + `refunded_after` (admits
    put back, or whose ticket was refunded since) + `rejected` (refused)
    + `let_in_twice` (offline admits of a ticket already admitted)."""

    label: str
    total: int
    admitted: int
    rejected: int
    undone: int = 0
    refunded_after: int = 0
    let_in_twice: int = 0


def _undone_admits(event: Event) -> Counter:
    """(door label, staff id) of every admit that was undone, by count.

    An undo's log row is the undoer's, at the undoer's device; the admit it
    put back is the ticket's latest admit logged before it. Per ticket,
    admits and undos alternate in the order they were logged (an undo needs
    the ticket admitted, and the next admit needs it undone), so each undo
    pairs with the admit just before it. One query, over the scans of the
    few tickets that had an admit undone (the result and ticket indexes).
    """
    undone_tickets = ScanLog.objects.filter(
        event=event, result=ScanLog.Result.UNDONE
    ).values("ticket_id")
    rows = (
        ScanLog.objects.filter(
            event=event,
            result__in=(ScanLog.Result.OK, ScanLog.Result.UNDONE),
            ticket_id__in=undone_tickets,
        )
        .order_by("ticket_id", "id")
        .values_list("ticket_id", "result", "device_label", "staff_id")
    )
    undone: Counter = Counter()
    standing: dict = {}
    for ticket_id, result, device_label, staff_id in rows:
        if result == ScanLog.Result.OK:
            standing[ticket_id] = (device_label, staff_id)
        elif ticket_id in standing:
            undone[standing.pop(ticket_id)] += 1
    return undone


def _refunded_after_entry(event: Event) -> Counter:
    """(door label, staff id) of the standing admits of tickets refunded
    since: a refund voids a used ticket and keeps who admitted it, where.
    Void tickets are few, found through ticket_event_stats_idx."""
    rows = (
        Ticket.objects.filter(
            event=event, status=Ticket.Status.VOID, scanned_at__isnull=False
        )
        .values("scanned_device", "scanned_by_id")
        .annotate(n=Count("*"))
        .order_by()
    )
    return Counter(
        {(row["scanned_device"], row["scanned_by_id"]): row["n"] for row in rows}
    )


def _staff_labels(staff_ids: Iterable) -> dict:
    """Display names by user id; two staff with the same name are told
    apart by their usernames. Staff deleted since are dropped."""
    rows = (
        get_user_model()
        .objects.filter(pk__in=[pk for pk in staff_ids if pk is not None])
        .values_list("pk", *STAFF_NAME_FIELDS)
    )
    names = {pk: (staff_name(*fields), fields[-1]) for pk, *fields in rows}
    seen = Counter(name.casefold() for name, _ in names.values())
    return {
        pk: f"{name} ({username})" if seen[name.casefold()] > 1 else name
        for pk, (name, username) in names.items()
    }


def _tallies(totals: dict, blank: str) -> list[ScanTally]:
    tallies = [
        ScanTally(
            label=label,
            total=t["total"],
            admitted=t["admitted"] - t["undone"] - t["refunded_after"],
            rejected=t["rejected"],
            undone=t["undone"],
            refunded_after=t["refunded_after"],
            let_in_twice=t["let_in_twice"],
        )
        for label, t in totals.items()
        if t["total"]
    ]
    # Busiest first; unlabelled scans after labelled ones with the same count.
    return sorted(tallies, key=lambda t: (-t.total, t.label == blank, t.label))


def scan_tallies(event: Event) -> tuple[list[ScanTally], list[ScanTally]]:
    """Scans per door and per staff member, and what became of them.

    One grouped query by (door, staff id) on scan_event_door_staff_idx,
    rolled up both ways; then the admits undone (_undone_admits) and the
    admits of tickets refunded since (_refunded_after_entry), both few rows,
    are taken off the admits of the door and staff who made them, so the
    doors' admits, and the staff's, add up to the tickets checked in. Names
    are looked up for the few staff ids rather than joined to every scan.
    """
    r = ScanLog.Result
    rows = (
        ScanLog.objects.filter(event=event)
        .values("device_label", "staff_id")
        .annotate(
            total=Count("result", filter=~Q(result=r.UNDONE)),
            admitted=Count("result", filter=Q(result=r.OK)),
            rejected=Count("result", filter=Q(result__in=REJECTED_RESULTS)),
            let_in_twice=Count("result", filter=Q(result=r.OFFLINE_CONFLICT)),
        )
        .order_by()
    )
    counts: dict = defaultdict(Counter)
    for row in rows:
        key = (row["device_label"], row["staff_id"])
        for name in ("total", "admitted", "rejected", "let_in_twice"):
            counts[key][name] += row[name]
    for name, found in (
        ("undone", _undone_admits(event)),
        ("refunded_after", _refunded_after_entry(event)),
    ):
        for key, n in found.items():
            if key in counts:  # an admit is always logged where it was made
                counts[key][name] += n
    staff_labels = _staff_labels({staff_id for _, staff_id in counts})
    by_door: dict = defaultdict(Counter)
    by_staff: dict = defaultdict(Counter)
    for (device_label, staff_id), t in counts.items():
        by_door[door_name(device_label)].update(t)
        by_staff[staff_labels.get(staff_id, NO_STAFF)].update(t)
    return _tallies(by_door, NO_DEVICE), _tallies(by_staff, NO_STAFF)


def scans_by_door(event: Event) -> list[ScanTally]:
    """Scans per door (by name, unnamed ones together)."""
    return scan_tallies(event)[0]


def scans_by_staff(event: Event) -> list[ScanTally]:
    """Scans per staff member (by display name)."""
    return scan_tallies(event)[1]


@dataclass(frozen=True)
class DoorFigures:
    arrivals: list[Bucket]
    last_scans: list[ScanRow]
    rejected: list[ReasonCount]
    by_door: list[ScanTally]
    by_staff: list[ScanTally]

    @property
    def rejected_total(self) -> int:
        return sum(row.count for row in self.rejected)

    @property
    def scans_total(self) -> int:
        return sum(row.total for row in self.by_door)

    @property
    def admitted_total(self) -> int:
        """Admits that stand: the tickets checked in."""
        return sum(row.admitted for row in self.by_door)

    @property
    def undone_total(self) -> int:
        return sum(row.undone for row in self.by_door)

    @property
    def refunded_after_total(self) -> int:
        return sum(row.refunded_after for row in self.by_door)

    @property
    def let_in_twice_total(self) -> int:
        return sum(row.let_in_twice for row in self.by_door)


def door_figures(event: Event, *, last: int = 10) -> DoorFigures:
    """Everything the night-of part of the dashboard shows, in seven queries."""
    by_door, by_staff = scan_tallies(event)
    return DoorFigures(
        arrivals=arrivals(event),
        last_scans=last_scans(event, limit=last),
        rejected=rejected_by_reason(event),
        by_door=by_door,
        by_staff=by_staff,
    )


# --- Across events ---------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    upcoming: list[EventFigures]
    past: list[EventFigures]


def events_overview(*, now=None) -> Overview:
    """Every event's headline figures: upcoming soonest first, past latest first.

    An event stays "upcoming" until NIGHT_LENGTH after it starts, so tonight's
    show is at the top of the list while its doors are open.
    """
    now = now or timezone.now()
    events = list(Event.objects.order_by("starts_at", "name"))
    figures = event_figures_for(events, now=now)
    cutoff = now - NIGHT_LENGTH
    upcoming = [figures[e.id] for e in events if e.starts_at > cutoff]
    past = [figures[e.id] for e in reversed(events) if e.starts_at <= cutoff]
    return Overview(upcoming=upcoming, past=past)


def free_tickets_by_type(event_id) -> dict[int, int]:
    """Free tickets (FREE_TICKET) that still admit, per ticket type id of
    the event: one grouped query on ticket_event_stats_idx."""
    rows = (
        Ticket.objects.filter(ISSUED & FREE_TICKET, event_id=event_id)
        .values("ticket_type_id")
        .annotate(n=Count("status"))
        .order_by()
    )
    return {row["ticket_type_id"]: row["n"] for row in rows}
