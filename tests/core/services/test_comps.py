from decimal import Decimal

import pytest

from core.exceptions import (
    InvalidRequest,
    OrderNotRefundable,
    PermissionRefused,
    SoldOut,
)
from core.models import AuditLogEntry, Order, OutboundMessage, Payment, Refund, Ticket
from core.notify.rendering import build_email
from core.queries.availability import get_event_availability
from core.services.comps import cancel_comp_tickets, issue_comp_tickets
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def _comp(actor, ticket_type, quantity=2, **overrides):
    values = {
        "guest_name": "Guest Star",
        "guest_email": "Guest@Example.com",
        "guest_phone": "",
    } | overrides
    return issue_comp_tickets(
        actor=actor,
        event_id=ticket_type.event_id,
        ticket_type_id=ticket_type.id,
        quantity=quantity,
        **values,
    )


def test_comps_are_free_paid_orders_counted_against_capacity_and_emailed(owner):
    ticket_type = TicketTypeFactory(capacity=5, price=Decimal("40.00"))
    order = _comp(owner, ticket_type, 2)
    assert (order.status, order.source, order.total) == (
        Order.Status.PAID,
        Order.Source.COMP,
        Decimal("0.00"),
    )
    assert [t.price_paid for t in order.tickets.all()] == [Decimal("0.00")] * 2
    payment = Payment.objects.get(order=order)
    assert (payment.provider, payment.provider_reference) == (
        "comp",
        f"comp-{order.id}",
    )
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 2
    assert get_event_availability(ticket_type.event).types[0].available == 3
    message = OutboundMessage.objects.get(order=order)
    assert (message.kind, message.to) == ("order_confirmation", "guest@example.com")
    entry = AuditLogEntry.objects.get(action="comp.issue")
    assert entry.actor == owner and entry.after["quantity"] == 2


def test_comps_cannot_exceed_capacity(owner):
    ticket_type = TicketTypeFactory(capacity=3)
    make_paid_order(ticket_type, 2)
    with pytest.raises(SoldOut) as caught:
        _comp(owner, ticket_type, 2)
    assert caught.value.detail["field"] == "quantity"
    assert not Order.objects.filter(source=Order.Source.COMP).exists()


def test_comps_work_for_inactive_events_and_ignore_max_per_order(owner):
    event = EventFactory(is_active=False)
    ticket_type = TicketTypeFactory(event=event, max_per_order=1)
    assert _comp(owner, ticket_type, 4).tickets.count() == 4


def test_only_the_owner_issues_comps(manager):
    ticket_type = TicketTypeFactory()
    with pytest.raises(PermissionRefused):
        _comp(manager, ticket_type)


@pytest.mark.parametrize(
    ("quantity", "overrides", "field"),
    [
        (0, {}, "quantity"),
        (51, {}, "quantity"),
        (1, {"guest_email": "not-an-email"}, "guest_email"),
        (1, {"guest_name": " "}, "guest_name"),
        (1, {"guest_phone": "call me"}, "guest_phone"),
    ],
)
def test_bad_comp_input_is_refused_with_its_field(owner, quantity, overrides, field):
    ticket_type = TicketTypeFactory()
    with pytest.raises(InvalidRequest) as caught:
        _comp(owner, ticket_type, quantity, **overrides)
    assert caught.value.detail["field"] == field
    assert not Order.objects.exists()


def test_a_type_of_another_event_is_refused(owner):
    ticket_type = TicketTypeFactory()
    other = TicketTypeFactory()
    with pytest.raises(InvalidRequest):
        issue_comp_tickets(
            actor=owner,
            event_id=ticket_type.event_id,
            ticket_type_id=other.id,
            quantity=1,
            guest_name="A",
            guest_email="a@example.com",
        )


def test_cancelling_free_tickets_frees_the_places_and_moves_no_money(owner):
    ticket_type = TicketTypeFactory(capacity=5, price=Decimal("40.00"))
    order = _comp(owner, ticket_type, 2, guest_name="Gil")

    cancelled = cancel_comp_tickets(
        order_id=order.id, reason="Plans changed", actor=owner
    )

    assert cancelled.status == Order.Status.CANCELLED
    assert set(order.tickets.values_list("status", flat=True)) == {Ticket.Status.VOID}
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 0
    assert get_event_availability(ticket_type.event).types[0].available == 5
    assert not Refund.objects.filter(order=order).exists()
    assert not OutboundMessage.objects.filter(
        order=order, kind__in=["order_refunded", "tickets_refunded"]
    ).exists()
    email = build_email(OutboundMessage.objects.get(order=order, kind="comp_cancelled"))
    text = email.body + email.alternatives[0][0]
    assert "Your guest-list place for" in email.subject
    assert "cancelled your place on the guest list" in email.body
    assert "Reason: Plans changed." in email.body
    assert "refund" not in text.lower() and "statement" not in text.lower()
    entry = AuditLogEntry.objects.get(action="comp.cancel")
    assert entry.actor == owner
    assert (entry.before["status"], entry.after["status"]) == ("paid", "cancelled")
    assert len(entry.after["tickets_cancelled"]) == 2
    # Asked again (a double click): nothing more happens.
    assert cancel_comp_tickets(order_id=order.id, actor=owner).status == "cancelled"
    assert AuditLogEntry.objects.filter(action="comp.cancel").count() == 1


def test_cancelling_some_free_tickets_keeps_the_others(owner):
    ticket_type = TicketTypeFactory(capacity=5)
    order = _comp(owner, ticket_type, 2)
    first, second = order.tickets.order_by("code")

    kept = cancel_comp_tickets(order_id=order.id, ticket_ids=[first.id], actor=owner)

    assert kept.status == Order.Status.PAID
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Ticket.Status.VOID, Ticket.Status.ISSUED)
    email = OutboundMessage.objects.get(order=order, kind="comp_cancelled")
    assert email.context["tickets_left"] == 1
    # The status did not move, so the audit log does not say "paid -> paid".
    entry = AuditLogEntry.objects.get(action="comp.cancel")
    assert "status" not in entry.before and "status" not in entry.after


def test_a_paid_order_is_refunded_not_cancelled_as_free_tickets(owner):
    paid = make_paid_order(TicketTypeFactory(capacity=5), 1)

    with pytest.raises(OrderNotRefundable, match="refund it instead"):
        cancel_comp_tickets(order_id=paid.id, actor=owner)
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID
    assert not AuditLogEntry.objects.filter(action="comp.cancel").exists()
