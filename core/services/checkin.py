"""Checking tickets in at the door: one admit per ticket, every attempt logged.

A scanned text goes through three gates, cheapest first:

1. the Ed25519 signature (no database): forged, altered, truncated and
   garbage texts stop here;
2. the event tag inside the signed payload (no database): another event's
   ticket stops here;
3. one read of the ticket row, which refuses repeats, void tickets and
   unknown codes, then one conditional `UPDATE ... WHERE status = 'issued'`:
   of two doors scanning one ticket at the same instant exactly one updates a
   row, the other reads it back as already used.

Every attempt writes one ScanLog row. The admit and its log row and counters
commit together (on Postgres in one statement); a refusal is logged on its
own, so it is kept whatever happened. On Postgres, a code refused at gate 1
is answered at once and its row written in a batch a moment later
(core.services.scan_log_writer): a flood of forged codes costs the door
no database round trip per code. A client `nonce` makes retries
safe: the unique (event, nonce) constraint lets only the first attempt's row
exist, and a repeat from the same staff member and door gets that row's
answer back.

Refusals are domain errors (core.exceptions.ScanRefused subclasses) raised
inside and returned as `ScanResult`s: at the door a refusal is an answer to
show, not a failure.
"""

import dataclasses
import functools
import hashlib
import re
import unicodedata
import zoneinfo
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.utils import timezone
from django.utils.formats import date_format

from core import realtime
from core.exceptions import (
    AlreadyUsed,
    InvalidRequest,
    InvalidTicket,
    NonceReused,
    NotFound,
    OfflineConflict,
    ScanRefused,
    TicketingError,
    TicketNotYetValid,
    TicketVoid,
    UndoRefused,
    WrongEvent,
)
from core.models import CheckInTally, Event, ScanLog, Ticket, TicketType
from core.rows import column_converters, convert_row, planned_cursor
from core.services import scan_log_writer as log_later
from core.services.counters import count_check_ins
from core.tickets.signing import (
    MAX_PAYLOAD_LENGTH,
    VERSION,
    InvalidTicketCode,
    event_key,
    verify_ticket_code,
)

# The short code printed under a ticket's QR, for typing in by hand.
SHORT_CODE_RE = re.compile(r"^[A-Z0-9]{6,16}$")
NONCE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
METHODS = ("camera", "keyboard", "manual", "guest_list", "offline", "api")
MAX_LABEL_LENGTH = 100
# Door labels that say nothing about which door: left out of messages.
UNNAMED_DOORS = frozenset({"door", "the door"})
MAX_REASON_LENGTH = 300
# The refusal of every ticket of a cancelled event (code `void`), as the door
# page words it offline too (door.js).
EVENT_CANCELLED = "Event cancelled — do not let in."
# Offline admits may be uploaded late, but not from a clock that is badly off.
MAX_OFFLINE_AGE = timedelta(days=3)


@dataclass(frozen=True)
class ScanResult:
    """The answer to one scan attempt, as stored on its ScanLog row."""

    code: str  # ok | already_used | wrong_event | void | invalid | not_yet_valid | ...
    message: str
    verdict: str  # admit | reject | attention
    scan_id: int | None  # None: nothing logged (an offline admit not recorded)
    at: datetime
    ticket: dict | None = None  # code, guest_name, ticket_type, ticket_type_id
    info: dict = field(default_factory=dict)  # e.g. used_at/used_device/used_by
    offline: bool = False
    replayed: bool = False  # a repeated nonce: this is the first attempt's answer

    @property
    def admitted(self) -> bool:
        return self.code == ScanLog.Result.OK

    def as_dict(self) -> dict:
        """The API's response body: `code` and `message` first, as every error."""
        return {
            "code": self.code,
            "message": self.message,
            "verdict": self.verdict,
            "admitted": self.admitted,
            "scan_id": self.scan_id,
            "at": self.at.isoformat(),
            "ticket": self.ticket,
            "offline": self.offline,
            "replayed": self.replayed,
            **self.info,
        }


@dataclass(frozen=True)
class OfflineAdmit:
    """An admit a door phone made without network, uploaded later (`at`
    None: the phone's time could not be read; the upload's is taken)."""

    text: str
    nonce: str
    at: datetime | None
    device_label: str = ""


@dataclass(frozen=True)
class OfflineRefusal:
    """A scan a door phone refused on its own (offline, or a ticket it let in
    offline and has not uploaded yet), uploaded later only to be logged.

    Every field is as the phone sent it: `result` is the code its verdict
    showed, `at` None when its time could not be read.
    """

    text: object
    nonce: object
    at: datetime | None
    result: object
    device_label: str = ""


# --- Input cleaning ----------------------------------------------------------


def code_digest(text) -> str:
    """SHA-256 of the raw scanned text: the log keeps this, never the text."""
    if isinstance(text, bytes):
        raw = text
    else:
        raw = str(text).encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()


def clean_label(label, *, limit: int = MAX_LABEL_LENGTH) -> str:
    """Printable text only (no control or NUL characters), trimmed to `limit`."""
    if not isinstance(label, str):
        return ""
    printable = "".join(
        ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else " "
        for ch in label[: limit * 2]
    )
    return " ".join(printable.split())[:limit]


def clean_nonce(nonce) -> str | None:
    if nonce is None or nonce == "":
        return None
    if not isinstance(nonce, str) or not NONCE_RE.match(nonce):
        raise InvalidRequest(
            "The scan id must be 1 to 64 letters, digits or - _ . :",
            code="invalid_nonce",
        )
    return nonce


def clean_method(method) -> str:
    return method if method in METHODS else "api"


def checkin_opens_at(event: Event) -> datetime:
    """When the door starts admitting: CHECKIN_OPENS_HOURS before doors (or start)."""
    opening = event.doors_at or event.starts_at
    return opening - timedelta(hours=settings.CHECKIN_OPENS_HOURS)


def staff_display_name(user) -> str:
    if user is None:
        return ""
    return (user.get_full_name() or user.get_username()).strip()


