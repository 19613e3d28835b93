import io
import threading
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image

from core import realtime
from core.exceptions import (
    CapacityBelowSold,
    HasSales,
    InvalidRequest,
    PermissionRefused,
    SoldOut,
)
from core.models import AuditLogEntry, Event, Order, TicketType
from core.queries.availability import get_event_availability
from core.services import events as events_service
from core.services.checkout import place_order
from core.services.events import (
    EventDetails,
    TicketTypeDetails,
    create_event,
    delete_event,
    duplicate_event,
    event_details_of,
    set_event_active,
    ticket_type_details_of,
    update_event,
)
from core.services.fulfilment import fulfil_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def _details(**overrides) -> EventDetails:
    values = {
        "name": "Spring Gala",
        "starts_at": timezone.now() + timedelta(days=10),
        "venue_capacity": 300,
        "time_zone": "Europe/Madrid",
        "currency": "eur",
        "venue": "Main Hall",
    }
    return EventDetails(**(values | overrides))


def _types(*specs) -> list[TicketTypeDetails]:
    specs = specs or (("VIP", "50.00", 100), ("General", "20.00", 250))
    return [
        TicketTypeDetails(name=name, price=Decimal(price), capacity=capacity)
        for name, price, capacity in specs
    ]


def _edit(event, actor, *, details=None, types=None, **kwargs):
    """Re-submit an event as it is, with some changes (what the edit page does)."""
    event.refresh_from_db()
    return update_event(
        actor=actor,
        event_id=event.id,
        details=details or event_details_of(event),
        ticket_types=types
        if types is not None
        else [ticket_type_details_of(t) for t in event.ticket_types.order_by("pk")],
        **kwargs,
    )


def _png(size=(2400, 1200), color=(200, 30, 90)) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "poster.png"
    return buffer


# --- create ----------------------------------------------------------------


def test_create_event_with_types_records_audit_and_announces(
    owner, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        realtime, "send_all", lambda sends: sent.extend(group for group, _ in sends)
    )
    with django_capture_on_commit_callbacks(execute=True):
        event = create_event(actor=owner, details=_details(), ticket_types=_types())
    assert event.slug == "spring-gala"
    assert set(event.ticket_types.values_list("name", flat=True)) == {"VIP", "General"}
    actions = set(
        AuditLogEntry.objects.filter(event=event).values_list("action", flat=True)
    )
    assert actions == {"event.create", "ticket_type.create"}
    entry = AuditLogEntry.objects.get(event=event, action="event.create")
    assert entry.actor == owner and entry.after["name"] == "Spring Gala"
    assert realtime.event_list_group() in sent


@pytest.mark.parametrize(
    "leaves",
    [
        {"is_active": False},  # "On sale" unticked on the edit page
        {"starts_at": timezone.now() - timedelta(hours=1)},  # start moved back
    ],
    ids=["off-sale", "start-in-the-past"],
)
def test_an_edit_taking_an_event_off_the_public_list_reaches_the_list(
    owner, django_capture_on_commit_callbacks, monkeypatch, leaves
):
    event = TicketTypeFactory(event=EventFactory()).event  # on the public list
    sent = []
    monkeypatch.setattr(
        realtime, "send_all", lambda sends: sent.extend(group for group, _ in sends)
    )
    with django_capture_on_commit_callbacks(execute=True):
        _edit(event, owner, details=replace(event_details_of(event), **leaves))
    # Its open list pages must drop the event (and its buy link).
    assert realtime.event_list_group() in sent


def test_a_drafts_edit_never_reaches_the_public_list(
    owner, django_capture_on_commit_callbacks, monkeypatch
):
    draft = TicketTypeFactory(event=EventFactory(is_active=False)).event
    sent = []
    monkeypatch.setattr(
        realtime, "send_all", lambda sends: sent.extend(group for group, _ in sends)
    )
    with django_capture_on_commit_callbacks(execute=True):
        _edit(draft, owner, details=replace(event_details_of(draft), name="Renamed"))
    assert realtime.availability_group(draft.id) in sent
    assert realtime.event_list_group() not in sent


