"""Placing an order: validate, then hold seats atomically under row locks."""

import hashlib
import json
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from core import realtime
from core.exceptions import (
    InvalidRequest,
    NotFound,
    SalesClosed,
    SoldOut,
    TooManyFromNetwork,
)
from core.models import Event, Order, OrderLine, TicketType
from core.phones import (
    NotAPhoneNumber,
    lacks_country_code,
    normalise_phone,
    phone_region,
)
from core.queries.availability import (
    EventAvailability,
    compute_availability,
    event_availability_now,
    held_and_waiting,
)
from core.queries.snapshots import KEY_NOTE_UNKNOWN, note_key_at_the_locks
from core.rows import insert_row_and_rows, mark_written, planned_cursor, rows_as_json
from core.services.counters import move_held
from core.services.locks import event_and_types, lock_event_and_types


def clean_quantities(quantities: Mapping) -> dict[int, int]:
    cleaned: dict[int, int] = {}
    for key, value in quantities.items():
        try:
            type_id, quantity = int(key), int(value)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(
                "Quantities must be whole numbers.", code="invalid_quantity"
            ) from exc
        if quantity < 0:
            raise InvalidRequest(
                "Quantities cannot be negative.", code="invalid_quantity"
            )
        if quantity:
            cleaned[type_id] = quantity
    if not cleaned:
        raise InvalidRequest("Choose at least one ticket.", code="invalid_quantity")
    return cleaned


# The longest name and email a contact may have: the columns' (orders',
# tickets' and waitlist entries' alike), 254 being also the longest address
# mail can carry. Longer would fail at the database, not as a message.
NAME_MAX_LENGTH = Order._meta.get_field("customer_name").max_length
EMAIL_MAX_LENGTH = Order._meta.get_field("customer_email").max_length


def clean_contact(
    name: str, email: str, phone: str, *, time_zone: str | None = None
) -> tuple[str, str, str]:
    """Trimmed name, lower-cased email and the phone in E.164, or
    InvalidRequest saying what is wrong. `time_zone` is the event's: a phone
    typed without its country code is read as one of that zone's country."""
    name, email, phone = (
        (name or "").strip(),
        (email or "").strip(),
        (phone or "").strip(),
    )
    if not name:
        raise InvalidRequest("Please enter your name.", code="invalid_name")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidRequest(
            f"Please shorten your name to {NAME_MAX_LENGTH} characters or fewer.",
            code="invalid_name",
        )
    if "\x00" in name:  # Postgres cannot store it; an email or phone never passes
        raise InvalidRequest(
            "Please retype your name: it contains an invisible null character.",
            code="invalid_name",
        )
    return name, clean_email(email).lower(), clean_phone(phone, time_zone=time_zone)


def clean_email(email: str) -> str:
    """An email address as typed, trimmed, or InvalidRequest."""
    email = (email or "").strip()
    if len(email) > EMAIL_MAX_LENGTH:
        raise InvalidRequest(
            "That email address is too long: "
            f"addresses have at most {EMAIL_MAX_LENGTH} characters.",
            code="invalid_email",
        )
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidRequest(
            "Please enter a valid email address.", code="invalid_email"
        ) from exc
    return email


def clean_phone(phone: str, *, time_zone: str | None = None) -> str:
    """A phone number in E.164 ("+34612345678"), the only form texts go to,
    or "" for none.

    Typed with its +country code, or without as a number of the country of
    `time_zone` (the event's), else of DEFAULT_PHONE_REGION. Raises
    InvalidRequest (invalid_phone) with a mobile number of that country as
    the example.
    """
    try:
        return normalise_phone(phone, region=phone_region(time_zone))
    except NotAPhoneNumber as exc:
        problem = (
            "That looks like a landline number, which cannot get texts."
            if exc.landline
            else "That is not a valid phone number."
        )
        raise InvalidRequest(
            f"{problem} Enter a mobile number, e.g. {exc.example}.",
            code="invalid_phone",
        ) from exc