def _local_time_text(event: Event, at: datetime, *, now: datetime) -> str:
    """`21:14` today, `Fri 12 Jan 21:14` on another day, in the event's zone."""
    zone = event.tz
    local = timezone.localtime(at, zone)
    if local.date() == timezone.localtime(now, zone).date():
        # date_format(local, "H:i"): digits only, so no locale's formats to
        # look up (that lookup was most of a repeat's refusal message).
        return f"{local.hour:02d}:{local.minute:02d}"
    return date_format(local, "D j M H:i")


# --- Reading the scanned text (no database for signed payloads) ---------------


def _ticket_code_from(text, event: Event) -> str:
    """The ticket code a scanned text names, or InvalidTicket / WrongEvent.

    Signed payloads are verified before anything else. A bare short code
    (typed by staff from the ticket) is accepted for manual entry and only
    looked up: it is as hard to guess as the ticket's link.
    """
    if not isinstance(text, str) or len(text) > MAX_PAYLOAD_LENGTH:
        raise InvalidTicket()
    cleaned = text.strip().upper()
    if cleaned.startswith(f"{VERSION}."):
        try:
            verified = verify_ticket_code(cleaned)
        except InvalidTicketCode as exc:
            raise InvalidTicket() from exc
        if verified.event_key != event_key(event.pk):
            raise _wrong_event(verified.ticket_code)
        return verified.ticket_code
    if SHORT_CODE_RE.match(cleaned):
        return cleaned
    raise InvalidTicket()


def _wrong_event(ticket_code: str) -> WrongEvent:
    other = (
        Ticket.objects.filter(code=ticket_code)
        .values("event__name", "event__starts_at", "event__time_zone")
        .first()
    )
    if other is None:
        return WrongEvent()
    when = timezone.localtime(
        other["event__starts_at"], zoneinfo.ZoneInfo(other["event__time_zone"])
    )
    return WrongEvent(
        f"This ticket is for {other['event__name']} ({date_format(when, 'D j M')}).",
        other_event=other["event__name"],
    )


# --- Redeeming ---------------------------------------------------------------

_TICKET_FIELDS = (
    "id",
    "code",
    "event_id",
    "ticket_type_id",
    "ticket_type__name",
    "guest_name",
    "status",
    "scanned_at",
    "scanned_device",
    "scanned_by_id",
)


@functools.cache
def _scanner_fields() -> tuple[str, ...]:
    """The fields of the user who admitted a ticket that are read with it, in
    the model's field order: what staff_display_name reads of Django's User
    (get_full_name, get_username), so a repeat's "by Sam" costs no query."""
    from django.contrib.auth import get_user_model

    meta = get_user_model()._meta
    wanted = {
        meta.pk.attname,
        get_user_model().USERNAME_FIELD,
        "first_name",
        "last_name",
    }
    return tuple(f.attname for f in meta.concrete_fields if f.attname in wanted)


def _ticket_fields() -> tuple[str, ...]:
    """The ORM lookups of the ticket row: its fields, its type's name, and
    the name fields of the user who admitted it (`scanned_by__...`)."""
    return _TICKET_FIELDS + tuple(f"scanned_by__{name}" for name in _scanner_fields())


def _read_ticket(ticket_code: str) -> dict | None:
    """The ticket row (with its type's name) that an admit or refusal needs.

    What `.values(*_ticket_fields())` gave, in plain SQL: every scan of a
    real ticket reads it, and the ORM spent more compiling the joins than
    running them. Values go through the same converters as the ORM's (UUIDs
    and times on SQLite).
    """
    db = _db()
    sql, names, converters = _read_ticket_query(db.alias)
    with planned_cursor() as cursor:
        cursor.execute(sql, [ticket_code])
        found = cursor.fetchone()
    if found is None:
        return None
    return dict(zip(names, convert_row(converters, found, db), strict=True))


def _db():
    """The default connection itself: each attribute read through the
    `django.db.connection` proxy looks the connection up again (a few µs),
    and a scan's parameters made dozens of them."""
    return connections[DEFAULT_DB_ALIAS]


@functools.cache
def _read_ticket_query(alias: str) -> tuple[str, list, list]:
    """(SQL, field names, column converters) for _read_ticket, built once per database.

    Per alias, not per connection: the converters depend only on the
    database's settings (its time zone), the same in every thread.
    """
    db = connections[alias]
    ticket_table, type_table = Ticket._meta.db_table, TicketType._meta.db_table
    cols = [
        (name, _ticket_field(name).get_col(ticket_table))
        for name in _TICKET_FIELDS
        if name != "ticket_type__name"
    ]
    cols.append(
        ("ticket_type__name", TicketType._meta.get_field("name").get_col(type_table))
    )
    user_meta = Ticket._meta.get_field("scanned_by").related_model._meta
    user_table = user_meta.db_table
    cols += [
        (f"scanned_by__{name}", user_meta.get_field(name).get_col(user_table))
        for name in _scanner_fields()
    ]
    quote = db.ops.quote_name
    # Aliased as their lookups: the user's `id` must not clash with the
    # ticket's where the admit reads this row as a WITH query.
    sql = (
        "SELECT "
        + ", ".join(
            f"{quote(col.alias)}.{quote(col.target.column)} AS {quote(name)}"
            for name, col in cols
        )
        + f" FROM {quote(ticket_table)} INNER JOIN {quote(type_table)}"
        f" ON {quote(type_table)}.{quote(TicketType._meta.pk.column)}"
        f" = {quote(ticket_table)}.{quote(_ticket_field('ticket_type_id').column)}"
        f" LEFT OUTER JOIN {quote(user_table)}"
        f" ON {quote(user_table)}.{quote(user_meta.pk.column)}"
        f" = {quote(ticket_table)}.{quote(_ticket_field('scanned_by_id').column)}"
        f" WHERE {quote(ticket_table)}.{quote(_ticket_field('code').column)} = %s"
    )
    names = [name for name, _ in cols]
    return sql, names, [column_converters(col, db) for _, col in cols]


