"""Moving the sold and checked-in counters that availability and the door read."""

from collections.abc import Mapping

from django.db import connection

from core.models import Event, TicketType
from core.rows import planned_cursor

COUNTERS = ("sold_count", "checked_in_count")


def move_counters(*, event_id, by_type: Mapping[int, int], column: str) -> None:
    """Add to a counter of the event (the sum), then of each ticket type in
    primary-key order: the order every seat writer locks them in, so none can
    deadlock another. Plain SQL planned once per connection: the ORM's F()
    update cost three times as much to build as to run. The check
    constraints (sold <= capacity, checked in <= sold) still guard the values.
    """
    if column not in COUNTERS:
        raise ValueError(f"Not a counter: {column}")
    with planned_cursor() as cursor:
        cursor.execute(
            f"UPDATE {Event._meta.db_table} SET {column} = {column} + %s WHERE id = %s",
            [
                sum(by_type.values()),
                Event._meta.pk.get_db_prep_value(event_id, connection),
            ],
        )
        for type_id in sorted(by_type):
            cursor.execute(
                f"UPDATE {TicketType._meta.db_table}"
                f" SET {column} = {column} + %s WHERE id = %s",
                [by_type[type_id], type_id],
            )
