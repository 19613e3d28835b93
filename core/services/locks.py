"""Row locks every writer of seats and orders takes, in one fixed order.

Event row first, then its ticket types by primary key; an order row on its
own. The SQL is written once per database and planned once per connection
(core.rows): every payment starts here, and so does a checkout on SQLite
(on Postgres, core_place_hold and, for a payment whose order still holds
its seats, core_fulfil_order take the same locks in the database).
"""

import functools

from django.db import DatabaseError, connection, connections
from django.db.transaction import TransactionManagementError

from core.exceptions import OrderBusy
from core.models import Event, Order, TicketType
from core.rows import model_columns, planned_cursor, rows_where


def lock_order(order_id, *, nowait: bool = False) -> Order:
    """Lock an order row; with `nowait` a concurrent holder raises OrderBusy.

    What `select_for_update(nowait=...).get(pk=...)` does, planned once per
    connection: every payment, refund and cancellation starts here. Raises
    Order.DoesNotExist for an unknown id.
    """
    try:
        found = rows_where(Order, id=order_id, lock="nowait" if nowait else "update")
    except DatabaseError as exc:
        raise OrderBusy() from exc
    if not found:
        raise Order.DoesNotExist("Order matching query does not exist.")
    return found[0]


def lock_event_and_types(event_id) -> tuple[Event | None, list[TicketType]]:
    """The event row, then all its ticket types in primary-key order, locked:
    the order every writer of seats takes (checkout, fulfilment, and
    core_place_hold, the checkout's statement on Postgres), so none can
    deadlock another. Each type's `event` is the locked event (no query per
    type). Planned once per connection.

    On Postgres both are locked in one statement: the event in a subquery,
    then its types in a lateral one sorted by key (rows are locked in the
    order they are sorted). Whoever holds the event's lock holds it until it
    commits, and every round trip while it does makes the next buyer wait.
    A type row locked after waiting is read as its holder committed it.
    """
    return _event_and_types(event_id, lock=True)


def event_and_types(event_id) -> tuple[Event | None, list[TicketType]]:
    """lock_event_and_types without the locks: what a checkout on Postgres
    reads first, to judge the order's rules before core_place_hold takes the
    locks in the database (ADR 11)."""
    return _event_and_types(event_id, lock=False)


def _event_and_types(event_id, *, lock: bool) -> tuple[Event | None, list[TicketType]]:
    db = connection
    if db.vendor != "postgresql":
        mode = "update" if lock else ""
        events = rows_where(Event, id=event_id, lock=mode)
        if not events:
            return None, []
        types = rows_where(TicketType, event=events[0].pk, order_by="id", lock=mode)
        for ticket_type in types:
            ticket_type.event = events[0]
        return events[0], types
    if lock and not db.in_atomic_block:
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    sql = _event_and_types_query(db.alias, lock)
    with planned_cursor() as cursor:
        cursor.execute(sql, [Event._meta.pk.get_db_prep_value(event_id, db)])
        rows = cursor.fetchall()
    if not rows:
        return None, []
    event_columns = model_columns(Event, db.alias)
    type_columns = model_columns(TicketType, db.alias)
    width = len(event_columns)
    event = event_columns.instance(rows[0][:width], db.alias)
    types = []
    for row in rows:
        if row[width] is None:  # no types: the LEFT JOIN's empty side
            continue
        ticket_type = type_columns.instance(row[width:], db.alias)
        ticket_type.event = event
        types.append(ticket_type)
    return event, types


@functools.cache
def _event_and_types_query(alias: str, lock: bool) -> str:
    quote = connections[alias].ops.quote_name

    def columns(model, table_alias: str) -> str:
        return ", ".join(
            f"{table_alias}.{quote(field.column)}"
            for field in model._meta.concrete_fields
        )

    type_key = quote(TicketType._meta.pk.column)
    for_update = " FOR UPDATE" if lock else ""
    return (
        f"SELECT {columns(Event, 'e')}, {columns(TicketType, 't')}"
        f" FROM (SELECT * FROM {quote(Event._meta.db_table)}"
        f" WHERE {quote(Event._meta.pk.column)} = %s{for_update}) e"
        f" LEFT JOIN LATERAL (SELECT * FROM {quote(TicketType._meta.db_table)}"
        f" WHERE {quote(TicketType._meta.get_field('event').column)}"
        f" = e.{quote(Event._meta.pk.column)}"
        f" ORDER BY {type_key}{for_update}) t ON true"
        f" ORDER BY t.{type_key}"
    )