def event_time_zone(event_id, seen: EventAvailability | None = None) -> str | None:
    """The time zone of an event, from `seen` (a snapshot of it) when it is
    that event's, else read; None for no such event."""
    if seen is not None and seen.event.pk == event_id:
        return seen.event.time_zone
    try:
        events = Event.objects.filter(pk=event_id)
    except ValidationError:  # not an event id: refused as unknown later
        return None
    return events.values_list("time_zone", flat=True).first()


def _check_fits(wanted: dict[int, int], availability: EventAvailability) -> None:
    _check_fits_figures(
        wanted,
        names={row.id: row.name for row in availability.types},
        available={row.id: row.available for row in availability.types},
        total_available=availability.total_available,
    )


def _check_fits_figures(
    wanted: dict[int, int],
    *,
    names: dict[int, str],
    available: dict[int, int],
    total_available: int,
) -> None:
    """Raise SoldOut, saying what is left, unless every wanted type fits."""
    for type_id, quantity in wanted.items():
        left = available.get(type_id, 0)
        if quantity > left:
            message = (
                f"Only {left} {names[type_id]} tickets are left."
                if left
                else f"{names[type_id]} is sold out."
            )
            raise SoldOut(message, available=left, ticket_type=type_id)
    if sum(wanted.values()) > total_available:
        raise SoldOut(
            f"Only {total_available} tickets are left for this event.",
            available=total_available,
        )


def _refuse_if_gone_already(placing: "_Placing") -> None:
    """Say "sold out" without queueing for the event's lock when it plainly is.

    In a rush most buyers arrive after the last seat went; making each of
    them wait for the lock only to be refused slows down the buyers who can
    still get in. This reads the public availability (committed data, no
    locks), so it can only refuse what was already gone at this instant;
    whether an order fits is always decided under the locks. The same form
    sent again, whose first submit placed an order that still holds (its
    key's newest order, for the same buyer and seats), goes on to the locks
    all the same: that order may be what took the last seats, and there the
    repeat finds it.
    """
    seen = event_availability_now(event_id=placing.event_id, now=placing.now)
    if seen is None or not seen.types:
        return
    try:
        _refuse_if_seen_gone(placing.wanted, seen)
    except SoldOut:
        if not _placed_already(placing):
            raise


def _placed_already(placing: "_Placing") -> bool:
    """Whether this form's key placed this very order already (see
    _Placing.is_repeated_by); what core_place_hold finds under the lock."""
    if placing.checkout_key is None:
        return False
    earlier = (
        Order.objects.filter(
            event_id=placing.event_id, checkout_key=placing.checkout_key
        )
        .order_by("-created_at")
        .first()
    )
    return earlier is not None and placing.is_repeated_by(earlier)


def form_fingerprint(
    event_id, wanted: dict[int, int], name: str, email: str, phone: str
) -> str:
    """One buy form's event, seats and buyer, as note_key_at_the_locks keeps
    them: only the same form sent again matches its note."""
    form = json.dumps([str(event_id), sorted(wanted.items()), name, email, phone])
    return hashlib.sha256(form.encode()).hexdigest()[:32]


def _refuse_if_seen_gone(wanted: dict[int, int], seen: EventAvailability) -> None:
    """Refuse on public availability already read (a fresh read, or the
    purchase page's cached snapshot, never older than the last announced
    change: refusing on it is like refusing a moment earlier).

    Anything else wrong with the request (unknown or closed type, above the
    per-order limit) is left to the locked path, so errors are the same
    either way. The refusal carries `seen`, for the page that shows it.
    """
    by_id = {row.id: row for row in seen.types}
    for type_id, quantity in wanted.items():
        row = by_id.get(type_id)
        if row is None or not row.on_sale or quantity > row.max_per_order:
            return
    try:
        _check_fits(wanted, seen)
    except SoldOut as refusal:
        refusal.availability = seen
        raise


