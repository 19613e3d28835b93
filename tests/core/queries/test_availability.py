from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Ticket
from core.queries.availability import get_event_availability
from core.services.checkout import place_order
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    count_held_seats,
    live_holds_by_type,
    make_paid_order,
)

pytestmark = pytest.mark.django_db


def test_counts_sold_and_held_per_type_and_event():
    event = EventFactory(venue_capacity=100)
    vip = TicketTypeFactory(event=event, name="VIP", capacity=10)
    ga = TicketTypeFactory(event=event, name="GA", capacity=200)
    make_paid_order(vip, 3)
    place_order(
        event_id=event.id,
        quantities={ga.id: 5},
        customer_name="H",
        customer_email="h@example.com",
    )

    availability = get_event_availability(event)
    rows = {row.name: row for row in availability.types}
    assert (rows["VIP"].sold, rows["VIP"].held, rows["VIP"].available) == (3, 0, 7)
    # GA is bounded by the venue: 100 - 3 sold - 5 held.
    assert (rows["GA"].sold, rows["GA"].held, rows["GA"].available) == (0, 5, 92)
    assert availability.total_capacity == 100
    assert availability.total_available == 92
    assert not availability.is_sold_out


def test_an_expired_hold_stops_counting_without_any_sweep():
    event = EventFactory(venue_capacity=10)
    seat = TicketTypeFactory(event=event, capacity=10)
    place_order(
        event_id=event.id,
        quantities={seat.id: 10},
        customer_name="H",
        customer_email="h@example.com",
    )
    assert get_event_availability(event).is_sold_out
    later = timezone.now() + timedelta(minutes=16)
    assert get_event_availability(event, now=later).total_available == 10


def test_counters_match_a_recount_of_tickets():
    event = EventFactory(venue_capacity=50)
    a = TicketTypeFactory(event=event, capacity=20)
    b = TicketTypeFactory(event=event, capacity=20)
    for ticket_type, quantity in [(a, 2), (b, 3), (a, 4)]:
        make_paid_order(ticket_type, quantity)
    availability = get_event_availability(event)
    for row in availability.types:
        assert (
            row.sold
            == Ticket.objects.filter(ticket_type_id=row.id)
            .exclude(status="void")
            .count()
        )
    assert availability.total_sold == Ticket.objects.filter(event=event).count() == 9


def test_availability_query_count_does_not_grow_with_sales(
    django_assert_max_num_queries,
):
    event = EventFactory(venue_capacity=500)
    ticket_type = TicketTypeFactory(event=event, capacity=500)
    for _ in range(5):
        make_paid_order(ticket_type, 10)
    with django_assert_max_num_queries(3):  # types+event, holds, waitlist demand
        get_event_availability(event)


def test_api_shape_follows_the_seed():
    event = EventFactory(venue_capacity=5)
    TicketTypeFactory(event=event, name="Seat", capacity=5, price="40.00")
    data = get_event_availability(event).as_api_dict()
    assert set(data) == {"event", "availability", "summary"}
    assert {"name", "price", "capacity", "sold", "available", "sold_out"} <= set(
        data["availability"][0]
    )
    assert data["availability"][0]["price"] == 40.0
    assert data["summary"] == {
        "total_capacity": 5,
        "total_sold": 0,
        "total_held": 0,
        "total_available": 5,
        "is_sold_out": False,
        "held_for_now": False,
    }


def test_held_and_waiting_counts_live_holds_and_waiting_demand():
    """Held: live pending and processing orders (held_count less the lapsed
    holds the sweep has not closed); waiting: the ORM query's rule."""
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Order, WaitlistEntry
    from core.queries.availability import (
        held_and_waiting,
        held_by_type,
        waiting_by_type,
    )
    from tests.factories import EventFactory, TicketTypeFactory

    now = timezone.now()
    events = [EventFactory(), EventFactory()]
    expected_held = {}
    for event in events:
        a = TicketTypeFactory(event=event, capacity=50)
        b = TicketTypeFactory(event=event, capacity=50)
        for status, expires, quantity in [
            (Order.Status.PENDING, now + timedelta(minutes=5), 2),
            (Order.Status.PENDING, now - timedelta(minutes=1), 3),  # lapsed
            (Order.Status.PROCESSING, now - timedelta(minutes=1), 4),
            (Order.Status.PAID, None, 5),
            (Order.Status.CANCELLED, now + timedelta(minutes=5), 6),
        ]:
            order = Order.objects.create(
                event=event,
                customer_name="A",
                customer_email="a@example.com",
                status=status,
                hold_expires_at=expires,
                total=0,
                currency=event.currency,
            )
            order.lines.create(ticket_type=a, quantity=quantity, unit_price=0)
            order.lines.create(ticket_type=b, quantity=1, unit_price=0)
        for ticket_type, status, quantity in [
            (None, WaitlistEntry.Status.WAITING, 2),
            (a, WaitlistEntry.Status.WAITING, 3),
            (b, WaitlistEntry.Status.OFFERED, 4),
        ]:
            WaitlistEntry.objects.create(
                event=event,
                ticket_type=ticket_type,
                name="W",
                email=f"w{quantity}@example.com",
                quantity=quantity,
                status=status,
            )
        expected_held[a.id], expected_held[b.id] = 2 + 4, 1 + 1
    count_held_seats()
    ids = [event.id for event in events]

    held, waiting = held_and_waiting(event_ids=ids, now=now)

    assert held == held_by_type(event_ids=ids, now=now) == expected_held
    assert waiting == waiting_by_type(event_ids=ids) and waiting
    assert held_and_waiting(event_ids=[], now=now) == ({}, {})