def _ticket_field(name: str):
    """A Ticket field by name or attname (`event_id` is the `event` field)."""
    meta = Ticket._meta
    return meta.get_field(name[:-3] if name.endswith("_id") and name != "id" else name)


def _claim(
    *,
    event: Event,
    row: dict,
    staff,
    label: str,
    at: datetime,
    now: datetime,
    log: dict,
) -> int | None:
    """Mark the ticket used, log the admit and count it: the admit itself.

    `UPDATE ... WHERE status = 'issued'`: of concurrent claims on one ticket
    exactly one updates the row; the others wait for its lock and match
    nothing. Then the log row is written and the ticket counted in its
    type's check-in tally (CheckInTally: its own slot, not a row every door
    waits for). Returns the log row's id, or None when the ticket was no
    longer issued. Raises IntegrityError on a repeated nonce, with nothing
    written.

    A transaction of three statements. On Postgres an admit takes the one
    statement of `_admit_by_code` instead, which also reads the ticket.
    """
    ops = connection.ops
    claim_params = [
        Ticket.Status.USED,
        ops.adapt_datetimefield_value(at),
        staff.pk if staff is not None else None,
        label,
        ops.adapt_datetimefield_value(now),
        Ticket._meta.pk.get_db_prep_value(row["id"], connection),
        Ticket.Status.ISSUED,
    ]
    columns, log_params = _scan_log_columns(log)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, claim_params)
        if cursor.rowcount != 1:
            return None
        scan_id = _insert_scan_log(columns, log_params)
        count_check_ins(
            event_id=event.pk, tickets=[(row["ticket_type_id"], row["code"])], by=1
        )
    return scan_id


# By the ticket's key alone, as the one-statement admit (its docstring says
# why): the caller read the row and checked its event, which never changes.
_CLAIM_SQL = (
    f"UPDATE {Ticket._meta.db_table} SET status = %s, scanned_at = %s,"
    " scanned_by_id = %s, scanned_device = %s, updated_at = %s"
    " WHERE id = %s AND status = %s"
)


def _admit_log_values(*, event: Event, row: dict | None, **fields) -> dict:
    """The log row of an admit (`row` None: before the ticket is read, for the
    fields that do not depend on it)."""
    name = (row["guest_name"] or "Guest") if row else ""
    type_name = row["ticket_type__name"] if row else ""
    return _scan_log_values(
        event=event,
        row=row,
        result=ScanLog.Result.OK,
        message=f"Admit {name} · {type_name}",
        verdict="admit",
        info={},
        **fields,
    )


def _admit_by_code(
    sql: str,
    *,
    event: Event,
    ticket_code: str,
    staff,
    label: str,
    at: datetime,
    now: datetime,
    log: dict,
) -> tuple[dict | None, int | None]:
    """Read the ticket and, if it may be admitted, claim it, count it and log
    the admit, in one statement: (the ticket row as read, the log row's id
    or None). The row is as this statement's snapshot saw it, so a ticket
    another door claimed meanwhile can read as issued though not claimed.
    Raises IntegrityError on a repeated nonce, with nothing written.
    """
    db = _db()
    ops = db.ops
    event_id = Event._meta.pk.get_db_prep_value(event.pk, db)
    params = [
        ticket_code,
        Ticket.Status.USED,
        ops.adapt_datetimefield_value(at),
        staff.pk if staff is not None else None,
        label,
        ops.adapt_datetimefield_value(now),
        event_id,
        Ticket.Status.ISSUED,
        event_id,
        CheckInTally.slot_for(ticket_code),
    ]
    for log_field in _scan_log_fields():
        if log_field.name == "ticket":
            continue
        if log_field.name == "detail":
            params += [log["detail"]["method"], log["detail"]["staff_name"]]
        else:
            params.append(log_field.get_db_prep_save(log[log_field.name], db))
    _, names, converters = _read_ticket_query(db.alias)
    with _savepoint_if_nested(), planned_cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    if found is None:
        return None, None
    values = convert_row(converters, found[:-1], db)
    return dict(zip(names, values, strict=True)), found[-1]


@functools.cache
def _admit_by_code_query(alias: str) -> str | None:
    """The one-statement read-and-admit of `_admit_by_code`, Postgres only.

    A first scan was two round trips: the ticket's read, then the admit (see
    _claim). Here the read is the statement's first WITH query and the admit
    follows it. The log row's message and ticket summary are built in SQL
    from the row read, as `_admit_log_values` builds them in Python (a test
    holds the two to the same row).
    """
    db = connections[alias]
    if db.vendor != "postgresql":
        return None
    read_sql, _, _ = _read_ticket_query(alias)
    ticket, tally = Ticket._meta.db_table, CheckInTally._meta.db_table
    tally_event_type = CheckInTally._meta.get_field("event").db_type(db)
    summary = (
        "jsonb_build_object('code', t.code, 'guest_name', t.guest_name,"
        " 'ticket_type', t.ticket_type__name, 'ticket_type_id', t.ticket_type_id)"
    )
    message = (
        "'Admit ' || COALESCE(NULLIF(t.guest_name, ''), 'Guest') || ' · '"
        " || t.ticket_type__name"
    )
    detail = (
        f"jsonb_build_object('message', {message}, 'verdict', 'admit',"
        " 'method', CAST(%s AS text), 'ticket', " + summary + ","
        " 'staff_name', CAST(%s AS text), 'info', '{}'::jsonb)"
    )
    log_fields = _scan_log_fields()
    values = []
    for log_field in log_fields:
        if log_field.name == "ticket":
            values.append("t.id")
        elif log_field.name == "detail":
            values.append(detail)
        else:
            values.append(f"CAST(%s AS {log_field.db_type(db)})")
    return (
        f"WITH t AS ({read_sql}),"
        f" claimed AS (UPDATE {ticket} SET status = %s, scanned_at = %s,"
        " scanned_by_id = %s, scanned_device = %s, updated_at = %s"
        " WHERE id = (SELECT id FROM t WHERE t.event_id = %s) AND status = %s"
        " RETURNING id),"
        f" tallied AS (INSERT INTO {tally}"
        " (event_id, ticket_type_id, slot, checked_in)"
        f" SELECT CAST(%s AS {tally_event_type}), t.ticket_type_id,"
        " CAST(%s AS smallint), 1 FROM t WHERE EXISTS (SELECT 1 FROM claimed)"
        " ON CONFLICT (ticket_type_id, slot)"
        f" DO UPDATE SET checked_in = {tally}.checked_in + 1 RETURNING id),"
        f" logged AS (INSERT INTO {ScanLog._meta.db_table}"
        f" ({', '.join(log_field.column for log_field in log_fields)})"
        f" SELECT {', '.join(values)} FROM t"
        " WHERE EXISTS (SELECT 1 FROM tallied) RETURNING id)"
        " SELECT t.*, (SELECT id FROM logged) FROM t"
    )


