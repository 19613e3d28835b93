"""The plans Postgres gives a hot path's statements, as if never analyzed
or once analyzed.

Before a table's first ANALYZE (a restored dump, autovacuum off, a new
deployment's first on-sale) Postgres sizes it from its pages alone and
costs every index alike, so a statement meant to read one row by its key
may take an index on its event instead and read the whole night. Once
analyzed (autovacuum does it in production) it estimates from what it
sampled, and a guess far off may make it hash a whole table. Postgres
only: the callers use the `postgres` fixture.
"""

import json
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

from django.db import connection

from core.models import Event, Order, OrderLine
from tests.factories import EventFactory, TicketTypeFactory, count_held_seats


def forget_statistics(*models) -> None:
    """Make these models' tables look never analyzed, inside the test's
    transaction (which rolls it back)."""
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                "UPDATE pg_class SET reltuples = -1, relpages = 0"
                " WHERE oid = %s::regclass",
                [table],
            )
            cursor.execute(
                "DELETE FROM pg_statistic WHERE starelid = %s::regclass", [table]
            )


def analyze(*models) -> None:
    """ANALYZE these models' tables, inside the test's transaction, which
    takes the statistics back as it rolls back. Not by itself: ANALYZE
    writes a table's and its indexes' sizes into their pg_class rows in
    place, outside any transaction, and they would stay for the tests
    after. So each of those rows is first updated in this transaction, and
    ANALYZE writes over this transaction's version, which the rollback
    discards. The test's own rows are sampled: they are its transaction's."""
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                "UPDATE pg_class SET reltuples = reltuples"
                " WHERE oid = %s::regclass OR oid IN"
                " (SELECT indexrelid FROM pg_index WHERE indrelid = %s::regclass)",
                [table, table],
            )
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def plan_cache(mode: str) -> None:
    """Plan this transaction's statements with bound parameters, a plpgsql
    function's included, "custom" (for their values) or "generic" (the
    cached plan a connection keeps once it costs no more than the custom
    ones: for any values, so with Postgres's guesses for a typical one)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL plan_cache_mode = force_{mode}_plan")


def indexes_led_by(model, *fields: str) -> set[str]:
    """The names of `model`'s indexes whose first columns are `fields`'."""
    columns = [model._meta.get_field(name).column for name in fields]
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {
        name
        for name, about in found.items()
        if about["index"] and about["columns"][: len(columns)] == columns
    }


def a_night_sold(*, now, paid: int, live: int, lapsed: int) -> Event:
    """An event with two ticket types and, one line each (1 to 3 seats),
    `paid` paid orders (no hold expiry: fulfilment clears it), `live` holds,
    `lapsed` holds the sweep has not closed, and one pending order with no
    expiry, which holds nothing; and two other events with three paid
    orders and one hold of each kind (the night is most of the orders, as
    a big night is in production). Held counters counted. Written in bulk:
    enough orders for the planner to weigh, in a second or so."""
    event = EventFactory(venue_capacity=100_000)
    types = [TicketTypeFactory(event=event, capacity=50_000) for _ in range(2)]
    holds = [
        ("pending", now + timedelta(minutes=10)),
        ("pending", now - timedelta(minutes=1)),
        ("pending", None),
    ]
    kinds = [("paid", None)] * paid + holds[:1] * live + holds[1:2] * lapsed + holds[2:]
    rows = [(types[n % 2], *kind) for n, kind in enumerate(kinds)]
    for _ in range(2):
        other = TicketTypeFactory(event=EventFactory())
        rows += [(other, *kind) for kind in [("paid", None)] * 3 + holds]
    orders = Order.objects.bulk_create(
        Order(
            event_id=ticket_type.event_id,
            customer_name="Guest",
            customer_email="guest@example.com",
            status=status,
            hold_expires_at=expires,
            paid_at=now if status == "paid" else None,
            total=Decimal("0.00"),
            currency=event.currency,
        )
        for ticket_type, status, expires in rows
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            ticket_type=ticket_type,
            quantity=1 + n % 3,
            unit_price=Decimal("0.00"),
        )
        for n, (order, (ticket_type, _, _)) in enumerate(zip(orders, rows, strict=True))
    )
    count_held_seats()
    return event


@contextmanager
def plans_run():
    """The plan of every statement run inside, those a plpgsql function runs
    included (auto_explain, sent to this session as notices), as EXPLAIN
    (FORMAT JSON) gives them: {"Query Text", "Plan"}. Inside a transaction."""
    plans = []

    def keep(diagnostic) -> None:
        text = diagnostic.message_primary or ""
        if text.startswith("duration:") and "{" in text:
            plans.append(json.loads(text[text.index("{") :]))

    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting, value in (
            ("log_format", "json"),
            ("log_level", "notice"),
            ("log_nested_statements", "on"),
            ("log_min_duration", "0"),
        ):
            cursor.execute(f"SET LOCAL auto_explain.{setting} = {value}")
    connection.connection.add_notice_handler(keep)
    try:
        yield plans
    finally:
        # A statement sent with its parameters bound on the server
        # (planned_cursor) runs in a portal that ends, and its plan is
        # logged, only when the next statement comes: this one.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL auto_explain.log_min_duration = -1")
        connection.connection.remove_notice_handler(keep)


def reads_of(plan: dict, model) -> list[str]:
    """How each node of a plan reads `model`'s table: by an index (its name;
    a bitmap scan's, each of them) or otherwise (the node type, e.g.
    "Seq Scan")."""
    found = []
    if _reads(plan, model):
        by = [scan["Index Name"] for scan in _bitmap_index_scans(plan)]
        found += by or [plan.get("Index Name") or plan["Node Type"]]
    for child in plan.get("Plans", []):
        found += reads_of(child, model)
    return found


def index_conditions_of(plan: dict, model) -> list[str]:
    """The index condition of each read of `model`'s table by an index (a
    bitmap scan's, each of its indexes'), as EXPLAIN writes it."""
    found = []
    if _reads(plan, model):
        scans = _bitmap_index_scans(plan) or [plan]
        found += [scan["Index Cond"] for scan in scans if "Index Cond" in scan]
    for child in plan.get("Plans", []):
        found += index_conditions_of(child, model)
    return found


def assert_lapsed_holds_read_by_key(plan: dict) -> None:
    """The lapsed holds' orders are read through an index range on their
    status and hold expiry (the event ahead of them or not), never through
    the event's index nor the whole table; their lines through an index led
    by the order, a probe per order, never the whole table."""
    lines = reads_of(plan, OrderLine)
    assert lines and set(lines) <= indexes_led_by(OrderLine, "order"), lines
    ranges = indexes_led_by(Order, "status", "hold_expires_at")
    ranges |= indexes_led_by(Order, "event", "status", "hold_expires_at")
    orders = reads_of(plan, Order)
    assert orders and set(orders) <= ranges, orders
    conditions = index_conditions_of(plan, Order)
    assert len(conditions) == len(orders), conditions
    assert all("hold_expires_at" in c for c in conditions), conditions


def _reads(plan: dict, model) -> bool:
    return plan.get("Relation Name") == model._meta.db_table and "Scan" in plan.get(
        "Node Type", ""
    )


def _bitmap_index_scans(plan: dict) -> list[dict]:
    """The index scans a bitmap heap scan's bitmap is built from (through
    its BitmapAnd and BitmapOr nodes); none for other nodes."""
    if plan["Node Type"] != "Bitmap Heap Scan":
        return []
    return [scan for child in plan.get("Plans", []) for scan in _bitmap_parts(child)]


def _bitmap_parts(node: dict) -> list[dict]:
    if node.get("Node Type") == "Bitmap Index Scan":
        return [node]
    if node.get("Node Type") in ("BitmapAnd", "BitmapOr"):
        return [part for child in node["Plans"] for part in _bitmap_parts(child)]
    return []


def a_night_sold_and_planned(*, now, statistics: str, plans: str):
    """a_night_sold (3,000 paid, 100 live holds, 5 lapsed), its tables
    "analyzed" or "never analyzed", and Postgres planning "custom" or
    "generic": the four states a lapsed-holds plan test runs in."""
    from core.models import Event, Order, OrderLine, TicketType, WaitlistEntry

    event = a_night_sold(now=now, paid=3000, live=100, lapsed=5)
    tables = (Event, TicketType, Order, OrderLine, WaitlistEntry)
    if statistics == "analyzed":
        analyze(*tables)
    else:
        forget_statistics(*tables)
    plan_cache(plans)
    return event