def place_order(
    *,
    event_id,
    quantities: Mapping[int, int],
    customer_name: str,
    customer_email: str,
    customer_phone: str = "",
    source: str = Order.Source.WEB,
    hold_minutes: int | None = None,
    free: bool = False,
    order_id=None,
    seen_availability: EventAvailability | None = None,
    seen_is_current: bool = True,
    seen_key_note: str | None = None,
    checkout_key: str | None = None,
    allowance: "Allowance | None" = None,
    now=None,
) -> Order:
    """Create a pending order whose lines hold seats until the hold expires.

    Locks the event row, then all its ticket types in primary-key order, so that
    `sold + held <= capacity` holds per type and per venue under concurrency
    (a request for seats already gone is refused before taking any lock). On
    Postgres the locks, the count and the writes are one statement
    (core_place_hold, ADR 11).
    Comps (`free=True`, source comp) skip sales windows and per-order limits.
    `order_id` lets an external channel name the order (its retries then
    collide on the primary key instead of buying twice).
    `seen_availability`, the event's availability as the caller last read it
    (a cached snapshot will do), lets a plainly sold-out request be refused
    without a query; it never lets an order through. With `seen_is_current`
    False (a snapshot from before the last change) a refusal it suggests is
    checked against a fresh read first.
    `checkout_key`, the buy form's (core.services.checkout_keys), makes the
    same form sent again, even while the first request is still running,
    return the order it placed instead of a second one, as long as that
    order is pending with its hold live, for the same buyer and quantities
    (under the event's lock: the repeat waits for the first); otherwise a
    new order is placed, and the newest order of a key is the one a repeat
    finds. Before the locks, a repeat whose first submit took the last seats
    finds that order on a fresh read's refusal. A form sent on to the locks
    leaves a note (note_key_at_the_locks), which the purchase page reads with
    its snapshot and passes as `seen_key_note`: a form matching it (or when
    the cache could not say) is not refused on `seen_availability`, but on
    that fresh read.
    `allowance`, what the buyer's network may still take of the event
    (scanner.throttle.BuyAllowance), is counted once the request is past the
    refusals made before the locks (a sold-out rush costs it nothing) and
    given back unless a new order is placed.
    Broadcasts availability after commit. Raises InvalidRequest, NotFound,
    SalesClosed, SoldOut or TooManyFromNetwork; nothing is written when it
    raises.
    """
    now = now or timezone.now()
    wanted = clean_quantities(quantities)
    # Only a number typed without its +code needs the event's country.
    time_zone = (
        event_time_zone(event_id, seen_availability)
        if lacks_country_code(customer_phone)
        else None
    )
    name, email, phone = clean_contact(
        customer_name, customer_email, customer_phone, time_zone=time_zone
    )
    minutes = settings.HOLD_MINUTES if hold_minutes is None else hold_minutes
    placing = _Placing(
        event_id=event_id,
        wanted=wanted,
        name=name,
        email=email,
        phone=phone,
        source=source,
        hold_expires_at=now + timedelta(minutes=minutes),
        free=free,
        order_id=order_id,
        checkout_key=checkout_key,
        now=now,
    )

    if not placing.staff_issued:
        form = checkout_key and form_fingerprint(event_id, wanted, name, email, phone)
        if seen_availability is not None and seen_availability.event.pk == event_id:
            try:
                _refuse_if_seen_gone(wanted, seen_availability)
            except SoldOut:
                maybe_repeat = form and seen_key_note in (form, KEY_NOTE_UNKNOWN)
                if seen_is_current and not maybe_repeat:
                    raise
                _refuse_if_gone_already(placing)
        else:
            _refuse_if_gone_already(placing)

        # Counted before the locks, so that forms sent at one instant cannot
        # all slip under the limit.
        if allowance is not None and (refusal := allowance.take(sum(wanted.values()))):
            raise TooManyFromNetwork(refusal)

        if form:
            # Before the locks, so that once this order's seats show as
            # gone, the same form sent again is not refused on those figures.
            note_key_at_the_locks(checkout_key, form, minutes * 60)

    # Refused above without a transaction; from here on, under the locks.
    try:
        order = _place(placing)
    except Exception:
        if allowance is not None:
            allowance.give_back()
        raise
    if allowance is not None and not getattr(order, "placed_now", False):
        allowance.give_back()  # the order the same form placed, found again
    return order