def _ticket_summary(row: dict) -> dict:
    return {
        "code": row["code"],
        "guest_name": row["guest_name"],
        "ticket_type": row["ticket_type__name"],
        "ticket_type_id": row["ticket_type_id"],
    }


def already_used_message(*, when: str, door: str, staff_name: str) -> str:
    """'Already used at 21:14 at Door 2 by Sam.', leaving out what is unknown.

    Each part stands alone, so any of them may be missing: 'Already used at
    21:14 by Sam.', 'Already used at Door 2.', 'Already used.'. A door label
    that names no door in particular ('Door', what door pages sent when left
    unnamed) is left out rather than read as 'at Door'.
    """
    parts = ["Already used"]
    if when:
        parts.append(f"at {when}")
    door = " ".join(door.split())
    if door and door.casefold() not in UNNAMED_DOORS:
        parts.append(f"at {door}")
    if staff_name.strip():
        parts.append(f"by {staff_name.strip()}")
    return " ".join(parts) + "."


def _already_used(event: Event, row: dict, *, now: datetime) -> AlreadyUsed:
    """'Already used at 21:14 at Door 2 by Sam', from the ticket row."""
    used_at = row["scanned_at"]
    used_by = staff_display_name(_scanner(row)) if row["scanned_by_id"] else ""
    when = _local_time_text(event, used_at, now=now) if used_at else ""
    return AlreadyUsed(
        already_used_message(
            when=when, door=row["scanned_device"] or "", staff_name=used_by
        ),
        used_at=used_at.isoformat() if used_at else None,
        used_at_local=when,
        used_device=row["scanned_device"],
        used_by=used_by,
    )


def _scanner(row: dict):
    """The user who admitted the ticket, from the row's `scanned_by__` fields
    (the others deferred), or None if the user is gone."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if row[f"scanned_by__{user_model._meta.pk.attname}"] is None:  # deleted since
        return None
    names = _scanner_fields()
    values = [row[f"scanned_by__{name}"] for name in names]
    return user_model.from_db(DEFAULT_DB_ALIAS, list(names), values)


def _refusal_for(event: Event, row: dict | None, *, at: datetime, now: datetime):
    """The refusal a ticket row deserves, or None when it may be admitted."""
    if row is None:
        return InvalidTicket()
    if row["event_id"] != event.pk:
        return _wrong_event(row["code"])
    # A cancelled event's tickets are void at once, before the worker's
    # refunds void them one order at a time; said as what it is, at every
    # ticket, not as one guest's refund.
    if event.cancelled_at is not None:
        return TicketVoid(EVENT_CANCELLED)
    if row["status"] == Ticket.Status.VOID:
        return TicketVoid()
    if row["status"] == Ticket.Status.USED:
        return _already_used(event, row, now=now)
    opens = checkin_opens_at(event)
    if at < opens:
        return TicketNotYetValid(
            f"Not valid yet: check-in opens {_local_time_text(event, opens, now=now)}.",
            opens_at=opens.isoformat(),
        )
    return None


def _admit(
    *,
    event: Event,
    ticket_code: str,
    staff,
    device_label: str,
    nonce: str | None,
    method: str,
    offline: bool,
    at: datetime,
    digest: str,
    now: datetime,
) -> ScanResult:
    """Admit, or raise the ScanRefused that applies.

    On Postgres, once check-in is open, one statement reads the ticket and
    claims it if it may be admitted (`_admit_by_code`); the row it read
    decides any refusal. Elsewhere the ticket is read first, without a lock
    (a repeat, a void ticket or another event's is refused on that read
    alone), then claimed in one conditional write (`_claim`). Either way, if
    another door won the race, the ticket is read again to say where and when.
    """
    log_fields = {
        "method": method,
        "staff": staff,
        "device_label": device_label,
        "digest": digest,
        "nonce": nonce,
        "offline": offline,
        "at": at,
    }
    admit_sql = _admit_by_code_query(DEFAULT_DB_ALIAS)
    if (
        admit_sql is not None
        and at >= checkin_opens_at(event)
        and event.cancelled_at is None
    ):
        row, scan_id = _admit_by_code(
            admit_sql,
            event=event,
            ticket_code=ticket_code,
            staff=staff,
            label=device_label,
            at=at,
            now=now,
            log=_admit_log_values(event=event, row=None, **log_fields),
        )
        if scan_id is not None:
            return _scan_result(
                scan_id, _admit_log_values(event=event, row=row, **log_fields)
            )
        refusal = _refusal_for(event, row, at=at, now=now)
    else:
        row = _read_ticket(ticket_code)
        refusal = _refusal_for(event, row, at=at, now=now)
        if refusal is None:
            log = _admit_log_values(event=event, row=row, **log_fields)
            scan_id = _claim(
                event=event,
                row=row,
                staff=staff,
                label=device_label,
                at=at,
                now=now,
                log=log,
            )
            if scan_id is not None:
                return _scan_result(scan_id, log)
    if refusal is None:
        # Another door claimed it since the read (or the statement's
        # snapshot): the committed row says how.
        row = _read_ticket(ticket_code)
        refusal = _refusal_for(event, row, at=at, now=now) or AlreadyUsed()
    refusal.ticket_row = row
    raise refusal


def _log_detail(
    *, message: str, verdict: str, method: str, ticket, staff, info: dict
) -> dict:
    return {
        "message": message,
        "verdict": verdict,
        "method": method,
        "ticket": ticket,
        "staff_name": staff_display_name(staff),
        "info": info,
    }


# A ScanLog row's fields, in the order the plain-SQL writes list them.
_SCAN_LOG_FIELDS = (
    "ticket",
    "event",
    "result",
    "staff",
    "device_label",
    "code_digest",
    "nonce",
    "offline",
    "detail",
    "at",
)


def _scan_log_values(
    *,
    event: Event,
    row: dict | None,
    result: str,
    message: str,
    verdict: str,
    info: dict,
    method: str,
    staff,
    device_label: str,
    digest: str,
    nonce: str | None,
    offline: bool,
    at: datetime,
) -> dict:
    """A ScanLog row's values by field name; `row` is the ticket it is about, if any."""
    return {
        "ticket": row["id"] if row else None,
        "event": event.pk,
        "result": result,
        "staff": staff.pk if staff is not None else None,
        "device_label": device_label,
        "code_digest": digest,
        "nonce": nonce,
        "offline": offline,
        "detail": _log_detail(
            message=message,
            verdict=verdict,
            method=method,
            ticket=_ticket_summary(row) if row else None,
            staff=staff,
            info=info,
        ),
        "at": at,
    }


