"""refund_order refuses free tickets (comps): they are cancelled through
cancel_comp_tickets, which the console already uses for them."""

import pytest

from core.exceptions import InvalidRequest
from core.models import AuditLogEntry, Order, OutboundMessage, Ticket
from core.queries.availability import get_event_availability
from core.services.comps import issue_comp_tickets
from core.services.orders import refund_order
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


def test_refund_order_refuses_free_tickets_and_changes_nothing(owner):
    event = EventFactory()
    vip = TicketTypeFactory(event=event, capacity=10)
    order = issue_comp_tickets(
        actor=owner,
        event_id=event.id,
        ticket_type_id=vip.id,
        quantity=2,
        guest_name="Gil",
        guest_email="gil@example.com",
    )
    messages_before = OutboundMessage.objects.count()
    audit_before = AuditLogEntry.objects.count()

    with pytest.raises(InvalidRequest) as refused:
        refund_order(order_id=order.id, reason="oops", actor=owner)

    assert "cancel_comp_tickets" in refused.value.message
    assert "free tickets" in refused.value.message.lower()
    assert "nothing changed" in refused.value.message
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.filter(status=Ticket.Status.ISSUED).count() == 2
    assert get_event_availability(event).total_sold == 2
    assert OutboundMessage.objects.count() == messages_before
    assert AuditLogEntry.objects.count() == audit_before
