"""Moving the sold, held and checked-in counters that availability and the door read."""

import functools
import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Sum

from core.models import CheckInTally, Event, OrderLine, TicketType
from core.queries.availability import HOLDING_STATUSES
from core.rows import planned_cursor
from core.services.locks import lock_event_and_types

COUNTERS = ("sold_count",)
logger = logging.getLogger(__name__)


def move_counters(
    *, event_id, by_type: Mapping[int, int], column: str, from_held: bool = False
) -> None:
    """Add to a counter of the event (the sum), then of each ticket type in
    primary-key order: the order every seat writer locks them in, so none can
    deadlock another. Plain SQL planned once per connection: the ORM's F()
    update cost three times as much to build as to run. The check
    constraints (sold <= capacity) still guard the values. `from_held`: the
    same seats leave the types' held counters (a held order sold).

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
                _counters_query(connection.alias, column, len(type_ids), from_held),
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
        held = ", held_count = held_count - %s" if from_held else ""
        for type_id in type_ids:
            n = by_type[type_id]
            cursor.execute(
                f"UPDATE {TicketType._meta.db_table}"
                f" SET {column} = {column} + %s{held} WHERE id = %s",
                [n, *([n] if from_held else []), type_id],
            )


def _moves(alias: str, types: int) -> str:
    """The VALUES rows (type id, amount) the counters' statements join on."""
    key_type = TicketType._meta.pk.rel_db_type(connections[alias])
    return ", ".join([f"(%s::{key_type}, %s::integer)"] * types)


@functools.cache
def _counters_query(alias: str, column: str, types: int, from_held: bool) -> str:
    moves = _moves(alias, types)
    table = TicketType._meta.db_table
    held = f", held_count = {table}.held_count - moved.n" if from_held else ""
    return (
        f"WITH event_moved AS (UPDATE {Event._meta.db_table}"
        f" SET {column} = {column} + %s WHERE id = %s RETURNING id)"
        f" UPDATE {table} SET {column} = {table}.{column} + moved.n{held}"
        f" FROM (VALUES {moves}) AS moved(id, n)"
        f" WHERE {table}.id = moved.id"
        " AND EXISTS (SELECT 1 FROM event_moved)"
    )


def move_held(*, event_id, by_type: Mapping[int, int]) -> None:
    """Add to the held counter of each ticket type (negative to take away),
    the event's row locked first. Every writer of an event's type rows locks
    the event's row first, so they take turns there and the order the types
    are then updated in cannot deadlock.

    A type's held_count is the seats of its pending and processing orders;
    whatever moves an order into or out of those states moves it in the
    same transaction (placing a hold on Postgres does it in core_place_hold,
    a payment there in core_fulfil_order). The column's check (>= 0) stops
    a release counted twice.
    """
    moves = {type_id: n for type_id, n in by_type.items() if n}
    if not moves:
        return
    event_pk = Event._meta.pk.get_db_prep_value(event_id, connection)
    type_ids = sorted(moves)
    params = [event_pk, *(v for t in type_ids for v in (t, moves[t]))]
    if connection.vendor == "postgresql":
        with planned_cursor() as cursor:
            cursor.execute(_held_query(connection.alias, len(type_ids)), params)
        return
    with planned_cursor() as cursor:  # SQLite: its one writer at a time
        for type_id in type_ids:
            cursor.execute(
                f"UPDATE {TicketType._meta.db_table}"
                " SET held_count = held_count + %s WHERE id = %s",
                [moves[type_id], type_id],
            )


@functools.cache
def _held_query(alias: str, types: int) -> str:
    moves = _moves(alias, types)
    table = TicketType._meta.db_table
    return (
        f"WITH event_locked AS (SELECT id FROM {Event._meta.db_table}"
        " WHERE id = %s FOR UPDATE)"
        f" UPDATE {table} SET held_count = {table}.held_count + moved.n"
        f" FROM (VALUES {moves}) AS moved(id, n)"
        f" WHERE {table}.id = moved.id AND EXISTS (SELECT 1 FROM event_locked)"
    )


def release_held(order_ids: Iterable) -> None:
    """Take the seats of orders that stopped holding (cancelled, expired, a
    payment failed: not paid) out of their types' held counters.

    Call it in the transaction that changed their status, only for orders
    that were pending or processing until then. Events are taken in one
    order (by id), so two releases of several events cannot deadlock. An
    event whose counter would go below zero (it was off: a bug, or a process
    on code from before the counter moving orders during a deploy) is
    recounted from its orders instead, and logged, so one bad counter never
    stops a sweep of every event.
    """
    seats = (
        OrderLine.objects.filter(order_id__in=list(order_ids))
        .values_list("order__event_id", "ticket_type_id")
        .annotate(seats=Sum("quantity"))
        .order_by()
    )
    by_event: dict = {}
    for event_id, type_id, n in seats:
        by_event.setdefault(event_id, Counter())[type_id] -= n
    for event_id in sorted(by_event, key=str):
        try:
            with transaction.atomic():
                move_held(event_id=event_id, by_type=by_event[event_id])
        except IntegrityError:
            logger.error("Held seats of event %s were off; recounted", event_id)
            recount_held(event_id)


def recount_held(event_id) -> int:
    """Set the held counters of an event's types from its pending and
    processing orders, under the event's and its types' locks (what
    migration 0015 did once for every type); returns how many were off.

    For repairs (manage.py recount_held_seats): after an upgrade during
    which processes on older code still moved orders, or a counter found
    off. Call it inside a transaction.
    """
    event, types = lock_event_and_types(event_id)
    if event is None:
        return 0
    held = dict(
        OrderLine.objects.filter(
            order__event_id=event_id,
            order__status__in=HOLDING_STATUSES,
        )
        .values_list("ticket_type")
        .annotate(seats=Sum("quantity"))
        .order_by()
    )
    off = 0
    for ticket_type in types:
        seats = held.get(ticket_type.pk, 0)
        if ticket_type.held_count != seats:
            TicketType.objects.filter(pk=ticket_type.pk).update(held_count=seats)
            off += 1
    return off


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
