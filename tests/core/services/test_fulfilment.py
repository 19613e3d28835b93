from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.models import Order, OutboundMessage, Payment, Ticket
from core.services.checkout import place_order
from core.services.fulfilment import (
    ExternalPaymentNotKept,
    PaymentReferenceTaken,
    fulfil_order,
)
from core.tickets.signing import verify_ticket_code
from tests.factories import TicketTypeFactory, count_held_seats
from tests.factories import pay_simulated as _pay

pytestmark = pytest.mark.django_db


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


def _issued_rows(order) -> dict:
    """What paying `order` wrote, without what differs between any two orders."""
    own = {"id", "code", "token", "qr_payload", "order_id", "provider_reference"}

    def values(obj) -> dict:
        return {
            f.attname: getattr(obj, f.attname)
            for f in type(obj)._meta.concrete_fields
            if f.attname not in own and not f.attname.endswith("_at")
        }

    order.refresh_from_db()
    return {
        "order": {
            k: v
            for k, v in values(order).items()
            if k not in ("customer_name", "stripe_payment_intent_id")
        },
        "times": (order.paid_at, order.hold_expires_at),
        "payments": [values(p) for p in order.payments.all()],
        "tickets": sorted(
            str({k: v for k, v in values(t).items() if not k.startswith("guest_name")})
            for t in order.tickets.all()
        ),
        "messages": [
            values(m)
            for m in OutboundMessage.objects.filter(order=order).order_by("id")
        ],
    }


def test_the_one_statement_writes_what_the_locks_path_writes(postgres, monkeypatch):
    """core_fulfil_order (ADR 14) against the Python path, row for row."""
    from core.services import fulfilment

    first_type = TicketTypeFactory(capacity=10, price="12.50")
    second_type = TicketTypeFactory(event=first_type.event, capacity=10, price="3.00")
    now = timezone.now()

    def hold_and_pay(name: str):
        order = place_order(
            event_id=first_type.event_id,
            quantities={first_type.id: 2, second_type.id: 1},
            customer_name=name,
            customer_email="ana@example.com",
            customer_phone="+34600000000",
            now=now,
        )
        result = fulfil_order(
            order_id=order.id,
            provider="stripe",
            provider_reference=f"pi_{name}",
            amount=order.total,
            currency="EUR",
            provider_event_id="evt_1",
            now=now,
        )
        assert result.issued and result.order.status == Order.Status.PAID
        return order

    under_locks = fulfilment._fulfil_under_locks

    def not_here(**kwargs):
        raise AssertionError("core_fulfil_order declined a plain payment")

    monkeypatch.setattr(fulfilment, "_fulfil_under_locks", not_here)
    in_database = hold_and_pay("Ana")
    monkeypatch.setattr(fulfilment, "_fulfil_under_locks", under_locks)
    monkeypatch.setattr(fulfilment, "_fulfil_in_database", lambda *args, **kwargs: None)
    in_python = hold_and_pay("Ben")
    database_rows, python_rows = _issued_rows(in_database), _issued_rows(in_python)
    assert database_rows == python_rows
    assert in_database.stripe_payment_intent_id == "pi_Ana"
    assert len(database_rows["tickets"]) == 3 and len(database_rows["messages"]) == 2
    for ticket in in_database.tickets.all():
        assert verify_ticket_code(ticket.qr_payload).ticket_code == ticket.code
    first_type.refresh_from_db()
    second_type.refresh_from_db()
    assert (first_type.sold_count, second_type.sold_count) == (4, 2)
    first_type.event.refresh_from_db()
    assert first_type.event.sold_count == 6


def test_an_order_changed_since_it_was_read_is_paid_as_it_is_now(ticket_type):
    """The caller's read of the order builds the rows; under the lock it must
    still be the order's, or the tickets are built again from the row."""
    order = _hold(ticket_type, 2)
    Order.objects.filter(pk=order.pk).update(customer_email="new@example.com")
    result = _pay(order, order=order)  # as read before the change
    assert result.issued
    assert {t.guest_email for t in order.tickets.all()} == {"new@example.com"}
    assert OutboundMessage.objects.get(order=order).to == "new@example.com"
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 2