def _scan_log_columns(values: dict) -> tuple[list, list]:
    """(fields, parameters) for writing `values` in plain SQL.

    Every scan writes a log row, and the ORM's create() (a model instance,
    save() and its signals, the compiler) cost more than the statement.
    Values go through each field's own adaptation (UUIDs, JSON, aware
    times), so the row is what create() wrote.
    """
    fields, db = _scan_log_fields(), _db()
    return fields, [f.get_db_prep_save(values[f.name], db) for f in fields]


@functools.cache
def _scan_log_fields() -> list:
    return [ScanLog._meta.get_field(name) for name in _SCAN_LOG_FIELDS]


def _insert_scan_log(fields: list, params: list) -> int:
    """`INSERT ... RETURNING id`; IntegrityError on a repeated nonce."""
    with planned_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ScanLog._meta.db_table}"
            f" ({', '.join(f.column for f in fields)})"
            f" VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id",
            params,
        )
        return cursor.fetchone()[0]


def _scan_result(scan_id: int, values: dict) -> ScanResult:
    """The answer a freshly written log row records."""
    detail = values["detail"]
    return ScanResult(
        code=values["result"],
        message=detail["message"],
        verdict=detail["verdict"],
        scan_id=scan_id,
        at=values["at"],
        ticket=detail["ticket"],
        info=detail["info"],
        offline=values["offline"],
    )


def _log_scan(values: dict) -> ScanResult:
    """Write one ScanLog row (values from _scan_log_values) and return its answer.

    Raises IntegrityError on a repeated nonce, as create() did.
    """
    return _scan_result(_insert_scan_log(*_scan_log_columns(values)), values)


def _result_from(log: ScanLog, *, replayed: bool = False) -> ScanResult:
    detail = log.detail or {}
    return ScanResult(
        code=log.result,
        message=detail.get("message", log.get_result_display()),
        verdict=detail.get("verdict", "reject"),
        scan_id=log.pk,
        at=log.at,
        ticket=detail.get("ticket"),
        info=detail.get("info", {}),
        offline=log.offline,
        replayed=replayed,
    )


def _replay(
    event: Event, nonce: str, digest: str, *, staff, device_label: str
) -> ScanResult | None:
    """The first answer for a repeated nonce, if there was one.

    Only for the same code from the same staff member and door: another
    door sending this nonce is not the first door's retry, and must not be
    shown its ADMIT (its own attempt would go unlogged).
    """
    earlier = ScanLog.objects.filter(event=event, nonce=nonce).first()
    if earlier is None:
        return None
    if earlier.code_digest != digest:
        raise NonceReused()
    staff_id = staff.pk if staff is not None else None
    if (earlier.staff_id, earlier.device_label) != (staff_id, device_label):
        raise NonceReused("This scan id was already used at another door.")
    return _result_from(earlier, replayed=True)


def _refusal_log_values(
    *,
    event: Event,
    refusal: ScanRefused,
    staff,
    device_label: str,
    nonce: str | None,
    method: str,
    offline: bool,
    at: datetime,
    digest: str,
) -> dict:
    """The log row of a refusal, by field name (see _scan_log_values)."""
    row = getattr(refusal, "ticket_row", None)
    # Only a row of this event is linked: the log belongs to this event's door.
    linked = row if row and row["event_id"] == event.pk else None
    return _scan_log_values(
        event=event,
        row=linked,
        result=refusal.code,
        message=refusal.message,
        verdict=refusal.verdict,
        info=refusal.detail,
        method=method,
        staff=staff,
        device_label=device_label,
        digest=digest,
        nonce=nonce,
        offline=offline,
        at=at,
    )


def _log_later(values: dict, *, device_label: str, staff) -> ScanResult | None:
    """Answer an invalid code now and leave its log row to the batch writer.

    Returns None when too many rows wait already: the caller writes it now.
    The door feed hears of it once it is written.
    """
    nonce = values["nonce"]
    if nonce is not None:
        earlier = log_later.writer.waiting(values["event"], nonce)
        if earlier is not None:
            if earlier.values["code_digest"] != values["code_digest"]:
                raise NonceReused()
            return dataclasses.replace(earlier.answer, replayed=True)
    result = _scan_result(log_later.writer.reserve_id(), values)
    waiting = log_later.WaitingRow(
        id=result.scan_id,
        values=values,
        feed=_feed_entry(result, device_label=device_label, staff=staff),
        answer=result,
    )
    return result if log_later.writer.add(waiting) else None


