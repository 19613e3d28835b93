"""core_place_hold, the checkout's one statement on Postgres (ADR 11).

Held to compute_availability, which the pages and the SQLite path use: the
same seats must be free whichever counts them.
"""

import json
import random
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.exceptions import InvalidRequest, NotFound, SoldOut
from core.models import Event, Order, OrderLine, TicketType, WaitlistEntry
from core.queries.availability import (
    compute_availability,
    get_event_availability,
    held_and_waiting,
)
from core.services import checkout
from core.services.checkout import place_order
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    count_held_seats,
    live_holds_by_type,
)
from tests.plans import (
    a_night_sold_and_planned,
    assert_lapsed_holds_read_by_key,
    forget_statistics,
    plans_run,
    reads_of,
)

pytestmark = pytest.mark.django_db

NEVER_FITS = 10**6


def _figures_from_database(event, wanted: dict, *, public: bool, now) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT core_place_hold(%s, %s, %s, %s::jsonb, '{}'::jsonb, '[]'::jsonb)",
            [event.pk, now, public, json.dumps({str(k): v for k, v in wanted.items()})],
        )
        (verdict,) = cursor.fetchone()
    return json.loads(verdict) if isinstance(verdict, str) else verdict


def _random_event(rng: random.Random, now) -> Event:
    types_sold = [rng.randint(0, 6) for _ in range(rng.randint(1, 3))]
    event = EventFactory(
        venue_capacity=sum(types_sold) + rng.randint(0, 25),
        sold_count=sum(types_sold),
    )
    for sold in types_sold:
        ticket_type = TicketTypeFactory(
            event=event,
            capacity=sold + rng.randint(0, 15),
            sold_count=sold,
            is_active=rng.random() > 0.2,
        )
        for _ in range(rng.randint(0, 4)):
            status = rng.choice(
                ["pending", "pending", "processing", "paid", "expired", "cancelled"]
            )
            order = Order.objects.create(
                event=event,
                customer_name="Held",
                customer_email="held@example.com",
                status=status,
                hold_expires_at=now + timedelta(minutes=rng.choice([-5, 5, 10])),
                total=Decimal("0.00"),
                currency=event.currency,
            )
            OrderLine.objects.create(
                order=order,
                ticket_type=ticket_type,
                quantity=rng.randint(1, 4),
                unit_price=Decimal("0.00"),
            )
    for n in range(rng.randint(0, 3)):
        WaitlistEntry.objects.create(
            event=event,
            ticket_type=rng.choice([None, *event.ticket_types.all()]),
            name="Wait",
            email=f"wait{n}@example.com",
            quantity=rng.randint(1, 3),
            status=rng.choice(["waiting", "waiting", "offered"]),
        )
    count_held_seats()  # as the services that wrote those orders would have
    return event


@pytest.mark.parametrize("seed", range(40))
def test_the_statement_counts_seats_as_compute_availability(postgres, seed):
    rng = random.Random(seed)
    now = timezone.now()
    event = _random_event(rng, now)
    types = list(TicketType.objects.filter(event=event).order_by("id"))
    held, waiting = held_and_waiting(event_ids=[event.id], now=now)
    assert held == live_holds_by_type(event, now)
    for public in (True, False):
        expected = compute_availability(
            event, types, held, now, waiting if public else None
        )
        got = _figures_from_database(
            event, {types[0].id: NEVER_FITS}, public=public, now=now
        )
        assert got["fits"] is False
        assert got["total_available"] == expected.total_available
        assert {int(k): v for k, v in got["available"].items()} == {
            row.id: row.available for row in expected.types
        }
    assert not Order.objects.filter(customer_name="Buyer").exists()


@pytest.mark.parametrize("seed", range(10))
def test_an_order_of_exactly_what_is_left_fits_and_one_more_does_not(postgres, seed):
    rng = random.Random(1000 + seed)
    event = _random_event(rng, timezone.now())
    # On sale, with room in it: what is left is then at least one seat.
    Event.objects.filter(pk=event.pk).update(
        is_active=True, venue_capacity=event.venue_capacity + 50
    )
    TicketType.objects.filter(event=event).update(is_active=True, max_per_order=99)
    first = TicketType.objects.filter(event=event).order_by("id").first()
    TicketType.objects.filter(pk=first.pk).update(capacity=first.capacity + 5)
    event.refresh_from_db()
    availability = get_event_availability(event)
    row = max(availability.types, key=lambda r: r.available)
    assert row.available > 0
    buyer = {
        "event_id": event.id,
        "customer_name": "Buyer",
        "customer_email": "buyer@example.com",
    }
    with pytest.raises(SoldOut):
        place_order(quantities={row.id: row.available + 1}, **buyer)
    order = place_order(quantities={row.id: row.available}, **buyer)
    assert order.lines.get().quantity == row.available
    assert (
        get_event_availability(event)
        .types[[r.id for r in availability.types].index(row.id)]
        .available
        == 0
    )


