"""Rows for the CSV exports: orders, guest list and scan log of one event.

Each export reads with `.iterator(chunk_size=...)` (a server-side cursor on
Postgres), so rows are fetched and formatted a chunk at a time and an export
of 100,000 tickets never sits in memory. Headers and values are in words an
owner reads ("Customer email", "Refunded", "Already used"); staff and doors
are named as the door page and the dashboard name them ("Lena Park",
"Unnamed door"). Times are in the event's time zone as `2026-12-06 21:05:02`,
which spreadsheets read as a date and time, the zone named once in the
column's header. Amounts are plain
decimals with the currency in its own column. The orders' money columns are
core.queries.money's, so they add up to the analytics figures to the cent:
amount paid - amount refunded - sent back automatically - voided (another
seller's sale, which that seller refunds) = net amount.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Max, Q
from django.utils import timezone

from core.models import Event, Order, OrderLine, Payment, Refund, ScanLog, Ticket
from core.queries.analytics import NO_STAFF, STAFF_NAME_FIELDS, door_name, staff_name
from core.queries.money import FREE_ORDER, RECEIVED, OrderMoney, money_of_orders

CHUNK_SIZE = 2000
# A cell a spreadsheet would read as a formula ("=HYPERLINK(...)") is
# defused with a leading apostrophe; phone numbers and signed numbers are not
# formulas and stay as they are.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?[\d\s().-]+$")
SPREADSHEET_TIME = "%Y-%m-%d %H:%M:%S"
CENT = Decimal("0.01")

SOURCE_LABELS = dict(Order.Source.choices)
TICKET_STATUS_LABELS = {
    Ticket.Status.ISSUED: "Valid",
    Ticket.Status.USED: "Checked in",
    Ticket.Status.VOID: "Refunded",
}
# A free ticket (core.queries.money.FREE_TICKET) voided was cancelled, not
# refunded: nothing was paid for it (core.services.comps).
FREE_TICKET_VOID = "Cancelled"
# What free orders (core.queries.money.FREE_ORDER) read as, as the console's
# status badge words them.
FREE = "Free tickets"
FREE_SOME_CANCELLED = "Free tickets, some cancelled"
FREE_CANCELLED = "Free tickets cancelled"
# Another seller's sale voided here: nothing went back through the owner's
# payments, the seller refunds its buyer (core.queries.money).
VOIDED_ELSEWHERE = "Voided: the other seller refunds"
PARTLY_VOIDED_ELSEWHERE = "Partly voided: the other seller refunds"
SCAN_RESULT_LABELS = dict(ScanLog.Result.choices)


@dataclass(frozen=True)
class Export:
    filename: str
    header: tuple[str, ...]
    rows: Iterator[tuple]


def safe_cell(value) -> str:
    """Text that a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def _local(moment: dt.datetime | None, tz) -> str:
    """`moment` in the event's zone, as spreadsheets read a date and time."""
    if moment is None:
        return ""
    return moment.astimezone(tz).strftime(SPREADSHEET_TIME)


def _in_zone(label: str, event: Event) -> str:
    """A time column's header, naming the zone its times are in."""
    return f"{label} ({event.time_zone})"


def _amount(value) -> str:
    return str(Decimal(value or 0).quantize(CENT))


def _staff_cell(user_id, name_fields) -> str:
    """Who scanned, as the door page and the dashboard name them: full name,
    else username; a scan with no staff member was a door device's own."""
    if user_id is None:
        return NO_STAFF
    return safe_cell(staff_name(*name_fields))


def _batches(rows: Iterator, size: int) -> Iterator[list]:
    while batch := list(islice(rows, size)):
        yield batch


def tickets_of_orders(order_ids: list) -> dict:
    """(issued, still valid) per order id, one grouped query on the
    tickets' order index."""
    rows = (
        Ticket.objects.filter(order_id__in=order_ids)
        .values("order_id")
        .annotate(
            issued=Count("pk"),
            valid=Count("pk", filter=~Q(status=Ticket.Status.VOID)),
        )
        .order_by()
    )
    return {row["order_id"]: (row["issued"], row["valid"]) for row in rows}