def test_a_payment_recorded_already_issues_nothing_from_the_one_statement(
    ticket_type,
):
    """A payment turned away before (refunded) must not issue when it comes
    again for an order that is still pending."""
    order = _hold(ticket_type, 1)
    Payment.objects.create(
        order=order,
        provider="simulated",
        provider_reference="pay_1",
        amount=order.total,
        currency=order.currency.lower(),
        status=Payment.Status.REFUNDED,
    )
    result = _pay(order, "pay_1")
    assert not result.issued and not result.needs_refund
    assert order.tickets.count() == 0
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_a_pending_order_without_a_hold_gets_no_seat_someone_else_holds():
    """Read while it held its seat, then left pending with no hold (no code
    does this today): it holds nothing, so its payment must not take the
    seat another order now holds (on Postgres, a NULL the one statement
    must not take for a live hold)."""
    ticket_type = TicketTypeFactory(capacity=1)
    first = _hold(ticket_type, 1)
    Order.objects.filter(pk=first.pk).update(hold_expires_at=None)
    _hold(ticket_type, 1)  # the seat, free again, goes to someone else
    result = _pay(first, order=first)  # as read while it held the seat
    assert not result.issued and result.needs_refund
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 0 and first.tickets.count() == 0


def test_an_order_without_lines_is_paid_with_no_tickets(ticket_type):
    order = _hold(ticket_type, 1)
    order.lines.all().delete()
    count_held_seats()
    result = _pay(order)
    assert result.issued
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.tickets.count() == 0
    ticket_type.event.refresh_from_db()
    assert ticket_type.event.sold_count == 0


def test_a_late_external_payment_after_the_seats_went_is_refused_not_refund_due():
    """The lapsed-hold path: an external payment is never marked refund_due;
    the call raises and nothing of it (payment, expiry) is kept."""
    ticket_type = TicketTypeFactory(capacity=1)
    late = _hold(ticket_type, 1)
    later = timezone.now() + timedelta(hours=2)
    other = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Ben",
        customer_email="ben@example.com",
        now=later,
    )
    _pay(other, "pay_other", now=later)
    with pytest.raises(ExternalPaymentNotKept), transaction.atomic():
        fulfil_order(
            order_id=late.id,
            provider=Payment.Provider.EXTERNAL,
            provider_reference="ext_late",
            amount=late.total,
            currency=late.currency,
            now=later,
        )
    assert not Payment.objects.filter(provider_reference="ext_late").exists()
    late.refresh_from_db()
    assert late.status == Order.Status.PENDING
    assert not Ticket.objects.filter(order=late).exists()


def _pay_external(order, reference):
    return fulfil_order(
        order_id=order.id,
        provider=Payment.Provider.EXTERNAL,
        provider_reference=reference,
        amount=order.total,
        currency=order.currency,
    )


def test_another_orders_external_payment_reference_is_refused(ticket_type):
    """An external channel's payment reference recorded for one order (in
    the race, while the other call waited for the locks) pays that order
    only: the second is refused and nothing of it is kept, not issued with
    no payment of its own."""
    first = _hold(ticket_type, 1)
    assert _pay_external(first, "pi_shared").issued
    second = _hold(ticket_type, 1)
    with pytest.raises(PaymentReferenceTaken) as refused, transaction.atomic():
        _pay_external(second, "pi_shared")
    assert refused.value.code == "payment_reference_taken"
    assert refused.value.http_status == 409
    second.refresh_from_db()
    assert second.status == Order.Status.PENDING
    assert not Ticket.objects.filter(order=second).exists()
    assert list(Payment.objects.values_list("order_id", flat=True)) == [first.id]


def test_another_orders_provider_payment_issues_nothing(ticket_type):
    """A provider's payment recorded for another order does not pay this one."""
    first = _hold(ticket_type, 1)
    _pay(first, "pi_one")
    second = _hold(ticket_type, 1)
    result = _pay(second, "pi_one")
    assert not result.issued and not result.needs_refund
    second.refresh_from_db()
    assert second.status == Order.Status.PENDING
    assert not Ticket.objects.filter(order=second).exists()