def _savepoint_if_nested():
    """A savepoint inside a caller's transaction, so a nonce clash does not break it.

    In autocommit a failed INSERT leaves the connection usable as it is, and
    BEGIN/COMMIT would cost two round trips on every refused scan.
    """
    return transaction.atomic() if _db().in_atomic_block else nullcontext()


def _announce(event: Event, result: ScanResult, *, device_label: str, staff) -> None:
    realtime.announce_scan(
        event.pk, scan=_feed_entry(result, device_label=device_label, staff=staff)
    )


def _feed_entry(result: ScanResult, *, device_label: str, staff) -> dict:
    """The scan as the door feed shows it."""
    ticket = result.ticket or {}
    return {
        "id": result.scan_id,
        "code": result.code,
        "verdict": result.verdict,
        "message": result.message,
        "ticket_code": ticket.get("code", ""),
        "guest_name": ticket.get("guest_name", ""),
        "ticket_type": ticket.get("ticket_type", ""),
        "ticket_type_id": ticket.get("ticket_type_id"),
        "device": device_label,
        "staff": staff_display_name(staff),
        "at": result.at.isoformat(),
        "offline": result.offline,
    }


# Postgres: deadlock detected, serialization failure.
RETRYABLE_SQLSTATES = ("40P01", "40001")
ADMIT_ATTEMPTS = 3


def _admit_retrying(**admit) -> ScanResult:
    """`_admit`, again from the read if Postgres broke a deadlock.

    Another service taking the ticket and event rows in the other order
    (say, a refund) can deadlock with an admit; Postgres aborts one side,
    and the door should not show an error for that: the admit is retried,
    and its fresh read sees what the other side did.
    """
    for attempt in range(1, ADMIT_ATTEMPTS + 1):
        try:
            return _admit(**admit)
        except OperationalError as exc:
            sqlstate = getattr(exc.__cause__, "sqlstate", None)
            retry = sqlstate in RETRYABLE_SQLSTATES and not connection.in_atomic_block
            if not retry or attempt == ADMIT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _redeem(
    *,
    event: Event,
    text,
    staff,
    device_label: str,
    nonce: str | None,
    method: str,
    offline: bool,
    at: datetime,
    now: datetime,
    as_offline_conflict: bool = False,
) -> ScanResult:
    digest = code_digest(text)
    # What the admit and a refusal's log row both record of this attempt.
    attempt = {
        "event": event,
        "staff": staff,
        "device_label": device_label,
        "nonce": nonce,
        "method": method,
        "offline": offline,
        "at": at,
        "digest": digest,
    }
    ticket_code = None
    try:
        ticket_code = _ticket_code_from(text, event)
        result = _admit_retrying(ticket_code=ticket_code, now=now, **attempt)
    except ScanRefused as refusal:
        if method == "manual":
            refusal = _typed_miss(text, refusal)
        if as_offline_conflict and isinstance(refusal, AlreadyUsed):
            # Read at every door's Last scans, not only the uploader's: so
            # "at <this door>", never "here".
            named = device_label.casefold() not in UNNAMED_DOORS
            where = f" at {device_label}" if device_label and named else ""
            conflict = OfflineConflict(
                f"Let in twice: admitted offline{where}, but "
                + refusal.message[0].lower()
                + refusal.message[1:],
                **refusal.detail,
            )
            conflict.ticket_row = getattr(refusal, "ticket_row", None)
            refusal = conflict
        values = _refusal_log_values(refusal=refusal, **attempt)
        refused_on_the_text = ticket_code is None and isinstance(refusal, InvalidTicket)
        if refused_on_the_text and not offline and log_later.enabled():
            result = _log_later(values, device_label=device_label, staff=staff)
            if result is not None:
                return result
        try:
            with _savepoint_if_nested():
                result = _log_scan(values)
        except IntegrityError:
            earlier = _replay_of(attempt)
            if earlier is None:
                raise
            return earlier
    except IntegrityError:
        # The admit's log row clashed on the nonce: a retry of an attempt that
        # already has an answer. Everything it did was rolled back.
        earlier = _replay_of(attempt)
        if earlier is None:
            raise
        return earlier
    _announce(event, result, device_label=device_label, staff=staff)
    return result


def _replay_of(attempt: dict) -> ScanResult | None:
    if not attempt["nonce"]:
        return None
    return _replay(
        attempt["event"],
        attempt["nonce"],
        attempt["digest"],
        staff=attempt["staff"],
        device_label=attempt["device_label"],
    )


# A typed text this long is shown cut short, as the door's verdict shows it
# (door.js TYPED_SHOWN_MAX); it also keeps the log row small.
TYPED_SHOWN_MAX = 40


def _typed_miss(text, refusal: ScanRefused) -> ScanRefused:
    """Any text typed by hand that names no ticket, well formed or not, worded
    as the door shows it (door.js typedVerdict: most likely a typo), so the
    log, its CSV and "Last scans" say what the door said. Still `invalid`:
    analytics counts by code. Other refusals, and texts from a camera or
    wedge, are as they were.
    """
    if type(refusal) is not InvalidTicket or not isinstance(text, str):
        return refusal
    typed = text.strip()
    # Printable only; clean_label reads at most twice its limit of the text.
    shown = clean_label(typed, limit=TYPED_SHOWN_MAX + 1)
    if not shown:
        return refusal
    if len(shown) > TYPED_SHOWN_MAX or len(typed) > 2 * (TYPED_SHOWN_MAX + 1):
        shown = shown[:TYPED_SHOWN_MAX].rstrip() + "\u2026"
    typed_miss = InvalidTicket(f"No ticket with code {shown}.")
    typed_miss.ticket_row = getattr(refusal, "ticket_row", None)
    return typed_miss