def test_event_name_is_unique_ignoring_case(owner):
    create_event(actor=owner, details=_details(), ticket_types=_types())
    with pytest.raises(InvalidRequest) as caught:
        create_event(
            actor=owner, details=_details(name="SPRING gala"), ticket_types=_types()
        )
    assert caught.value.code == "name_taken"
    assert caught.value.detail["field"] == "name"
    assert Event.objects.count() == 1


def test_slug_is_derived_once_and_stays_when_renamed(owner):
    event = create_event(actor=owner, details=_details(), ticket_types=_types())
    _edit(event, owner, details=replace(event_details_of(event), name="Summer Gala"))
    event.refresh_from_db()
    assert (event.name, event.slug) == ("Summer Gala", "spring-gala")


def test_clashing_slugs_get_a_suffix(owner):
    first = create_event(
        actor=owner, details=_details(name="Rock & Roll"), ticket_types=_types()
    )
    second = create_event(
        actor=owner, details=_details(name="Rock Roll"), ticket_types=_types()
    )
    assert (first.slug, second.slug) == ("rock-roll", "rock-roll-2")


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"name": "  "}, "name_required", "name"),
        ({"time_zone": "Mars/Olympus"}, "invalid_time_zone", "time_zone"),
        ({"currency": "xyz"}, "invalid_currency", "currency"),
        ({"venue_capacity": 0}, "invalid_capacity", "venue_capacity"),
        (
            {"doors_at": timezone.now() + timedelta(days=30)},
            "doors_after_start",
            "doors_at",
        ),
        (
            {
                "sales_start_at": timezone.now() + timedelta(days=2),
                "sales_end_at": timezone.now() + timedelta(days=1),
            },
            "sales_window",
            "sales_end_at",
        ),
    ],
)
def test_bad_event_details_are_refused_and_nothing_is_written(
    owner, overrides, code, field
):
    with pytest.raises(InvalidRequest) as caught:
        create_event(actor=owner, details=_details(**overrides), ticket_types=_types())
    assert (caught.value.code, caught.value.detail["field"]) == (code, field)
    assert not Event.objects.exists() and not AuditLogEntry.objects.exists()


@pytest.mark.parametrize(
    ("spec", "code", "field"),
    [
        (
            TicketTypeDetails(name="", price=Decimal(1), capacity=1),
            "name_required",
            "name",
        ),
        (
            TicketTypeDetails(name="A", price=Decimal(-1), capacity=1),
            "invalid_price",
            "price",
        ),
        (
            TicketTypeDetails(name="A", price=Decimal("1.005"), capacity=1),
            "invalid_price",
            "price",
        ),
        (
            TicketTypeDetails(name="A", price=Decimal(1), capacity=-5),
            "invalid_capacity",
            "capacity",
        ),
        (
            TicketTypeDetails(name="A", price=Decimal(1), capacity=5, max_per_order=0),
            "invalid_max_per_order",
            "max_per_order",
        ),
    ],
)
def test_bad_ticket_types_are_refused_with_their_row(owner, spec, code, field):
    with pytest.raises(InvalidRequest) as caught:
        create_event(actor=owner, details=_details(), ticket_types=[_types()[0], spec])
    assert caught.value.code == code
    assert caught.value.detail == {"field": field, "type_index": 1}
    assert not Event.objects.exists()


def test_an_event_needs_a_ticket_type_and_distinct_type_names(owner):
    with pytest.raises(InvalidRequest, match="at least one ticket type"):
        create_event(actor=owner, details=_details(), ticket_types=[])
    with pytest.raises(InvalidRequest) as caught:
        create_event(
            actor=owner,
            details=_details(),
            ticket_types=_types(("VIP", "1", 1), ("vip", "2", 2)),
        )
    assert caught.value.code == "duplicate_type_name"


def test_door_staff_cannot_create_events(door):
    with pytest.raises(PermissionRefused):
        create_event(actor=door, details=_details(), ticket_types=_types())


