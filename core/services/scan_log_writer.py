"""Log rows of scans refused on the signature alone, written in batches.

A forged, altered or garbage code is refused before the database is
touched (core.services.checkin, gate 1), so its only write is its ScanLog
row. Written one by one, those rows were more than half of such a refusal's
cost: a pooled connection, an INSERT and its commit per code. A flood of
forged codes (an attack, a misprinted batch) is exactly when the door needs
that CPU for real tickets. So each process keeps these rows for
`SCAN_LOG_WRITE_BEHIND_SECONDS` and one thread writes them in one statement
(ADR 8).

What it gives up: such a row reaches the table up to that delay after the
door got its answer, and rows still waiting when a process is killed are
lost (a clean exit writes them). Admits, and every refusal that needed a
ticket's row, are still committed before the answer. A row's id is taken
from the table's sequence before the answer, so the `scan_id` the door sees
is the id the row gets.

Retries: a repeated (event, nonce) answered while its first row waits is
that row's answer. Once a row is written, the unique (event, nonce)
constraint decides at the insert (`ON CONFLICT DO NOTHING`): a row whose
nonce is taken by a row of the same code is a retry of it and is dropped;
one whose nonce another code took (an admit's, say: a client reusing its
nonces) is still an attempt, and is written without the nonce, marked
`nonce_reused`. Checking the table before answering instead would cost every
forged code the round trip this module saves.
"""

import atexit
import functools
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import (
    IntegrityError,
    close_old_connections,
    connection,
    connections,
)

from core import realtime
from core.models import ScanLog
from core.rows import planned_cursor

logger = logging.getLogger(__name__)

# Ids taken from the sequence per round trip; unused ones are gaps, as after
# any rolled-back insert.
IDS_PER_RESERVATION = 500
ROWS_PER_STATEMENT = 500
# Past this many waiting rows (the database is slow or down) callers write
# their rows themselves, so memory stays bounded and nothing is dropped.
MAX_WAITING_ROWS = 20_000
# Seconds between attempts while the database refuses a batch.
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class WaitingRow:
    id: int
    values: dict  # ScanLog's fields by name, as core.services.checkin builds them
    feed: dict  # the door feed's entry, sent once the row is written
    answer: Any  # what the door was told; a retry gets it again


