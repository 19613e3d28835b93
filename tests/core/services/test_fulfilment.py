from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Order, OutboundMessage, Ticket
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order
from core.tickets.signing import verify_ticket_code
from tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db


def _pay(order, reference="pay_1", now=None):
    return fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference=reference,
        amount=order.total,
        currency=order.currency,
        now=now,
    )


def _hold(ticket_type, quantity=2, phone=""):
    return place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: quantity},
        customer_name="Ana",
        customer_email="ana@example.com",
        customer_phone=phone,
    )


def test_fulfilment_issues_one_signed_ticket_per_admission(ticket_type):
    order = _hold(ticket_type, 2, phone="+34600000000")
    result = _pay(order)
    assert result.issued
    tickets = list(order.tickets.all())
    assert len(tickets) == 2
    for ticket in tickets:
        assert verify_ticket_code(ticket.qr_payload).ticket_code == ticket.code
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 2
    assert set(OutboundMessage.objects.values_list("channel", flat=True)) == {
        "email",
        "sms",
    }


def test_fulfilment_is_idempotent_across_duplicates(ticket_type):
    order = _hold(ticket_type, 2)
    _pay(order, "pay_1")
    again = _pay(order, "pay_1")
    also = _pay(order, "pay_2")
    assert not again.issued and not also.issued
    assert Ticket.objects.count() == 2
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 2
    assert OutboundMessage.objects.filter(channel="email").count() == 1


def test_late_payment_is_fulfilled_when_seats_remain(ticket_type):
    order = _hold(ticket_type, 1)
    result = _pay(order, now=timezone.now() + timedelta(hours=2))
    assert result.issued and not result.needs_refund


def test_late_payment_needs_refund_when_seats_are_gone():
    ticket_type = TicketTypeFactory(capacity=1)
    late = _hold(ticket_type, 1)
    later = timezone.now() + timedelta(hours=1)
    other = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Ben",
        customer_email="ben@example.com",
        now=later,
    )
    _pay(other, "pay_other", now=later)
    result = _pay(late, "pay_late", now=later)
    assert result.needs_refund and not result.issued
    assert late.tickets.count() == 0
    late.refresh_from_db()
    assert late.status == Order.Status.EXPIRED


def test_lock_order_gives_the_orders_row_as_the_orm_would():
    """Its SELECT ... FOR UPDATE is hand-written; the instance must not differ."""
    import uuid

    from django.db import transaction

    from core.services.locks import lock_order

    ticket_type = TicketTypeFactory(price="12.34")
    order = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 2},
        customer_name="Ada",
        customer_email="ada@example.com",
    )
    orm = Order.objects.get(pk=order.pk)
    with transaction.atomic():
        locked = lock_order(str(order.pk), nowait=True)
        with pytest.raises(Order.DoesNotExist):
            lock_order(uuid.uuid4())
    fields = [f.attname for f in Order._meta.concrete_fields]
    assert [getattr(locked, f) for f in fields] == [getattr(orm, f) for f in fields]
    assert not locked._state.adding