class Allowance(Protocol):
    """What a network may still take of an event (scanner.throttle)."""

    def take(self, seats: int) -> str | None:
        """Count `seats`; None, or why they are refused (nothing counted)."""

    def give_back(self) -> None:
        """Uncount what take counted."""


def _place(placing: "_Placing") -> Order:
    if connection.vendor == "postgresql":
        return _place_in_database(placing)
    with transaction.atomic():
        return _place_under_locks(placing)


@dataclass(frozen=True)
class _Placing:
    """A checkout's request once cleaned: what either path places."""

    event_id: Any
    wanted: dict[int, int]
    name: str
    email: str
    phone: str
    source: str
    hold_expires_at: datetime
    free: bool
    order_id: Any
    checkout_key: str | None
    now: datetime

    @property
    def staff_issued(self) -> bool:
        return self.source == Order.Source.COMP

    @property
    def claims_free_tickets(self) -> bool:
        """Whether FREE_TICKETS_PER_EMAIL may refuse it: a buyer's order
        (not a comp, nor an external channel's)."""
        return self.source == Order.Source.WEB and bool(settings.FREE_TICKETS_PER_EMAIL)

    def is_repeated_by(self, order: Order) -> bool:
        """Whether `order`, the one this request's key names, is this order
        placed already: pending with its hold live, for the same buyer and
        quantities. core_place_hold judges the same on Postgres."""
        return (
            order.is_payable(self.now)
            and (order.customer_name, order.customer_email, order.customer_phone)
            == (self.name, self.email, self.phone)
            and dict(
                OrderLine.objects.filter(order=order).values_list(
                    "ticket_type_id", "quantity"
                )
            )
            == self.wanted
        )

    def new_order(self, event: Event, types: list[TicketType]) -> tuple:
        order, lines = new_held_order(
            event=event,
            wanted={t: self.wanted[t.id] for t in types},
            customer_name=self.name,
            customer_email=self.email,
            customer_phone=self.phone,
            source=self.source,
            hold_expires_at=self.hold_expires_at,
            free=self.free,
            order_id=self.order_id,
            checkout_key=self.checkout_key,
        )
        # Told apart from an earlier order a repeated form is answered with:
        # an allowance counted for this form is given back for that one.
        order.placed_now = True
        return order, lines


def _place_under_locks(placing: _Placing) -> Order:
    """Lock the event and its types from here, check, write: the SQLite path."""
    # All the event's types, locked in primary-key order: one query serves
    # both the types being bought and the availability check below (the
    # event row lock already serialises checkouts, so the extra row locks
    # cost nothing).
    event, all_types = lock_event_and_types(placing.event_id)
    types = _check_order_rules(event, all_types, placing)
    earlier = None
    if placing.checkout_key is not None:
        # The same form's first submit, if it got here first, is committed.
        earlier = (
            Order.objects.filter(event=event, checkout_key=placing.checkout_key)
            .order_by("-created_at")
            .first()
        )
        if earlier is not None and placing.is_repeated_by(earlier):
            earlier.event = event
            return earlier
    # Freed seats go to the people on the waitlist first; staff comps don't wait.
    held, waiting = held_and_waiting(event_ids=[event.id], now=placing.now)
    availability = compute_availability(
        event, all_types, held, placing.now, None if placing.staff_issued else waiting
    )
    _check_fits(placing.wanted, availability)
    # The new order takes the key too (the newest answers a repeat); the
    # earlier one's row is not written: see core_place_hold.
    order, lines = placing.new_order(event, types)
    insert_row_and_rows(order, lines)
    move_held(
        event_id=event.id,
        by_type={line.ticket_type_id: line.quantity for line in lines},
    )
    realtime.announce_availability_changed(event.id, reason="hold")
    return order


