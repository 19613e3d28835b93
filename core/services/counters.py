"""Moving the sold and checked-in counters that availability and the door read."""

import functools
import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from django.db import connection, connections

from core.models import CheckInTally, Event, TicketType
from core.rows import planned_cursor

COUNTERS = ("sold_count",)
logger = logging.getLogger(__name__)


def move_counters(*, event_id, by_type: Mapping[int, int], column: str) -> None:
    """Add to a counter of the event (the sum), then of each ticket type in
    primary-key order: the order every seat writer locks them in, so none can
    deadlock another. Plain SQL planned once per connection: the ORM's F()
    update cost three times as much to build as to run. The check
    constraints (sold <= capacity) still guard the values.

    On Postgres it is one statement: the event's UPDATE as a WITH query that
    the types' UPDATE waits for. A payment moves these last, so it holds the
    event row (which every checkout waits for) only while this and its
    commit run; one round trip fewer is one wait fewer for the next buyer.
    Every writer of type counters locks the event row first, so the types'
    order within the statement cannot deadlock.
    """
    if column not in COUNTERS:
        raise ValueError(f"Not a counter: {column}")
    event_pk = Event._meta.pk.get_db_prep_value(event_id, connection)
    type_ids = sorted(by_type)
    if connection.vendor == "postgresql" and type_ids:
        with planned_cursor() as cursor:
            cursor.execute(
                _counters_query(connection.alias, column, len(type_ids)),
                [
                    sum(by_type.values()),
                    event_pk,
                    *(
                        value
                        for type_id in type_ids
                        for value in (type_id, by_type[type_id])
                    ),
                ],
            )
        return
    with planned_cursor() as cursor:
        cursor.execute(
            f"UPDATE {Event._meta.db_table} SET {column} = {column} + %s WHERE id = %s",
            [sum(by_type.values()), event_pk],
        )
        for type_id in type_ids:
            cursor.execute(
                f"UPDATE {TicketType._meta.db_table}"
                f" SET {column} = {column} + %s WHERE id = %s",
                [by_type[type_id], type_id],
            )


@functools.cache
def _counters_query(alias: str, column: str, types: int) -> str:
    db = connections[alias]
    key_type = TicketType._meta.pk.rel_db_type(db)
    moves = ", ".join([f"(%s::{key_type}, %s::integer)"] * types)
    return (
        f"WITH event_moved AS (UPDATE {Event._meta.db_table}"
        f" SET {column} = {column} + %s WHERE id = %s RETURNING id)"
        f" UPDATE {TicketType._meta.db_table} SET {column} = {column} + moved.n"
        f" FROM (VALUES {moves}) AS moved(id, n)"
        f" WHERE {TicketType._meta.db_table}.id = moved.id"
        " AND EXISTS (SELECT 1 FROM event_moved)"
    )


def count_check_ins(*, event_id, tickets: Iterable[tuple[int, str]], by: int) -> None:
    """Add `by` (1 for an admit, -1 for an undo or a refund of a used ticket)
    to the check-in tally of each (ticket type id, ticket code) in `tickets`.

    Each ticket counts in its own slot (CheckInTally.slot_for), so
    concurrent admits of one event rarely wait for one another's row. An
    admit adds in one upsert; taking away updates the slots its tickets were
    counted in, which a check constraint keeps from going below zero.
    """
    moves = Counter()
    for ticket_type_id, code in tickets:
        moves[ticket_type_id, CheckInTally.slot_for(code)] += by
    if not moves:
        return
    keys = sorted(moves)  # one lock order for every writer
    if by > 0:
        event_pk = Event._meta.pk.get_db_prep_value(event_id, connection)
        with planned_cursor() as cursor:
            cursor.execute(
                _tally_query(connection.alias, len(keys)),
                [
                    value
                    for type_id, slot in keys
                    for value in (event_pk, type_id, slot, moves[type_id, slot])
                ],
            )
        return
    table = CheckInTally._meta.db_table
    with planned_cursor() as cursor:
        for type_id, slot in keys:
            cursor.execute(
                f"UPDATE {table} SET checked_in = checked_in + %s"
                " WHERE ticket_type_id = %s AND slot = %s",
                [moves[type_id, slot], type_id, slot],
            )
            if cursor.rowcount != 1:
                logger.error(
                    "No check-in tally for type %s slot %s: its count is off",
                    type_id,
                    slot,
                )


@functools.cache
def _tally_query(alias: str, rows: int) -> str:
    table = CheckInTally._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s)"] * rows)
    return (
        f"INSERT INTO {table} (event_id, ticket_type_id, slot, checked_in)"
        f" VALUES {values} ON CONFLICT (ticket_type_id, slot)"
        f" DO UPDATE SET checked_in = {table}.checked_in + excluded.checked_in"
    )