@pytest.mark.django_db(transaction=True)
def test_a_checkout_is_one_read_and_one_statement(postgres, ticket_type):
    # Outside a transaction, as a view runs it: no BEGIN, COMMIT or savepoint.
    seen = get_event_availability(ticket_type.event)
    with CaptureQueriesContext(connection) as queries:
        order = place_order(
            event_id=ticket_type.event_id,
            quantities={ticket_type.id: 2},
            customer_name="Ana",
            customer_email="ana@example.com",
            seen_availability=seen,
        )
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 2, statements
    assert "FOR UPDATE" not in statements[0]
    assert "core_place_hold" in statements[1]
    line = order.lines.get()
    assert (line.quantity, line.unit_price) == (2, ticket_type.price)
    assert order.lines.all()[0].pk == line.pk
    stored = Order.objects.get(pk=order.pk)
    for field in Order._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(order, field.attname), field


def test_the_statement_writes_every_order_line_column(postgres):
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'core_place_hold'")
        (source,) = cursor.fetchone()
    written = re.search(r"INSERT INTO core_orderline \(([^)]*)\)", source).group(1)
    assert {name.strip() for name in written.split(",")} == {
        field.column
        for field in OrderLine._meta.concrete_fields
        if not field.primary_key
    }


def _after_the_read(monkeypatch, change) -> None:
    """Make `change` happen between the checkout's read and its statement."""
    read = checkout.event_and_types

    def read_then_change(event_id):
        found = read(event_id)
        change()
        return found

    monkeypatch.setattr(checkout, "event_and_types", read_then_change)


def _changed_after_the_read(ticket_type):
    return {
        "type deleted": (
            lambda: TicketType.objects.filter(pk=ticket_type.pk).delete(),
            InvalidRequest,
        ),
        "event taken off sale": (
            lambda: Event.objects.filter(pk=ticket_type.event_id).update(
                is_active=False
            ),
            NotFound,
        ),
    }


@pytest.mark.parametrize("change", ["type deleted", "event taken off sale"])
def test_a_change_after_the_read_is_seen_under_the_locks_and_nothing_is_held(
    postgres, monkeypatch, ticket_type, change
):
    make_change, refusal = _changed_after_the_read(ticket_type)[change]
    _after_the_read(monkeypatch, make_change)
    with pytest.raises(refusal):
        place_order(
            event_id=ticket_type.event_id,
            quantities={ticket_type.id: 1},
            customer_name="Ana",
            customer_email="ana@example.com",
        )
    assert not Order.objects.exists()


def test_a_hold_moves_held_seats_by_type_key_whatever_the_statistics(
    postgres, ticket_type
):
    """core_place_hold adds the order's seats to its types' held counters
    while it holds the event's lock. Joined to the lines as a set (100 rows
    to the planner), the update read every ticket type of every event, past
    and future, on every checkout; it must take each type by its key."""
    past = EventFactory.build_batch(400, starts_at=timezone.now() - timedelta(days=30))
    Event.objects.bulk_create(past)
    TicketType.objects.bulk_create(
        TicketTypeFactory.build(event=event) for event in past for _ in range(3)
    )
    forget_statistics(Event, TicketType, Order, OrderLine, WaitlistEntry)

    with plans_run() as plans:
        place_order(
            event_id=ticket_type.event_id,
            quantities={ticket_type.id: 2},
            customer_name="Ana",
            customer_email="ana@example.com",
        )

    updates = [
        plan["Plan"]
        for plan in plans
        if plan["Query Text"].lstrip().startswith("UPDATE core_tickettype")
    ]
    reads = [r for plan in updates for r in reads_of(plan, TicketType)]
    assert reads and set(reads) == {"core_tickettype_pkey"}, reads
    assert TicketType.objects.get(pk=ticket_type.pk).held_count == 2


@pytest.mark.parametrize("plans", ["custom", "generic"])
@pytest.mark.parametrize("statistics", ["analyzed", "never analyzed"])
def test_the_lapsed_holds_lines_are_read_by_order_key_whatever_the_statistics(
    postgres, statistics, plans
):
    """core_place_hold counts seats under the event's lock that every
    checkout of the event waits for, less the lapsed holds the sweep has
    not closed. Once the tables were analyzed, Postgres took the pending
    orders with no hold expiry for some 6% of all orders (paid ones have no
    expiry either; there are none) and hashed every order line ever sold to
    join them; its cached (generic) plan read the orders through the
    event's index, every order of the night. The lapsed orders must be read
    by status and expiry, their lines by order key, however Postgres plans;
    and the seats are those compute_availability gives."""
    now = timezone.now()
    event = a_night_sold_and_planned(now=now, statistics=statistics, plans=plans)
    types = list(TicketType.objects.filter(event=event).order_by("id"))

    with plans_run() as run:
        got = _figures_from_database(
            event, {types[0].id: NEVER_FITS}, public=True, now=now
        )

    (plan,) = [p["Plan"] for p in run if "lapsed_orders" in p["Query Text"]]
    assert_lapsed_holds_read_by_key(plan)
    held, waiting = held_and_waiting(event_ids=[event.id], now=now)
    assert held == live_holds_by_type(event, now)
    expected = compute_availability(event, types, held, now, waiting)
    assert got["total_available"] == expected.total_available
    assert {int(k): v for k, v in got["available"].items()} == {
        row.id: row.available for row in expected.types
    }