def test_sum_of_type_capacities_may_exceed_venue_but_sales_never_do(owner):
    event = create_event(
        actor=owner,
        details=_details(venue_capacity=5),
        ticket_types=_types(("A", "10", 4), ("B", "10", 4)),
    )
    a, b = event.ticket_types.order_by("pk")
    make_paid_order(a, 4)
    with pytest.raises(SoldOut):
        make_paid_order(b, 2)
    make_paid_order(b, 1)
    assert get_event_availability(event).total_available == 0


def test_event_image_is_validated_and_resized(owner):
    event = create_event(
        actor=owner, details=_details(), ticket_types=_types(), image=_png()
    )
    with Image.open(event.image.path) as stored:
        assert stored.format == "JPEG"
        assert max(stored.size) == 1600


def test_a_file_that_is_not_an_image_is_refused(owner):
    fake = io.BytesIO(b"<?php echo 'hi'; ?>")
    fake.name = "poster.png"
    with pytest.raises(InvalidRequest) as caught:
        create_event(actor=owner, details=_details(), ticket_types=_types(), image=fake)
    assert caught.value.code == "invalid_image"
    assert not Event.objects.exists()


# --- capacity, prices, deletion -----------------------------------------------


def test_capacity_below_sold_plus_held_is_refused(owner):
    ticket_type = TicketTypeFactory(capacity=10)
    make_paid_order(ticket_type, 3)
    place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 2},
        customer_name="Holder",
        customer_email="holder@example.com",
    )
    spec = replace(ticket_type_details_of(ticket_type), capacity=4)
    with pytest.raises(CapacityBelowSold) as caught:
        _edit(ticket_type.event, owner, types=[spec])
    assert caught.value.detail["minimum"] == 5
    assert caught.value.detail["type_index"] == 0
    assert "3 sold, 2 being paid for" in caught.value.message
    ticket_type.refresh_from_db()
    assert ticket_type.capacity == 10

    _edit(ticket_type.event, owner, types=[replace(spec, capacity=5)])
    ticket_type.refresh_from_db()
    assert ticket_type.capacity == 5


def test_an_expired_hold_no_longer_blocks_a_capacity_cut(owner):
    ticket_type = TicketTypeFactory(capacity=10)
    place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 4},
        customer_name="Holder",
        customer_email="holder@example.com",
        now=timezone.now() - timedelta(hours=2),
    )
    spec = replace(ticket_type_details_of(ticket_type), capacity=0)
    _edit(ticket_type.event, owner, types=[spec])
    ticket_type.refresh_from_db()
    assert ticket_type.capacity == 0


def test_venue_capacity_below_sold_is_refused(owner):
    ticket_type = TicketTypeFactory(capacity=10)
    make_paid_order(ticket_type, 6)
    event = ticket_type.event
    details = replace(event_details_of(event), venue_capacity=5)
    with pytest.raises(CapacityBelowSold) as caught:
        _edit(event, owner, details=details)
    assert caught.value.detail["field"] == "venue_capacity"
    event.refresh_from_db()
    assert event.venue_capacity == 100


def test_price_change_applies_to_new_sales_only(owner):
    ticket_type = TicketTypeFactory(price=Decimal("25.00"), capacity=10)
    paid = make_paid_order(ticket_type, 1)
    pending = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Late payer",
        customer_email="late@example.com",
    )
    _edit(
        ticket_type.event,
        owner,
        types=[replace(ticket_type_details_of(ticket_type), price=Decimal("30.00"))],
    )
    fulfil_order(
        order_id=pending.id,
        provider="simulated",
        provider_reference="late",
        amount=pending.total,
        currency="usd",
    )
    assert paid.tickets.get().price_paid == Decimal("25.00")
    pending.refresh_from_db()
    assert pending.total == Decimal("25.00")
    assert pending.tickets.get().price_paid == Decimal("25.00")
    new = make_paid_order(ticket_type, 1, email="new@example.com")
    assert new.total == Decimal("30.00")
    entry = AuditLogEntry.objects.get(action="ticket_type.update")
    assert (entry.before, entry.after) == ({"price": "25.00"}, {"price": "30.00"})


