from decimal import Decimal

import pytest

from core.exceptions import InvalidRequest, PermissionRefused, SoldOut
from core.models import AuditLogEntry, Order, OutboundMessage, Payment
from core.queries.availability import get_event_availability
from core.services.comps import issue_comp_tickets
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