def ticket_status_label(status: str, price_paid, source: str | None = None) -> str:
    """A ticket's status in words: a void one was refunded; free
    (core.queries.money.FREE_TICKET), cancelled; sold by another seller,
    voided for that seller to refund."""
    if status == Ticket.Status.VOID and price_paid == 0:
        return FREE_TICKET_VOID
    if status == Ticket.Status.VOID and source == Order.Source.EXTERNAL:
        return VOIDED_ELSEWHERE
    return TICKET_STATUS_LABELS.get(status, status)


# Payments of free tickets carry a made-up reference no provider knows.
NO_PAYMENT_REFERENCE = (Payment.Provider.COMP,)


@dataclass(frozen=True)
class _OrderBooks:
    """What accounts look up per order beside its money."""

    ticket_types: str = ""
    payment_reference: str = ""
    refunded_at: dt.datetime | None = None


def books_of_orders(order_ids: list) -> dict:
    """Per order id: its ticket types, as the order page lists them, its
    payments' references (Stripe's payment id, another seller's reference;
    the kept one first) and when money or tickets last went back (a refund
    booked, a payment sent back automatically), in three reads on the
    order indexes."""
    types: dict = defaultdict(list)
    for order_id, quantity, name in (
        OrderLine.objects.filter(order_id__in=order_ids)
        .order_by("order_id", "ticket_type__sort_order", "ticket_type_id")
        .values_list("order_id", "quantity", "ticket_type__name")
    ):
        types[order_id].append(f"{quantity} × {name}")
    references: dict = defaultdict(list)
    went_back: dict = {}
    for order_id, reference, refunded_at in (
        Payment.objects.filter(order_id__in=order_ids, status__in=RECEIVED)
        .exclude(provider__in=NO_PAYMENT_REFERENCE)
        .order_by("order_id", F("refunded_at").asc(nulls_first=True), "created_at")
        .values_list("order_id", "provider_reference", "refunded_at")
    ):
        references[order_id].append(reference)
        if refunded_at is not None:
            went_back[order_id] = max(refunded_at, went_back.get(order_id, refunded_at))
    for order_id, last in (
        Refund.objects.filter(order_id__in=order_ids, status=Refund.Status.SUCCEEDED)
        .values("order_id")
        .annotate(last=Max("updated_at"))
        .order_by()
        .values_list("order_id", "last")
    ):
        went_back[order_id] = max(last, went_back.get(order_id, last))
    return {
        order_id: _OrderBooks(
            ticket_types=", ".join(types.get(order_id, ())),
            payment_reference="; ".join(references.get(order_id, ())),
            refunded_at=went_back.get(order_id),
        )
        for order_id in order_ids
    }


def _went_back_at(book: _OrderBooks, status: str, updated_at) -> dt.datetime | None:
    """When money or tickets last went back: a refund booked, else, for an
    order voided whole with none (another seller's sale, a refund made in
    Stripe's dashboard), when it was marked refunded."""
    if book.refunded_at is None and status == Order.Status.REFUNDED:
        return updated_at
    return book.refunded_at