def enabled() -> bool:
    """Whether a refusal decided without the database may be written later.

    Postgres only (ids come from its sequence), and never inside a caller's
    transaction: there the row belongs with the rest of it.
    """
    return (
        settings.SCAN_LOG_WRITE_BEHIND_SECONDS > 0
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


class ScanLogWriter:
    """One per process: the waiting rows, the reserved ids and the writing thread."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Condition()
        self._rows: dict[int, WaitingRow] = {}
        self._by_nonce: dict[tuple, WaitingRow] = {}
        self._hurry = False
        self._thread: threading.Thread | None = None
        self._id_lock = threading.Lock()
        self._ids: deque[int] = deque()

    def _here(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's thread and rows stay there
            self._reset()

    # --- Called by request threads

    def reserve_id(self) -> int:
        self._here()
        with self._id_lock:
            if not self._ids:
                self._ids.extend(_next_ids(IDS_PER_RESERVATION))
            return self._ids.popleft()

    def waiting(self, event_id, nonce: str) -> WaitingRow | None:
        """The row still waiting for this event's nonce, if any."""
        self._here()
        with self._lock:
            return self._by_nonce.get((event_id, nonce))

    def add(self, row: WaitingRow) -> bool:
        """Keep `row` for the next batch; False if too many wait already."""
        self._here()
        with self._lock:
            if len(self._rows) >= MAX_WAITING_ROWS:
                return False
            self._rows[row.id] = row
            if row.values["nonce"] is not None:
                self._by_nonce.setdefault(
                    (row.values["event"], row.values["nonce"]), row
                )
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="scan-log-writer", daemon=True
                )
                self._thread.start()
            if len(self._rows) == 1:  # the writer waits for a first row only
                self._lock.notify_all()
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Write what waits now; True once nothing does (tests, process exit)."""
        if self._pid != os.getpid() or self._thread is None:
            return True
        deadline = time.monotonic() + timeout
        with self._lock:
            self._hurry = True
            self._lock.notify_all()
            while self._rows and time.monotonic() < deadline:
                self._lock.wait(0.05)
            return not self._rows

    # --- The writing thread

    def _run(self) -> None:
        failures = 0
        while True:
            batch = self._next_batch()
            try:
                written = _write(batch)
            except Exception:  # the database, or a bug: keep the rows, keep going
                close_old_connections()  # a broken one is not kept
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                failures += 1
                logger.exception(
                    "could not write %d scan log rows; retrying in %.1f s",
                    len(batch),
                    delay,
                )
                time.sleep(delay)
                continue
            failures = 0
            _announce(batch, written)
            # Gives a pooled connection back (announcing can open one, too).
            close_old_connections()
            self._done(batch)

    def _next_batch(self) -> list[WaitingRow]:
        """Wait for a first row, then for the rest of its window (or a flush)."""
        with self._lock:
            while not self._rows:
                self._hurry = False
                self._lock.wait()
            deadline = time.monotonic() + settings.SCAN_LOG_WRITE_BEHIND_SECONDS
            while not self._hurry and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            return list(self._rows.values())

    def _done(self, batch: list[WaitingRow]) -> None:
        with self._lock:
            for row in batch:
                del self._rows[row.id]
                key = (row.values["event"], row.values["nonce"])
                if self._by_nonce.get(key) is row:
                    del self._by_nonce[key]
            if not self._rows:
                self._hurry = False
            self._lock.notify_all()


def _next_ids(count: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
            [_sequence_name(connection.alias), count],
        )
        return [found for (found,) in cursor.fetchall()]


@functools.cache
def _sequence_name(alias: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, %s)",
            [ScanLog._meta.db_table, ScanLog._meta.pk.column],
        )
        return cursor.fetchone()[0]


@functools.cache
def _fields(names: tuple[str, ...]) -> list:
    return [ScanLog._meta.get_field(name) for name in names]


@functools.cache
def _insert_sql(alias: str, names: tuple[str, ...]) -> str:
    """One statement for any number of rows, sent as one JSON array of rows.

    A VALUES list of a batch's size was a new statement each time, and
    psycopg split its thousands of placeholders in Python on every write.
    One array per column then cost about 50 µs a row in psycopg's Python
    array adaptation; Postgres parses the JSON in C.
    """
    db = connections[alias]
    quote = db.ops.quote_name
    pk = ScanLog._meta.pk
    fields = _fields(names)
    columns = [pk.column, *(field.column for field in fields)]
    values = [f"(r->>0)::{pk.rel_db_type(db)}"]
    for at, field in enumerate(fields, start=1):
        if field.get_internal_type() == "JSONField":
            values.append(f"(r->{at})::jsonb")
        else:
            values.append(f"(r->>{at})::{field.db_type(db)}")
    return (
        f"INSERT INTO {quote(ScanLog._meta.db_table)}"
        f" ({', '.join(quote(column) for column in columns)})"
        f" SELECT {', '.join(values)} FROM json_array_elements(%s::json) AS rows(r)"
        f" ON CONFLICT DO NOTHING RETURNING {quote(pk.column)}"
    )


def _as_text(value):
    return None if value is None else str(value)


def _as_iso(value):
    return None if value is None else value.isoformat()


@functools.cache
def _json_converters(names: tuple[str, ...]) -> tuple:
    """Per field, what turns its value into JSON the cast above reads back
    (None: the value is JSON already: text, numbers, booleans, dicts)."""
    converters = []
    for field in _fields(names):
        kind = (field.target_field if field.is_relation else field).get_internal_type()
        converters.append({"UUIDField": _as_text, "DateTimeField": _as_iso}.get(kind))
    return tuple(converters)


def _rows_json(rows: list[WaitingRow], names: tuple[str, ...]) -> str:
    """The rows as one JSON array of [id, value by field...] arrays."""
    converters = _json_converters(names)
    return json.dumps(
        [
            [
                row.id,
                *(
                    value if convert is None else convert(value)
                    for convert, value in zip(
                        converters, row.values.values(), strict=True
                    )
                ),
            ]
            for row in rows
        ],
        separators=(",", ":"),
    )


def _write(batch: list[WaitingRow]) -> set[int]:
    """Insert the batch; the ids written (a retry's row is skipped, see above).

    Raises DatabaseError to be retried (see `_run`), unless the batch itself is at fault
    (an IntegrityError: say its event was deleted meanwhile); then each row
    is written alone and the ones the database refuses are logged and left.
    """
    written: set[int] = set()
    for start in range(0, len(batch), ROWS_PER_STATEMENT):
        chunk = batch[start : start + ROWS_PER_STATEMENT]
        try:
            inserted = _insert(chunk)
            written |= inserted | _insert_nonce_clashes(chunk, inserted)
        except IntegrityError:
            for row in chunk:
                try:
                    written |= _insert([row])
                except IntegrityError:
                    logger.error(
                        "scan log row %s (event %s) refused by the database; dropped",
                        row.id,
                        row.values["event"],
                        exc_info=True,
                    )
    return written


def _insert_nonce_clashes(chunk: list[WaitingRow], inserted: set[int]) -> set[int]:
    """The rows the insert skipped for their nonce, other than retries,
    written without it (see the module's docstring)."""
    skipped = [row for row in chunk if row.id not in inserted]
    if not skipped:
        return set()
    first_codes = {
        (event_id, nonce): digest
        for event_id, nonce, digest in ScanLog.objects.filter(
            event_id__in={row.values["event"] for row in skipped},
            nonce__in={row.values["nonce"] for row in skipped},
        ).values_list("event_id", "nonce", "code_digest")
    }
    attempts = [
        replace(
            row,
            values={
                **row.values,
                "nonce": None,
                "detail": {**row.values["detail"], "nonce_reused": True},
            },
        )
        for row in skipped
        if first_codes.get((row.values["event"], row.values["nonce"]))
        != row.values["code_digest"]
    ]
    return _insert(attempts) if attempts else set()


def _insert(rows: list[WaitingRow]) -> set[int]:
    names = tuple(rows[0].values)  # every row has the same fields, in order
    with planned_cursor() as cursor:
        cursor.execute(_insert_sql(connection.alias, names), [_rows_json(rows, names)])
        return {found for (found,) in cursor.fetchall()}


def _announce(batch: list[WaitingRow], written: set[int]) -> None:
    by_event: dict[Any, list[dict]] = {}
    for row in batch:
        if row.id in written:
            by_event.setdefault(row.values["event"], []).append(row.feed)
    for event_id, scans in by_event.items():
        try:
            realtime.announce_scans(event_id, scans=scans)
        except Exception:
            logger.exception("door feed for event %s not sent", event_id)


writer = ScanLogWriter()
atexit.register(writer.flush)


def flush(timeout: float = 5.0) -> bool:
    """Write this process's waiting rows now."""
    return writer.flush(timeout)