def redeem_ticket(
    *,
    event: Event,
    text,
    staff=None,
    device_label: str = "",
    nonce: str | None = None,
    method: str = "api",
    now: datetime | None = None,
) -> ScanResult:
    """Admit the ticket a scanned text names, once; log the attempt whatever happens.

    Verifies the signature and event tag without the database, reads the
    ticket, then updates it with `WHERE status = 'issued'`, which locks its
    row; with that update it logs the admit and counts it in the ticket
    type's check-in tally (lock order: ticket, then its tally slot), all
    committed together. A refusal is logged in its own statement.
    Broadcasts the scan to the event's door group after commit.

    Returns a ScanResult with code ok, or a refusal: invalid, wrong_event,
    void, already_used (with used_at/used_device/used_by), not_yet_valid.
    A repeated `nonce` returns the first attempt's answer (`replayed`), or
    raises NonceReused if it came with a different code, staff member or
    door label. Raises
    InvalidRequest (invalid_nonce) for a malformed nonce.
    """
    now = now or timezone.now()
    return _redeem(
        event=event,
        text=text,
        staff=staff,
        device_label=clean_label(device_label),
        nonce=clean_nonce(nonce),
        method=clean_method(method),
        offline=False,
        at=now,
        now=now,
    )


def sync_offline_admits(
    *,
    event: Event,
    admits: Sequence[OfflineAdmit],
    staff=None,
    now: datetime | None = None,
) -> list[ScanResult]:
    """Record admits a door phone made offline, each in its own transaction.

    Each admit is redeemed as a scan made at its own time (clamped to now),
    so the ticket, the log row (offline=True) and the counters look as if the
    network had been up. A ticket that was meanwhile admitted elsewhere,
    online or by another offline phone, is logged as offline_conflict (one
    admit stands, never two). Uploading the same admit again (same nonce)
    returns its first answer. Locks as redeem_ticket; broadcasts each scan.

    Returns one answer per admit, in order, whatever happens to the others:
    an admit the server cannot record (no scan id, or its scan id already
    used for a different code) is answered `attention` with the reason and
    no log row (`_not_recorded`), never raised, so one bad admit neither
    fails the upload nor keeps the phone resending the admits after it.
    """
    now = now or timezone.now()

    def redeem(admit: OfflineAdmit, *, nonce: str, at: datetime) -> ScanResult:
        return _redeem(
            event=event,
            text=admit.text,
            staff=staff,
            device_label=clean_label(admit.device_label),
            nonce=nonce,
            method="offline",
            offline=True,
            at=at,
            now=now,
            as_offline_conflict=True,
        )

    return _each_uploaded(admits, "admit", redeem, now=now)


def _each_uploaded(uploaded, what: str, record, *, now: datetime) -> list[ScanResult]:
    """`record(item, nonce=..., at=...)` for each scan a phone uploaded, in
    order, at its time clamped (_offline_time): one answer each, whatever
    happens to the others. An item the server cannot record (no scan id, or
    one another code took) is answered `_not_recorded`, never raised."""
    results = []
    for item in uploaded:
        at = _offline_time(item.at, now=now)
        try:
            nonce = clean_nonce(item.nonce)
            if nonce is None:
                raise InvalidRequest(
                    f"Every offline {what} needs its scan id.", code="invalid_nonce"
                )
            results.append(record(item, nonce=nonce, at=at))
        except TicketingError as error:
            results.append(_not_recorded(error, at=at))
    return results


def _offline_time(at: datetime | None, *, now: datetime) -> datetime:
    """When a phone says it scanned, within MAX_OFFLINE_AGE before now and
    never after it (a clock badly off); now when it says nothing readable."""
    at = at if at and timezone.is_aware(at) else now
    return min(max(at, now - MAX_OFFLINE_AGE), now)


# The refusals a phone can make from its own copy, by the code it shows: the
# log row keeps that code. Anything else it sends is logged `invalid`.
OFFLINE_REFUSALS = {
    refusal.code: refusal
    for refusal in (
        AlreadyUsed,
        WrongEvent,
        TicketVoid,
        InvalidTicket,
        TicketNotYetValid,
    )
}
MAX_PHONE_RESULT_LENGTH = 40
# What a phone's own verdicts other than a refusal code meant, in the words
# every door's Last scans and the scan log show (door.js checkOffline).
PHONE_RESULTS = {
    "unknown": (
        "Not let in: not on the door phone's ticket list when it checked offline."
    ),
    "unverifiable": (
        "Not let in: the door phone could not check its signature offline."
    ),
}


def log_offline_refusals(
    *,
    event: Event,
    refusals: Sequence[OfflineRefusal],
    staff=None,
    now: datetime | None = None,
) -> list[ScanResult]:
    """Log refusals a door phone made on its own, one ScanLog row each.

    Invariant 4 (every attempt is logged) for the answers a phone gives
    without the server: offline, or a ticket it let in and has not uploaded.
    Each row is offline, method "offline", at the phone's time clamped as
    admits are, with the code the phone showed as its result (anything but a
    refusal code is an amber `invalid`, the phone's code kept in the
    detail, its words said plainly: PHONE_RESULTS). The phone is trusted to
    say what it showed, never which ticket it was: the ticket is linked only
    when the text names one of this event's tickets as the scan API reads
    texts, a signed code whose signature verifies here or a ticket's short
    code typed by hand (as hard to guess as the ticket). A linked ticket used
    already says where and by whom, as online. Never admits and never
    changes a ticket: no ticket row is locked or written.

    A repeated nonce writes nothing (the unique (event, nonce) constraint)
    and answers the first row, replayed: an upload sent again after a lost
    answer, or a scan the server did get online before the phone refused it.
    A refusal that cannot be logged (no usable nonce, or one another code
    took) is answered `_not_recorded`, never raised, with the others logged.
    Each row written is announced to the door feed after commit.
    """
    now = now or timezone.now()

    def log(refusal: OfflineRefusal, *, nonce: str, at: datetime) -> ScanResult:
        return _log_offline_refusal(
            event=event,
            refusal=refusal,
            nonce=nonce,
            staff=staff,
            device_label=clean_label(refusal.device_label),
            at=at,
        )

    return _each_uploaded(refusals, "refusal", log, now=now)