def order_status_label(
    *,
    status: str,
    hold_expires_at: dt.datetime | None,
    now: dt.datetime,
    money: OrderMoney,
    issued: int,
    valid: int,
    free: bool = False,
) -> str:
    """What happened to an order, in a word or two: a paid order some of
    whose money or tickets went back is partly refunded; one refunded whose
    only payment came too late (nothing kept) was refunded automatically; a
    pending one whose hold lapsed has expired, whether or not the sweep has
    marked it yet. A `free` order (core.queries.money.FREE_ORDER) was never
    paid for: its tickets are "Free tickets", and voiding them cancelled
    them, whatever voided them (orders refunded at 0 before free orders
    were cancelled read so too)."""
    if free and issued:
        if status == Order.Status.PAID:
            return FREE_SOME_CANCELLED if valid < issued else FREE
        if status in (Order.Status.CANCELLED, Order.Status.REFUNDED):
            return FREE_CANCELLED
    if money.other_sellers > 0:
        # Another seller's sale: voiding it sent nothing back from here.
        if status == Order.Status.REFUNDED:
            return VOIDED_ELSEWHERE
        if status == Order.Status.PAID and valid < issued:
            return PARTLY_VOIDED_ELSEWHERE
    if status == Order.Status.PAID:
        return "Partly refunded" if money.refunded > 0 or valid < issued else "Paid"
    if status == Order.Status.REFUNDED:
        if money.sent_back > 0 and money.taken == money.sent_back:
            return "Refunded automatically"
        return "Refunded"
    if (
        status == Order.Status.PENDING
        and hold_expires_at is not None
        and hold_expires_at <= now
    ):
        return Order.Status.EXPIRED.label
    return Order.Status(status).label


def orders_export(
    event: Event, *, chunk_size: int | None = None, now: dt.datetime | None = None
) -> Export:
    """Every order of the event, oldest first, with what it came to.

    Per order: tickets issued (void ones too) and still valid, and its money
    (core.queries.money: paid, refunded, sent back automatically, voided for
    another seller to refund, net). The
    orders are read a chunk at a time and each chunk's payments, refunds and
    tickets in three grouped queries by order id, so the cost grows with the
    orders and the memory with a chunk.
    """
    tz = event.tz
    now = now or timezone.now()
    size = chunk_size or CHUNK_SIZE
    currency = event.currency.upper()
    rows = (
        Order.objects.filter(event=event)
        .order_by("created_at", "code")
        .annotate(free=ExpressionWrapper(FREE_ORDER, output_field=BooleanField()))
        .values_list(
            "id",
            "code",
            "status",
            "hold_expires_at",
            "source",
            "customer_name",
            "customer_email",
            "customer_phone",
            "created_at",
            "paid_at",
            "free",
            "updated_at",
        )
        .iterator(chunk_size=size)
    )

    def format_rows() -> Iterator[tuple]:
        for batch in _batches(rows, size):
            order_ids = [row[0] for row in batch]
            money = money_of_orders(order_ids)
            tickets = tickets_of_orders(order_ids)
            books = books_of_orders(order_ids)
            for (
                order_id,
                code,
                status,
                hold_expires_at,
                source,
                name,
                email,
                phone,
                created_at,
                paid_at,
                free,
                updated_at,
            ) in batch:
                paid = money.get(order_id, OrderMoney())
                issued, valid = tickets.get(order_id, (0, 0))
                book = books[order_id]
                yield (
                    code,
                    order_status_label(
                        status=status,
                        hold_expires_at=hold_expires_at,
                        now=now,
                        money=paid,
                        issued=issued,
                        valid=valid,
                        free=free,
                    ),
                    SOURCE_LABELS.get(source, source),
                    safe_cell(name),
                    safe_cell(email),
                    safe_cell(phone),
                    safe_cell(book.ticket_types),
                    issued,
                    valid,
                    _amount(paid.taken),
                    _amount(paid.refunded),
                    _amount(paid.sent_back),
                    _amount(paid.voided_elsewhere),
                    _amount(paid.net),
                    currency,
                    safe_cell(book.payment_reference),
                    _local(created_at, tz),
                    # Free tickets were never paid for: no time of payment.
                    "" if free else _local(paid_at, tz),
                    _local(_went_back_at(book, status, updated_at), tz),
                )

    return Export(
        filename=f"{event.slug}-orders.csv",
        header=(
            "Order",
            "Status",
            "Source",
            "Customer name",
            "Customer email",
            "Customer phone",
            "Ticket types",
            "Tickets issued",
            "Tickets valid",
            "Amount paid",
            "Amount refunded",
            "Sent back automatically",
            "Voided, other seller refunds",
            "Net amount",
            "Currency",
            "Payment reference",
            _in_zone("Placed", event),
            _in_zone("Paid at", event),
            _in_zone("Refunded at", event),
        ),
        rows=format_rows(),
    )


