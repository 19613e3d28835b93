"""Rows for the CSV exports: orders, guest list and scan log of one event.

Each export reads with `.iterator(chunk_size=...)` (a server-side cursor on
Postgres), so rows are fetched and formatted a chunk at a time and an export
of 100,000 tickets never sits in memory. Times are written in the event's
time zone with their UTC offset (ISO 8601), amounts as plain decimals with
the currency in its own column.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Sum

from core.models import Event, Order, ScanLog, Ticket

CHUNK_SIZE = 2000
# A cell a spreadsheet would read as a formula ("=HYPERLINK(...)") is
# defused with a leading apostrophe; phone numbers and signed numbers are not
# formulas and stay as they are.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?[\d\s().-]+$")


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
    if moment is None:
        return ""
    return moment.astimezone(tz).isoformat(timespec="seconds")


def orders_export(event: Event, *, chunk_size: int | None = None) -> Export:
    """Every order of the event, oldest first, with its ticket count."""
    tz = event.tz
    rows = (
        Order.objects.filter(event=event)
        .annotate(ticket_count=Sum("lines__quantity"))
        .order_by("created_at", "code")
        .values_list(
            "code",
            "status",
            "source",
            "customer_name",
            "customer_email",
            "customer_phone",
            "ticket_count",
            "total",
            "currency",
            "created_at",
            "paid_at",
        )
        .iterator(chunk_size=chunk_size or CHUNK_SIZE)
    )

    def format_rows() -> Iterator[tuple]:
        for (
            code,
            status,
            source,
            name,
            email,
            phone,
            tickets,
            total,
            currency,
            created_at,
            paid_at,
        ) in rows:
            yield (
                code,
                status,
                source,
                safe_cell(name),
                safe_cell(email),
                safe_cell(phone),
                tickets or 0,
                total,
                currency.upper(),
                _local(created_at, tz),
                _local(paid_at, tz),
            )

    return Export(
        filename=f"{event.slug}-orders.csv",
        header=(
            "order",
            "status",
            "source",
            "customer_name",
            "customer_email",
            "customer_phone",
            "tickets",
            "total",
            "currency",
            "created_at",
            "paid_at",
        ),
        rows=format_rows(),
    )


def guest_list_export(event: Event, *, chunk_size: int | None = None) -> Export:
    """Every ticket of the event with its status, sorted by guest name."""
    tz = event.tz
    currency = event.currency.upper()
    rows = (
        Ticket.objects.filter(event=event)
        .order_by("guest_name", "code")
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
            "scanned_by__username",
            "scanned_device",
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
            scanned_by,
            device,
        ) in rows:
            used = status == Ticket.Status.USED
            yield (
                code,
                safe_cell(type_name),
                safe_cell(name),
                safe_cell(email),
                safe_cell(phone),
                status,
                price,
                currency,
                order_code or "",
                source or "",
                _local(scanned_at, tz) if used else "",
                (scanned_by or "") if used else "",
                safe_cell(device) if used else "",
            )

    return Export(
        filename=f"{event.slug}-guest-list.csv",
        header=(
            "ticket",
            "ticket_type",
            "guest_name",
            "guest_email",
            "guest_phone",
            "status",
            "price_paid",
            "currency",
            "order",
            "source",
            "checked_in_at",
            "checked_in_by",
            "checked_in_device",
        ),
        rows=format_rows(),
    )


def scan_log_export(event: Event, *, chunk_size: int | None = None) -> Export:
    """Every scan attempt at the event's doors, oldest first."""
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
            "staff__username",
            "device_label",
            "offline",
        )
        .iterator(chunk_size=chunk_size or CHUNK_SIZE)
    )

    def format_rows() -> Iterator[tuple]:
        for at, result, code, type_name, name, staff, device, offline in rows:
            yield (
                _local(at, tz),
                result,
                code or "",
                safe_cell(type_name),
                safe_cell(name),
                staff or "",
                safe_cell(device),
                "yes" if offline else "no",
            )

    return Export(
        filename=f"{event.slug}-scan-log.csv",
        header=(
            "at",
            "result",
            "ticket",
            "ticket_type",
            "guest_name",
            "staff",
            "device",
            "offline",
        ),
        rows=format_rows(),
    )


EXPORTS = {
    "orders": orders_export,
    "guests": guest_list_export,
    "scans": scan_log_export,
}