def _fields(instance) -> dict:
    return {
        f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields
    }


def test_the_hand_written_event_read_agrees_with_the_orm():
    """event_availability_now builds the event and its types from one SQL
    statement; it must give what the ORM gives, instances and figures alike
    (UUIDs, decimals, times and booleans go through the ORM's converters)."""
    from core.models import Event, TicketType
    from core.queries.availability import (
        availability_for_events,
        event_availability_now,
    )

    now = timezone.now()
    event = EventFactory(venue_capacity=12, sales_end_at=now + timedelta(days=3))
    TicketTypeFactory(
        event=event, name="B late", sort_order=2, capacity=5, price="12.50"
    )
    TicketTypeFactory(
        event=event, name="A early", sort_order=1, capacity=4, price="9.99"
    )
    TicketTypeFactory(
        event=event, name="Z same", sort_order=1, capacity=3, price="9.99"
    )
    TicketTypeFactory(event=event, name="Gone", is_active=False)
    early = TicketType.objects.get(event=event, name="A early")
    make_paid_order(early, 2)
    place_order(
        event_id=event.pk,
        quantities={early.pk: 1},
        customer_name="Holder",
        customer_email="holder@example.com",
    )

    orm = availability_for_events([Event.objects.get(pk=event.pk)], now)[event.pk]
    for found in (
        event_availability_now(event_id=event.pk, now=now),
        event_availability_now(slug=event.slug, active_only=True, now=now),
        event_availability_now(name=event.name, now=now),
    ):
        assert found == orm  # the dataclasses, row by row, in the ORM's order
        assert [t.name for t in found.types] == ["A early", "Z same", "B late"]
        assert _fields(found.event) == _fields(orm.event)
        assert found.event.sold_count == 2 and found.total_held == 1


def test_the_hand_written_event_read_finds_bare_and_refuses_hidden_events():
    from core.queries.availability import event_availability_now

    bare = EventFactory()
    found = event_availability_now(event_id=bare.pk)
    assert found.event.pk == bare.pk and found.types == []
    hidden = EventFactory(is_active=False)
    TicketTypeFactory(event=hidden)
    assert event_availability_now(slug=hidden.slug, active_only=True) is None
    assert len(event_availability_now(slug=hidden.slug).types) == 1
    assert event_availability_now(slug="no-such-event") is None
    with pytest.raises(ValueError, match="exactly one"):
        event_availability_now(slug=bare.slug, name=bare.name)


@pytest.mark.parametrize(
    "status", ["pending", "processing", "paid", "expired", "cancelled", "refunded"]
)
@pytest.mark.parametrize(
    "expires_in", [timedelta(minutes=5), -timedelta(minutes=5), None]
)
def test_an_orders_own_hold_rule_agrees_with_the_availability_query(status, expires_in):
    """Services ask the order; availability asks the database: one rule for both."""
    from core.models import Order
    from core.queries.availability import held_and_waiting, held_by_type

    event = EventFactory(venue_capacity=10)
    seat = TicketTypeFactory(event=event, capacity=10)
    placed = place_order(
        event_id=event.id,
        quantities={seat.id: 1},
        customer_name="H",
        customer_email="h@example.com",
    )
    now = timezone.now()
    Order.objects.filter(pk=placed.pk).update(
        status=status, hold_expires_at=now + expires_in if expires_in else None
    )
    count_held_seats()  # as the service that set that status would have
    order = Order.objects.get(pk=placed.pk)

    counted = held_by_type(event_ids=[event.id], now=now).get(seat.id, 0) == 1
    assert order.holds_seats(now) == counted
    assert held_and_waiting(event_ids=[event.id], now=now)[0].get(seat.id, 0) == counted
    assert order.is_payable(now) == (status == "pending" and counted)


@pytest.mark.parametrize("plans", ["custom", "generic"])
@pytest.mark.parametrize("statistics", ["analyzed", "never analyzed"])
def test_the_lapsed_holds_lines_are_read_by_order_key_whatever_the_statistics(
    postgres, statistics, plans
):
    """held_and_waiting subtracts the lapsed holds the sweep has not closed
    from the held counters. Once the tables were analyzed, Postgres took the
    pending orders with no hold expiry for some 6% of all orders (paid ones
    have no expiry either; there are none) and hashed every order line ever
    sold to join them; its cached (generic) plan read the orders through the
    event's index, every order of the night. The lapsed orders must be read
    by status and expiry, their lines by order key, however Postgres plans."""
    from core.queries.availability import held_and_waiting
    from tests.plans import (
        a_night_sold_and_planned,
        assert_lapsed_holds_read_by_key,
        plans_run,
    )

    now = timezone.now()
    event = a_night_sold_and_planned(now=now, statistics=statistics, plans=plans)

    with plans_run() as run:
        held, _ = held_and_waiting(event_ids=[event.id], now=now)

    (plan,) = [p["Plan"] for p in run if "'held'" in p["Query Text"]]
    assert_lapsed_holds_read_by_key(plan)
    assert held == live_holds_by_type(event, now)