def test_price_change_announces_availability_after_commit(
    owner, django_capture_on_commit_callbacks, monkeypatch
):
    ticket_type = TicketTypeFactory(capacity=10)
    sent = []
    monkeypatch.setattr(
        realtime, "send_all", lambda sends: sent.extend(msg for _, msg in sends)
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _edit(
            ticket_type.event,
            owner,
            types=[replace(ticket_type_details_of(ticket_type), capacity=12)],
        )
    assert sent == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert {
        "type": "availability.changed",
        "event_id": str(ticket_type.event_id),
        "reason": "capacity",
    } in sent


def test_type_with_sales_cannot_be_deleted_but_can_be_switched_off(owner):
    sold = TicketTypeFactory(capacity=10)
    other = TicketTypeFactory(event=sold.event)
    make_paid_order(sold, 1)
    with pytest.raises(HasSales) as caught:
        _edit(
            sold.event,
            owner,
            types=[replace(ticket_type_details_of(sold), delete=True)],
        )
    assert caught.value.detail == {"field": "delete", "type_index": 0}
    assert TicketType.objects.filter(pk=sold.pk).exists()
    _edit(
        sold.event,
        owner,
        types=[replace(ticket_type_details_of(sold), is_active=False)],
    )
    sold.refresh_from_db()
    assert not sold.is_active
    _edit(
        sold.event, owner, types=[replace(ticket_type_details_of(other), delete=True)]
    )
    assert not TicketType.objects.filter(pk=other.pk).exists()


def test_a_type_with_only_an_abandoned_hold_still_counts_as_having_orders(owner):
    held = TicketTypeFactory(capacity=10)
    TicketTypeFactory(event=held.event)
    place_order(
        event_id=held.event_id,
        quantities={held.id: 1},
        customer_name="Holder",
        customer_email="holder@example.com",
        now=timezone.now() - timedelta(days=1),
    )
    with pytest.raises(HasSales):
        _edit(
            held.event,
            owner,
            types=[replace(ticket_type_details_of(held), delete=True)],
        )


def test_event_with_sales_cannot_be_deleted_but_can_be_deactivated(
    owner, django_capture_on_commit_callbacks
):
    ticket_type = TicketTypeFactory()
    make_paid_order(ticket_type, 1)
    event = ticket_type.event
    with pytest.raises(HasSales, match="Deactivate"):
        delete_event(actor=owner, event_id=event.id)
    with django_capture_on_commit_callbacks() as callbacks:
        set_event_active(actor=owner, event_id=event.id, active=False)
    # the catalogue version, the pages' groups, and every door's kept access
    # (signed-in staff's and devices')
    assert len(callbacks) == 4
    event.refresh_from_db()
    assert not event.is_active
    assert AuditLogEntry.objects.filter(event=event, action="event.deactivate").exists()


def test_event_without_orders_is_deleted_and_the_audit_entry_stays(owner):
    event = create_event(actor=owner, details=_details(), ticket_types=_types())
    delete_event(actor=owner, event_id=event.id)
    assert not Event.objects.filter(pk=event.pk).exists()
    entry = AuditLogEntry.objects.get(action="event.delete")
    assert entry.object_repr == "Spring Gala" and entry.event is None


def test_types_not_listed_are_untouched_and_new_ones_are_added(owner):
    event = create_event(actor=owner, details=_details(), ticket_types=_types())
    _edit(
        event,
        owner,
        types=[TicketTypeDetails(name="Student", price=Decimal("10"), capacity=20)],
    )
    assert sorted(event.ticket_types.values_list("name", flat=True)) == [
        "General",
        "Student",
        "VIP",
    ]


def test_currency_cannot_change_after_orders(owner):
    ticket_type = TicketTypeFactory()
    make_paid_order(ticket_type, 1)
    details = replace(event_details_of(ticket_type.event), currency="eur")
    with pytest.raises(InvalidRequest) as caught:
        _edit(ticket_type.event, owner, details=details)
    assert caught.value.code == "currency_locked"


def test_a_type_id_from_another_event_is_refused(owner):
    mine = TicketTypeFactory()
    theirs = TicketTypeFactory()
    spec = replace(ticket_type_details_of(theirs), capacity=1)
    with pytest.raises(InvalidRequest) as caught:
        _edit(mine.event, owner, types=[spec])
    assert caught.value.code == "unknown_ticket_type"
    theirs.refresh_from_db()
    assert theirs.capacity == 50


def test_an_unchanged_save_writes_no_audit_entry(owner):
    event = create_event(actor=owner, details=_details(), ticket_types=_types())
    count = AuditLogEntry.objects.count()
    _edit(event, owner)
    assert AuditLogEntry.objects.count() == count


# --- duplicate ----------------------------------------------------------------


def test_duplicate_copies_types_without_sales_and_stays_inactive(owner):
    source = create_event(
        actor=owner,
        details=_details(
            doors_at=timezone.now() + timedelta(days=10, hours=-1),
        ),
        ticket_types=_types(),
        image=_png(),
    )
    make_paid_order(source.ticket_types.first(), 2)
    new_start = source.starts_at + timedelta(days=7)
    copy = duplicate_event(actor=owner, event_id=source.id, starts_at=new_start)
    assert copy.name == "Spring Gala (copy)"
    assert copy.slug == "spring-gala-copy"
    assert not copy.is_active
    assert copy.doors_at == source.doors_at + timedelta(days=7)
    assert [t.sold_count for t in copy.ticket_types.all()] == [0, 0]
    assert copy.image and copy.image.name != source.image.name
    second = duplicate_event(actor=owner, event_id=source.id)
    assert second.name == "Spring Gala (copy 2)"


# --- concurrency (Postgres) ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_capacity_edits_during_sales_never_oversell(
    postgres, owner, monkeypatch
):
    """Buyers and an editor race; capacity never ends below sold and nothing oversells.

    The editor's read of what is held is slowed down, as on a busy server, so
    that without the row locks a sale would land between its check and its
    write (and the sold <= capacity constraint would then fail that sale).
    """
    read_held = events_service.held_by_type

    def slow_held_by_type(**kwargs):
        held = read_held(**kwargs)
        time.sleep(0.01)
        return held

    monkeypatch.setattr(events_service, "held_by_type", slow_held_by_type)
    event = EventFactory(venue_capacity=1000)
    ticket_type = TicketTypeFactory(event=event, capacity=40, max_per_order=2)
    errors: list[BaseException] = []
    refusals = {"sold_out": 0, "capacity": 0}
    stop = threading.Event()
    start = threading.Barrier(5)

    def buyer(n: int) -> None:
        try:
            start.wait()
            i = 0
            while not stop.is_set() and i < 3000:
                i += 1
                try:
                    order = place_order(
                        event_id=event.id,
                        quantities={ticket_type.id: 1 + (i % 2)},
                        customer_name=f"Buyer {n}",
                        customer_email=f"b{n}-{i}@example.com",
                    )
                except SoldOut:
                    refusals["sold_out"] += 1
                    continue
                fulfil_order(
                    order_id=order.id,
                    provider="simulated",
                    provider_reference=f"c-{order.id}",
                    amount=order.total,
                    currency=order.currency,
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def editor() -> None:
        try:
            start.wait()
            for i in range(60):
                current = TicketType.objects.get(pk=ticket_type.pk)
                # Open some room, then cut back to exactly what is taken (the
                # edge a race would cross), or below it (must be refused).
                if i % 3 == 0:
                    target = current.sold_count + 6
                elif i % 3 == 1:
                    target = current.sold_count
                else:
                    target = max(0, current.sold_count - 1)
                try:
                    update_event(
                        actor=owner,
                        event_id=event.id,
                        details=event_details_of(Event.objects.get(pk=event.pk)),
                        ticket_types=[
                            replace(ticket_type_details_of(current), capacity=target)
                        ],
                    )
                except CapacityBelowSold:
                    refusals["capacity"] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()
            connection.close()

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=editor))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    ticket_type.refresh_from_db()
    event.refresh_from_db()
    issued = ticket_type.tickets.count()
    assert ticket_type.sold_count == issued == event.sold_count
    assert ticket_type.sold_count <= ticket_type.capacity
    assert refusals["capacity"] > 0  # the editor really aimed below what was sold
    assert (
        not Order.objects.filter(status=Order.Status.PAID)
        .exclude(tickets__isnull=False)
        .exists()
    )