def _log_offline_refusal(
    *,
    event: Event,
    refusal: OfflineRefusal,
    nonce: str,
    staff,
    device_label: str,
    at: datetime,
) -> ScanResult:
    """Write one offline refusal's row, or answer the row its nonce has."""
    digest = code_digest(refusal.text)
    shown = refusal.result if isinstance(refusal.result, str) else ""
    kind = OFFLINE_REFUSALS.get(shown)
    row = _ticket_row_named(refusal.text, event)
    if kind is not None:
        code, message, verdict, info = kind.code, kind.message, kind.verdict, {}
        if kind is TicketVoid and event.cancelled_at is not None:
            message = EVENT_CANCELLED
        elif kind is AlreadyUsed and row and row["status"] == Ticket.Status.USED:
            used = _already_used(event, row, now=timezone.now())
            message, info = used.message, dict(used.detail)
    else:
        # Not a refusal code ("unknown": a genuine ticket not on the phone's
        # list, which staff did not admit anyway): not "Not a valid ticket"
        # at every door's Last scans, but what is known, in words.
        kept = clean_label(shown, limit=MAX_PHONE_RESULT_LENGTH)
        code, verdict, info = InvalidTicket.code, "attention", {"phone_result": kept}
        message = PHONE_RESULTS.get(
            kept, "Not let in: checked on a door phone offline."
        )
        if row is None and kept == "unknown" and isinstance(refusal.text, str):
            # A typed code that is no ticket of this event: said as online.
            message = _typed_miss(refusal.text, InvalidTicket()).message
    values = _scan_log_values(
        event=event,
        row=row,
        result=code,
        message=message,
        verdict=verdict,
        info=info,
        method="offline",
        staff=staff,
        device_label=device_label,
        digest=digest,
        nonce=nonce,
        offline=True,
        at=at,
    )
    try:
        with _savepoint_if_nested():
            result = _log_scan(values)
    except IntegrityError:
        earlier = _replay(event, nonce, digest, staff=staff, device_label=device_label)
        if earlier is None:
            raise
        return earlier
    _announce(event, result, device_label=device_label, staff=staff)
    return result


def _ticket_row_named(text, event: Event) -> dict | None:
    """The row of this event's ticket a scanned text names, as the scan API
    reads it (_ticket_code_from): a signed code whose signature verifies, or
    a short code typed by hand. A phone's word names no ticket."""
    try:
        ticket_code = _ticket_code_from(text, event)
    except ScanRefused:
        return None
    row = _read_ticket(ticket_code)
    return row if row is not None and row["event_id"] == event.pk else None


def _not_recorded(error: TicketingError, *, at: datetime) -> ScanResult:
    """The answer to an offline admit the server could not record: the door
    shows it as needing attention (the guest is in, the log does not say so)."""
    reason = error.message[:1].lower() + error.message[1:]
    return ScanResult(
        code=error.code,
        message=f"Not recorded by the server: {reason}",
        verdict="attention",
        scan_id=None,
        at=at,
        info=dict(error.detail),
        offline=True,
    )


@transaction.atomic
def undo_admit(
    *,
    event: Event,
    ticket_code: str,
    reason: str,
    staff=None,
    device_label: str = "",
    now: datetime | None = None,
) -> ScanResult:
    """Put back an admit made by mistake: the ticket is valid again, the undo is logged.

    Locks the ticket row (select_for_update), then takes it out of its
    check-in tally slot (same order as redeeming). Logs an
    `undone` ScanLog row carrying the reason and the admit it undid.
    Broadcasts after commit. Raises InvalidRequest (reason_required),
    NotFound (no such ticket at this event) or UndoRefused (not_admitted).
    """
    now = now or timezone.now()
    reason = clean_label(reason, limit=MAX_REASON_LENGTH)
    if not reason:
        raise InvalidRequest(
            "Say why the admit is undone (e.g. 'scanned the wrong ticket').",
            code="reason_required",
        )
    code = (ticket_code or "").strip().upper() if isinstance(ticket_code, str) else ""
    if code.startswith(f"{VERSION}."):
        try:
            code = verify_ticket_code(code).ticket_code
        except InvalidTicketCode as exc:
            raise NotFound("No such ticket at this event.") from exc
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("ticket_type")
        .filter(event=event, code=code)
        .first()
    )
    if ticket is None:
        raise NotFound("No such ticket at this event.")
    if ticket.status != Ticket.Status.USED:
        raise UndoRefused()
    device_label = clean_label(device_label)
    undone = {
        "admitted_at": ticket.scanned_at.isoformat() if ticket.scanned_at else None,
        "admitted_device": ticket.scanned_device,
        "reason": reason,
    }
    Ticket.objects.filter(pk=ticket.pk).update(
        status=Ticket.Status.ISSUED,
        scanned_at=None,
        scanned_by=None,
        scanned_device="",
        updated_at=now,
    )
    summary = {
        "code": ticket.code,
        "guest_name": ticket.guest_name,
        "ticket_type": ticket.ticket_type.name,
        "ticket_type_id": ticket.ticket_type_id,
    }
    log = ScanLog.objects.create(
        ticket=ticket,
        event=event,
        result=ScanLog.Result.UNDONE,
        staff=staff,
        device_label=device_label,
        code_digest=code_digest(ticket.qr_payload),
        at=now,
        detail=_log_detail(
            message=f"Admit undone for {ticket.guest_name or 'guest'}: {reason}",
            verdict="attention",
            method="manual",
            ticket=summary,
            staff=staff,
            info=undone,
        ),
    )
    count_check_ins(
        event_id=event.pk, tickets=[(ticket.ticket_type_id, ticket.code)], by=-1
    )
    result = _result_from(log)
    _announce(event, result, device_label=device_label, staff=staff)
    return result
