"""Placing an order: validate, then hold seats atomically under row locks."""

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from core import realtime
from core.exceptions import InvalidRequest, NotFound, SalesClosed, SoldOut
from core.models import Event, Order, OrderLine, TicketType
from core.queries.availability import (
    EventAvailability,
    compute_availability,
    event_availability_now,
    held_and_waiting,
)
from core.rows import insert_row_and_rows
from core.services.locks import lock_event_and_types


def _clean_quantities(quantities: Mapping) -> dict[int, int]:
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


def clean_contact(name: str, email: str, phone: str) -> tuple[str, str, str]:
    """Trimmed name, lower-cased email and phone, or InvalidRequest saying what is wrong."""
    name, email, phone = (
        (name or "").strip(),
        (email or "").strip(),
        (phone or "").strip(),
    )
    if not name:
        raise InvalidRequest("Please enter your name.", code="invalid_name")
    return name, clean_email(email).lower(), clean_phone(phone)


def clean_email(email: str) -> str:
    """An email address as typed, trimmed, or InvalidRequest."""
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidRequest(
            "Please enter a valid email address.", code="invalid_email"
        ) from exc
    return email


def clean_phone(phone: str) -> str:
    """A phone number as typed (digits, spaces, dashes, leading +), or ""."""
    phone = (phone or "").strip()
    if phone and not (
        phone.lstrip("+").replace(" ", "").replace("-", "").isdigit()
        and 6 <= len(phone) <= 20
    ):
        raise InvalidRequest(
            "Please enter a valid phone number, e.g. +14155550123.",
            code="invalid_phone",
        )
    return phone


def _check_fits(wanted: dict[int, int], availability: EventAvailability) -> None:
    by_id = {row.id: row for row in availability.types}
    for type_id, quantity in wanted.items():
        row = by_id[type_id]
        if quantity > row.available:
            message = (
                f"Only {row.available} {row.name} tickets are left."
                if row.available
                else f"{row.name} is sold out."
            )
            raise SoldOut(message, available=row.available, ticket_type=type_id)
    if sum(wanted.values()) > availability.total_available:
        raise SoldOut(
            f"Only {availability.total_available} tickets are left for this event.",
            available=availability.total_available,
        )


def _refuse_if_gone_already(event_id, wanted: dict[int, int], now) -> None:
    """Say "sold out" without queueing for the event's lock when it plainly is.

    In a rush most buyers arrive after the last seat went; making each of
    them wait for the lock only to be refused slows down the buyers who can
    still get in. This reads the public availability (committed data, no
    locks), so it can only refuse what was already gone at this instant;
    whether an order fits is always decided under the locks.
    """
    seen = event_availability_now(event_id=event_id, now=now)
    if seen is not None and seen.types:
        _refuse_if_seen_gone(wanted, seen)


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
    now=None,
) -> Order:
    """Create a pending order whose lines hold seats until the hold expires.

    Locks the event row, then all its ticket types in primary-key order, so that
    `sold + held <= capacity` holds per type and per venue under concurrency
    (a request for seats already gone is refused before taking any lock).
    Comps (`free=True`, source comp) skip sales windows and per-order limits.
    `order_id` lets an external channel name the order (its retries then
    collide on the primary key instead of buying twice).
    `seen_availability`, the event's availability as the caller last read it
    (a cached snapshot will do), lets a plainly sold-out request be refused
    without a query; it never lets an order through. With `seen_is_current`
    False (a snapshot from before the last change) a refusal it suggests is
    checked against a fresh read first.
    Broadcasts availability after commit. Raises InvalidRequest, NotFound,
    SalesClosed or SoldOut; nothing is written when it raises.
    """
    now = now or timezone.now()
    wanted = _clean_quantities(quantities)
    name, email, phone = clean_contact(customer_name, customer_email, customer_phone)
    staff_issued = source == Order.Source.COMP

    if not staff_issued:
        if seen_availability is not None and seen_availability.event.pk == event_id:
            try:
                _refuse_if_seen_gone(wanted, seen_availability)
            except SoldOut:
                if seen_is_current:
                    raise
                _refuse_if_gone_already(event_id, wanted, now)
        else:
            _refuse_if_gone_already(event_id, wanted, now)

    # Refused above without a transaction; from here on, under the locks.
    with transaction.atomic():
        # All the event's types, locked in primary-key order: one query serves
        # both the types being bought and the availability check below (the
        # event row lock already serialises checkouts, so the extra row locks
        # cost nothing).
        event, all_types = lock_event_and_types(event_id)
        if event is None or (not event.is_active and not staff_issued):
            raise NotFound("This event is not on sale.", code="unknown_event")
        types = [t for t in all_types if t.id in wanted]
        if len(types) != len(wanted):
            raise InvalidRequest(
                "One of the ticket types does not exist for this event.",
                code="unknown_ticket_type",
            )

        if not staff_issued:
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

        # Freed seats go to the people on the waitlist first; staff comps don't wait.
        held, waiting = held_and_waiting(event_ids=[event.id], now=now)
        availability = compute_availability(
            event, all_types, held, now, None if staff_issued else waiting
        )
        _check_fits(wanted, availability)

        minutes = settings.HOLD_MINUTES if hold_minutes is None else hold_minutes
        order = create_held_order(
            event=event,
            wanted={t: wanted[t.id] for t in types},
            customer_name=name,
            customer_email=email,
            customer_phone=phone,
            source=source,
            hold_expires_at=now + timedelta(minutes=minutes),
            free=free,
            order_id=order_id,
        )
        realtime.announce_availability_changed(event.id, reason="hold")
        return order


def create_held_order(
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
) -> Order:
    """Write a pending order and its lines at today's prices.

    Precondition: the caller holds the event and ticket type row locks and has
    checked that the seats are free.
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
    )
    # Written by hand, planned once per connection, in one round trip: every
    # checkout writes these while it holds the event's lock.
    insert_row_and_rows(
        order,
        [
            OrderLine(
                order=order,
                ticket_type=t,
                quantity=qty,
                unit_price=Decimal("0.00") if free else t.price,
            )
            for t, qty in wanted.items()
        ],
    )
    return order