def _place_in_database(placing: _Placing) -> Order:
    """Judge the order's rules on a read without locks, then let one
    statement (core_place_hold) lock, count and write: Postgres holds the
    event's lock only while that statement runs, not while this thread
    waits for its turn to run (ADR 11). The rules not about seats (on sale,
    per-order limits, prices) are judged a moment before the locks, as if
    the order had come a moment earlier; the seats are counted under them.
    """
    event, all_types = event_and_types(placing.event_id)
    if placing.claims_free_tickets and _asks_for_free(placing, all_types):
        # Two forms for the same email at once: the second counts the
        # first's free tickets (_check_free_tickets_left). Only these pay
        # for a transaction; a paid checkout stays one statement.
        with transaction.atomic():
            _lock_free_claims(placing.event_id, placing.email)
            return _hold_in_database(placing, event, all_types)
    return _hold_in_database(placing, event, all_types)


def _asks_for_free(placing: "_Placing", all_types: list[TicketType]) -> bool:
    return any(t.price == 0 and placing.wanted.get(t.id) for t in all_types)


def _hold_in_database(
    placing: "_Placing", event: Event | None, all_types: list[TicketType]
) -> Order:
    types = _check_order_rules(event, all_types, placing)
    order, lines = placing.new_order(event, types)
    # Inside a caller's transaction, a savepoint keeps it usable if the
    # statement fails (an external channel's order id taken); on its own the
    # statement is its own transaction, with no BEGIN or COMMIT round trip.
    scope = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with scope, planned_cursor() as cursor:
        cursor.execute(
            "SELECT core_place_hold(%s, %s, %s, %s::jsonb, (%s::jsonb) -> 0, %s::jsonb)",
            [
                event.pk,
                placing.now,
                not placing.staff_issued,
                json.dumps({str(type_id): n for type_id, n in placing.wanted.items()}),
                rows_as_json([order]),
                rows_as_json(lines),
            ],
        )
        (verdict,) = cursor.fetchone()
    verdict = json.loads(verdict) if isinstance(verdict, str) else verdict
    if not verdict["found"]:
        raise NotFound("This event is not on sale.", code="unknown_event")
    if "earlier" in verdict:
        # The same form's order, placed already: nothing was written.
        return Order.objects.select_related("event").get(pk=verdict["earlier"])
    if verdict["missing"]:
        raise _unknown_type()
    if not verdict["fits"]:
        _check_fits_figures(
            placing.wanted,
            names={t.id: t.name for t in all_types},
            available={int(key): n for key, n in verdict["available"].items()},
            total_available=verdict["total_available"],
        )
        raise SoldOut()  # the figures always say why; never write on a refusal
    mark_written([order])
    mark_written(lines, verdict["line_ids"])
    realtime.announce_availability_changed(event.id, reason="hold")
    return order


def _unknown_type() -> InvalidRequest:
    return InvalidRequest(
        "One of the ticket types does not exist for this event.",
        code="unknown_ticket_type",
    )


