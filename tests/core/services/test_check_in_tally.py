"""Check-ins counted in slots: exact under concurrent doors, undo and refund."""

import importlib
import logging
import threading
import uuid

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from core.models import CheckInTally, Ticket
from core.queries.door import checked_in_by_type, door_snapshot, with_checked_in
from core.services.checkin import redeem_ticket, undo_admit
from core.services.counters import count_check_ins
from core.services.orders import refund_order
from tests.factories import TicketTypeFactory, make_door_open_event, make_paid_order


def _used(event) -> int:
    return Ticket.objects.filter(event=event, status=Ticket.Status.USED).count()


@pytest.mark.django_db
def test_admits_undo_and_refund_keep_the_tally_equal_to_used_tickets():
    event = make_door_open_event(name="Tally")
    stalls = TicketTypeFactory(event=event, name="Stalls", capacity=50)
    circle = TicketTypeFactory(event=event, name="Circle", capacity=50)
    orders = [make_paid_order(stalls, 3), make_paid_order(circle, 4)]
    tickets = [t for order in orders for t in order.tickets.all()]
    for ticket in tickets:
        assert redeem_ticket(event=event, text=ticket.qr_payload).admitted
    assert checked_in_by_type(event.pk) == {stalls.pk: 3, circle.pk: 4}

    undo_admit(event=event, ticket_code=tickets[0].code, reason="wrong ticket")
    refund_order(order_id=orders[1].id, reason="show moved")

    assert checked_in_by_type(event.pk) == {stalls.pk: 2, circle.pk: 0}
    assert sum(checked_in_by_type(event.pk).values()) == _used(event) == 2
    snapshot = door_snapshot(event)
    assert snapshot["totals"]["checked_in"] == 2
    assert {t["id"]: t["checked_in"] for t in snapshot["types"]} == {
        stalls.pk: 2,
        circle.pk: 0,
    }
    assert (
        with_checked_in(type(event).objects.filter(pk=event.pk)).get().checked_in_count
        == 2
    )
    # Each ticket counted in its own slot, and every slot stays at or above 0.
    for row in CheckInTally.objects.filter(event=event):
        assert row.checked_in >= 0
    assert {
        (t.ticket_type_id, CheckInTally.slot_for(t.code))
        for t in Ticket.objects.filter(event=event, status=Ticket.Status.USED)
    } <= set(
        CheckInTally.objects.filter(event=event, checked_in__gt=0).values_list(
            "ticket_type_id", "slot"
        )
    )


@pytest.mark.django_db
def test_taking_away_a_check_in_never_counted_is_logged_and_changes_nothing(caplog):
    event = make_door_open_event(name="Tally")
    stalls = TicketTypeFactory(event=event, capacity=5)
    with caplog.at_level(logging.ERROR, logger="core.services.counters"):
        count_check_ins(event_id=event.pk, tickets=[(stalls.pk, "NEVERIN1")], by=-1)
    assert "No check-in tally" in caplog.text
    assert checked_in_by_type(event.pk) == {}


@pytest.mark.django_db
def test_the_migration_counts_the_tickets_already_used():
    event = make_door_open_event(name="Tally")
    stalls = TicketTypeFactory(event=event, capacity=50)
    order = make_paid_order(stalls, 6)
    used = list(order.tickets.all()[:4])
    Ticket.objects.filter(pk__in=[t.pk for t in used]).update(
        status="used", scanned_at=timezone.now()
    )

    migration = importlib.import_module(
        "core.migrations.0008_check_ins_counted_in_slots"
    )
    migration.count_used_tickets(apps, None)

    assert checked_in_by_type(event.pk) == {stalls.pk: 4}
    for ticket in used:  # each in the slot its undo will take it from
        undo_admit(event=event, ticket_code=ticket.code, reason="test")
    assert checked_in_by_type(event.pk) == {stalls.pk: 0}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_doors_admitting_different_tickets_count_every_one(postgres):
    """Forty doors at once: the tally is exact, spread over slots."""
    event = make_door_open_event(name="Rush at the door")
    stalls = TicketTypeFactory(event=event, capacity=200, max_per_order=40)
    tickets = list(make_paid_order(stalls, 40).tickets.all())
    barrier = threading.Barrier(len(tickets))
    results, errors = [], []

    def scan(ticket) -> None:
        try:
            barrier.wait()
            results.append(
                redeem_ticket(
                    event=event, text=ticket.qr_payload, nonce=uuid.uuid4().hex
                )
            )
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan, args=(t,)) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert all(result.admitted for result in results) and len(results) == 40
    assert checked_in_by_type(event.pk) == {stalls.pk: 40} and _used(event) == 40
    assert CheckInTally.objects.filter(event=event).count() > 1
