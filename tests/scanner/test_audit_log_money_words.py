"""The change history of orders and invitations in the owner's words:
amounts as money in the event's currency, a status only when it changed,
and an invitation's events only where the role has a choice of events."""

import re
from decimal import Decimal

import pytest

from core.models import AuditLogEntry, Role
from core.queries.console import describe_entry, staff_audit_log
from core.services.orders import refund_order, refund_tickets
from core.services.staff import invite_staff
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ")


def _changes(client, event) -> str:
    return text_of(client.get(f"/scanner/events/{event.id}/changes/").content.decode())


def _euro_event():
    event = EventFactory(name="Money Night", currency="eur")
    general = TicketTypeFactory(event=event, price=Decimal("20.00"), capacity=50)
    return event, general


def test_an_order_refund_shows_its_total_as_money(client, owner):
    event, general = _euro_event()
    order = make_paid_order(general, 2)
    refund_order(order_id=order.id, reason="show moved", actor=owner)
    client.force_login(owner)

    text = _changes(client, event)

    assert "Refunded an order" in text
    assert "Total €40.00" in text
    assert "40.00 " not in text.replace("€40.00", "")


def test_a_partial_refund_shows_its_amount_and_no_unchanged_status(client, owner):
    event, general = _euro_event()
    order = make_paid_order(general, 2)
    refund_tickets(
        order_id=order.id, ticket_ids=[order.tickets.first().pk], actor=owner
    )
    client.force_login(owner)

    text = _changes(client, event)

    assert "Refunded some tickets of an order" in text
    assert "Amount €20.00" in text
    assert "Amount 20.00" not in text
    assert "Status" not in text.split("Refunded some tickets of an order")[1]


def test_a_status_that_changed_is_still_shown(client, owner):
    event, general = _euro_event()
    order = make_paid_order(general, 1)
    refund_tickets(
        order_id=order.id, ticket_ids=[order.tickets.first().pk], actor=owner
    )
    client.force_login(owner)

    text = _changes(client, event)

    assert "Status Paid → Refunded" in text


def test_a_managers_invitation_does_not_list_events(client, owner):
    """Managers and owners see every event by design: their invitation's
    history says the role, not "Events: All events"."""
    invite_staff(actor=owner, email="max@example.com", role=Role.MANAGER)
    invite_staff(actor=owner, email="dora@example.com", role=Role.DOOR)
    client.force_login(owner)

    rows = {row.subject: row for row in staff_audit_log()}
    manager = {c.label: c.after for c in rows["max@example.com"].changes}
    door = {c.label: c.after for c in rows["dora@example.com"].changes}
    text = text_of(client.get("/scanner/staff/").content.decode())

    assert manager["Role"] == "Manager"
    assert "Events" not in manager
    # Door staff may be limited to some events: none chosen is every event.
    assert door["Events"] == "All events"
    assert text.count("Events All events") == 1


def test_an_empty_list_that_is_not_events_never_reads_all_events(owner):
    event, _ = _euro_event()
    entry = AuditLogEntry.objects.create(
        action="order.refund_tickets",
        object_type="order",
        object_id="1",
        object_repr="ABC",
        event=event,
        before={"status": "paid"},
        after={"status": "paid", "amount": "0.00", "tickets_voided": []},
    )

    changes = {c.label: c for c in describe_entry(entry).changes}

    assert "All events" not in changes["Tickets voided"].after
    assert changes["Amount"].after == "€0.00"
    assert "Status" not in changes