def guest_list_export(event: Event, *, chunk_size: int | None = None) -> Export:
    """Every ticket of the event with its status, sorted by guest name as
    people read names, whatever their case and accents ("Émile" beside
    "emile", before "Zoë"): by the folded copy the door searches, the same
    on SQLite and Postgres, then the name itself."""
    tz = event.tz
    currency = event.currency.upper()
    rows = (
        Ticket.objects.filter(event=event)
        .order_by("guest_name_folded", "guest_name", "code")
        .values_list(
            "code",
            "ticket_type__name",
            "guest_name",
            "guest_email",
            "guest_phone",
            "status",
            "price_paid",
            "order__code",
            "order__source",
            "scanned_at",
            "scanned_device",
            "scanned_by_id",
            *(f"scanned_by__{name}" for name in STAFF_NAME_FIELDS),
        )
        .iterator(chunk_size=chunk_size or CHUNK_SIZE)
    )

    def format_rows() -> Iterator[tuple]:
        for (
            code,
            type_name,
            name,
            email,
            phone,
            status,
            price,
            order_code,
            source,
            scanned_at,
            device,
            scanned_by_id,
            *scanned_by,
        ) in rows:
            used = status == Ticket.Status.USED
            yield (
                code,
                safe_cell(type_name),
                safe_cell(name),
                safe_cell(email),
                safe_cell(phone),
                ticket_status_label(status, price, source),
                _amount(price),
                currency,
                order_code or "",
                SOURCE_LABELS.get(source, source or ""),
                _local(scanned_at, tz) if used else "",
                _staff_cell(scanned_by_id, scanned_by) if used else "",
                safe_cell(door_name(device)) if used else "",
            )

    return Export(
        filename=f"{event.slug}-guest-list.csv",
        header=(
            "Ticket",
            "Ticket type",
            "Guest name",
            "Guest email",
            "Guest phone",
            "Status",
            "Price paid",
            "Currency",
            "Order",
            "Source",
            _in_zone("Checked in", event),
            "Checked in by",
            "Door",
        ),
        rows=format_rows(),
    )


def scan_log_export(event: Event, *, chunk_size: int | None = None) -> Export:
    """Every scan attempt at the event's doors, oldest first; an undone
    admit with the reason staff gave."""
    tz = event.tz
    rows = (
        ScanLog.objects.filter(event=event)
        .order_by("at", "id")
        .values_list(
            "at",
            "result",
            "ticket__code",
            "ticket__ticket_type__name",
            "ticket__guest_name",
            "device_label",
            "offline",
            # Why an admit was undone: the reason the undo logged
            # (core.services.checkin.undo_admit), read out of its detail.
            "detail__info__reason",
            "staff_id",
            *(f"staff__{name}" for name in STAFF_NAME_FIELDS),
        )
        .iterator(chunk_size=chunk_size or CHUNK_SIZE)
    )

    def format_rows() -> Iterator[tuple]:
        for at, result, code, type_name, name, device, offline, why, *staff in rows:
            undone = result == ScanLog.Result.UNDONE
            yield (
                _local(at, tz),
                SCAN_RESULT_LABELS.get(result, result),
                code or "",
                safe_cell(type_name),
                safe_cell(name),
                _staff_cell(staff[0], staff[1:]),
                safe_cell(door_name(device)),
                "Yes" if offline else "No",
                safe_cell(why) if undone and isinstance(why, str) else "",
            )

    return Export(
        filename=f"{event.slug}-scan-log.csv",
        header=(
            _in_zone("Time", event),
            "Result",
            "Ticket",
            "Ticket type",
            "Guest name",
            "Staff",
            "Door",
            "Offline",
            "Why undone",
        ),
        rows=format_rows(),
    )


EXPORTS = {
    "orders": orders_export,
    "guests": guest_list_export,
    "scans": scan_log_export,
}
