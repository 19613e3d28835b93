"""Row locks every writer of seats and orders takes, in one fixed order.

Event row first, then its ticket types by primary key; an order row on its
own. The SQL is written once per database and planned once per connection
(core.rows): every checkout and payment starts here.
"""

from django.db import DatabaseError

from core.exceptions import OrderBusy
from core.models import Event, Order, TicketType
from core.rows import rows_where


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
    the order every writer of seats takes (checkout, fulfilment), so none can
    deadlock another. Each type's `event` is the locked event (no query per
    type). Planned once per connection: every checkout starts here."""
    events = rows_where(Event, id=event_id, lock="update")
    if not events:
        return None, []
    types = rows_where(TicketType, event=events[0].pk, order_by="id", lock="update")
    for ticket_type in types:
        ticket_type.event = events[0]
    return events[0], types
