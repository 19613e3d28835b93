"""An .ics file for the order's emails and page, written by hand (RFC 5545)."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from core.models import Event, Order

DEFAULT_DURATION = timedelta(hours=4)
SEQUENCE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")  # a bare CR breaks a line for some apps
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts, current = [], b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode("utf-8"))
            current = b""
        current += encoded
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def sequence_of(event: Event) -> int:
    """RFC 5545's SEQUENCE: seconds from 2024 to the event's last edit.

    A calendar app that already holds an entry with this UID replaces it
    only with a higher SEQUENCE, so every edit must raise it; a counter of
    edits would need a column, and the edit time only grows. Seconds since
    2024, not since 1970, stay within the 32-bit integer calendar apps keep.
    Two files of the same second tie, and then the later DTSTAMP wins
    (RFC 5546, 2.1.5).
    """
    if event.updated_at is None:
        return 0
    return _seconds_since_epoch(event.updated_at)


def _seconds_since_epoch(moment: datetime) -> int:
    return max(0, int((moment - SEQUENCE_EPOCH).total_seconds()))


def cancelled_since(event: Event, order: Order | None) -> datetime | None:
    """When the order's entry stopped holding: the event cancelled, or the
    order refunded or cancelled whole; None while it holds."""
    if event.cancelled_at is not None:
        return event.cancelled_at
    if order is not None and order.status in (
        Order.Status.REFUNDED,
        Order.Status.CANCELLED,
    ):
        return order.updated_at
    return None


def event_ics(
    event: Event,
    *,
    order: Order | None = None,
    url: str = "",
    cancelled_at: datetime | None = None,
) -> str:
    """A one-event calendar (UTC times, so every calendar app places it right).

    The UID is the order's and the event's, so the file of a later email
    (the event changed) or of the order's page updates the entry the
    confirmation's file added instead of adding a second one.

    Once the entry no longer holds (`cancelled_at`, else cancelled_since:
    the event cancelled, the order refunded whole) the file cancels it:
    METHOD:CANCEL and STATUS:CANCELLED, under a SEQUENCE above any the
    entry had (the event's last edit's) and counted from then.
    """
    cancelled_at = cancelled_at or cancelled_since(event, order)
    uid = f"{order.code if order else 'event'}-{event.id}@nightpass"
    description = "Your tickets: " + url if url else ""
    sequence = sequence_of(event)
    summary = event.name
    if cancelled_at is not None:
        sequence = max(sequence + 1, _seconds_since_epoch(cancelled_at))
        summary = f"Cancelled: {event.name}"
        description = f"Cancelled. Your order: {url}" if url else "Cancelled."
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Nightpass//Tickets//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:CANCEL" if cancelled_at is not None else "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"SEQUENCE:{sequence}",
        f"DTSTAMP:{_utc(timezone.now())}",
        f"DTSTART:{_utc(event.starts_at)}",
        f"DTEND:{_utc(event.starts_at + DEFAULT_DURATION)}",
        f"SUMMARY:{_escape(summary)}",
    ]
    if cancelled_at is not None:
        lines.append("STATUS:CANCELLED")
    if event.venue:
        lines.append(f"LOCATION:{_escape(event.venue)}")
    if description:
        lines.append(f"DESCRIPTION:{_escape(description)}")
    if url:
        lines.append(f"URL:{url}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
