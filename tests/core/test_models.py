from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core.models import Order, Payment, Ticket, TicketType
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def test_ticket_type_price_cannot_be_negative(event):
    with pytest.raises(IntegrityError), transaction.atomic():
        TicketTypeFactory(event=event, price=Decimal("-1.00"))


def test_ticket_type_name_is_unique_per_event(event):
    TicketTypeFactory(event=event, name="VIP")
    with pytest.raises(IntegrityError), transaction.atomic():
        TicketTypeFactory(event=event, name="VIP")
    TicketTypeFactory(name="VIP")  # same name at another event is fine


def test_event_name_is_unique():
    EventFactory(name="Same", slug="same-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory(name="Same", slug="same-2")


def test_sold_counter_cannot_exceed_capacity_in_the_database(ticket_type):
    with pytest.raises(IntegrityError), transaction.atomic():
        TicketType.objects.filter(pk=ticket_type.pk).update(
            sold_count=ticket_type.capacity + 1
        )


def test_order_status_must_be_a_known_value(ticket_type):
    order = make_paid_order(ticket_type)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(status="bogus")


def test_ticket_codes_and_tokens_are_unique_and_so_are_payloads(ticket_type):
    """A payload is signed over its code, so unique codes make unique payloads."""
    order = make_paid_order(ticket_type, 2)
    first, second = order.tickets.all()
    assert f".{first.code}." in first.qr_payload
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=second.pk).update(code=first.code)
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=second.pk).update(token=first.token)


def test_stripe_session_ids_are_unique(ticket_type):
    one = make_paid_order(ticket_type)
    two = make_paid_order(ticket_type)
    Order.objects.filter(pk=one.pk).update(stripe_checkout_session_id="cs_test_1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=two.pk).update(stripe_checkout_session_id="cs_test_1")


def test_payment_reference_is_recorded_once(ticket_type):
    order = make_paid_order(ticket_type)
    payment = order.payments.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            order=order,
            provider=payment.provider,
            provider_reference=payment.provider_reference,
            amount=payment.amount,
            currency=payment.currency,
            status="succeeded",
        )


def test_used_ticket_must_have_a_scan_time(ticket_type):
    ticket = make_paid_order(ticket_type).tickets.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(status="used")