def _check_order_rules(
    event: Event | None, all_types: list[TicketType], placing: _Placing
) -> list[TicketType]:
    """The wanted types, if the event and they are on sale and within their
    per-order limits (staff comps skip windows and limits)."""
    wanted, now = placing.wanted, placing.now
    if event is None or (not event.is_active and not placing.staff_issued):
        raise NotFound("This event is not on sale.", code="unknown_event")
    if event.cancelled_at is not None:
        # Free tickets too: the guest would be sent tickets for no show.
        raise InvalidRequest(
            f"{event.name} is cancelled: no tickets can be issued for it.",
            code="event_cancelled",
        )
    types = [t for t in all_types if t.id in wanted]
    if len(types) != len(wanted):
        raise _unknown_type()
    if not placing.staff_issued:
        if not event.sales_open(now):
            raise SalesClosed()
        for ticket_type in types:
            if not ticket_type.sales_open(now):
                raise SalesClosed(
                    f"{ticket_type.name} tickets are not on sale right now."
                )
            if wanted[ticket_type.id] > ticket_type.max_per_order:
                raise InvalidRequest(
                    f"You can buy at most {ticket_type.max_per_order} {ticket_type.name} tickets per order.",
                    code="above_max_per_order",
                )
        if placing.claims_free_tickets:
            _check_free_tickets_left(event, types, placing)
    return types


# pg_advisory_xact_lock's first key: an email's free tickets for an event
# being counted (the second is a hash of the two).
FREE_CLAIM_LOCKS = 0x46524545  # "FREE"


def _lock_free_claims(event_id, email: str) -> None:
    """Until the transaction ends, hold a lock on this email's free tickets
    for the event, so two orders placed at once do not both count the
    tickets before either. Postgres only: SQLite places under the event's
    lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [FREE_CLAIM_LOCKS, f"{event_id}:{email}"],
        )


def _check_free_tickets_left(
    event: Event, types: list[TicketType], placing: _Placing
) -> None:
    """Refuse free tickets past FREE_TICKETS_PER_EMAIL for this email and
    event: those of its orders that are paid, being paid or held (not
    cancelled, expired or refunded), and this order's. Otherwise one
    person takes every free ticket, one order at a time."""
    wanted = sum(placing.wanted[t.id] for t in types if t.price == 0)
    if not wanted:
        return
    limit = settings.FREE_TICKETS_PER_EMAIL
    had = (
        OrderLine.objects.filter(
            order__event=event,
            order__customer_email=placing.email,
            order__source=Order.Source.WEB,
            unit_price=0,
        )
        .filter(
            Q(order__status__in=[Order.Status.PAID, Order.Status.PROCESSING])
            | Q(
                order__status=Order.Status.PENDING,
                order__hold_expires_at__gt=placing.now,
            )
        )
        .aggregate(n=Sum("quantity"))["n"]
        or 0
    )
    if had + wanted <= limit:
        return
    if had:
        message = (
            f"{placing.email} already has {had} free tickets for this event, and "
            f"one email address can get at most {limit}. Nothing was reserved."
        )
        if had < limit:
            message += f" You can still get {limit - had}."
    else:
        message = (
            f"One email address can get at most {limit} free tickets for this "
            "event. Choose fewer. Nothing was reserved."
        )
    raise InvalidRequest(message, code="free_tickets_per_email")


def new_held_order(
    *,
    event: Event,
    wanted: dict[TicketType, int],
    customer_name: str,
    customer_email: str,
    customer_phone: str,
    source: str,
    hold_expires_at,
    free: bool = False,
    order_id=None,
    checkout_key: str | None = None,
) -> tuple[Order, list[OrderLine]]:
    """A pending order and its lines at today's prices, not written yet.

    The caller writes them while it holds the event's and its types' locks,
    having checked that the seats are free (core.rows.insert_row_and_rows,
    one round trip), or has core_place_hold lock, check and write them.
    """
    total = Decimal("0.00") if free else sum(t.price * qty for t, qty in wanted.items())
    order = Order(
        **({"id": order_id} if order_id else {}),
        event=event,
        customer_name=customer_name,
        customer_email=customer_email,
        customer_phone=customer_phone,
        source=source,
        hold_expires_at=hold_expires_at,
        total=total,
        currency=event.currency,
        checkout_key=checkout_key,
    )
    lines = [
        OrderLine(
            order=order,
            ticket_type=t,
            quantity=qty,
            unit_price=Decimal("0.00") if free else t.price,
        )
        for t, qty in wanted.items()
    ]
    return order, lines
