"""An external channel's sale posted several times at once, on Postgres."""

import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction

from core.models import Order, OutboundMessage, Payment, Ticket
from core.services.external_sales import record_external_sale
from tests.core.services.test_concurrency import _run_threads
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_sale_posted_eight_times_at_once_is_one_sale(postgres):
    """The last seats: the copies that lose the race must find the order the
    first placed (not answer sold out for it), and record nothing more."""
    event = EventFactory(name="Perreo Fridays", venue_capacity=2)
    TicketTypeFactory(event=event, name="VIP", capacity=2)
    order_id = uuid.uuid4()

    def post(n: int):
        return record_external_sale(
            external_order_id=str(order_id),
            event_name="Perreo Fridays",
            ticket_type_name="VIP",
            quantity=2,
            customer_email="customer@example.com",
            customer_name="John Doe",
            payment_reference="pi_external_1",
            price_paid=Decimal("100.00"),
        )

    outcomes = _run_threads(8, post)

    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert errors == []
    assert sum(o.result.issued for o in outcomes) == 1
    assert not any(o.result.needs_refund for o in outcomes)
    assert {o.order.pk for o in outcomes} == {order_id}
    assert Order.objects.count() == 1 and Ticket.objects.count() == 2
    assert list(Payment.objects.values_list("provider_reference", "status")) == [
        ("pi_external_1", "succeeded")
    ]
    assert OutboundMessage.objects.filter(kind="order_confirmation").count() == 1


def _sale(order_id, email: str):
    return record_external_sale(
        external_order_id=str(order_id),
        event_name="Race Night",
        ticket_type_name="GA",
        quantity=1,
        customer_email=email,
        customer_name="X",
        payment_reference="pi_shared",
    )


def test_two_orders_posted_at_once_with_one_payment_reference(postgres):
    """The second orderId passes the 'reference already recorded' read while
    the first's payment is uncommitted, then waits for the locks: it is
    refused (409 payment_reference_taken) with nothing kept, not issued
    tickets with the first order's payment for its own."""
    event = EventFactory(name="Race Night", venue_capacity=10)
    TicketTypeFactory(event=event, name="GA", capacity=10)
    first_id, second_id = uuid.uuid4(), uuid.uuid4()
    first_done, first_commit = threading.Event(), threading.Event()
    out = {}

    def first():
        try:
            with transaction.atomic():
                out["first"] = _sale(first_id, "a@example.com")
                first_done.set()
                first_commit.wait(10)
        except Exception as exc:  # asserted on below
            out["first"] = exc
        finally:
            connection.close()

    def second():
        try:
            out["second"] = _sale(second_id, "b@example.com")
        except Exception as exc:  # asserted on below
            out["second"] = exc
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert first_done.wait(10)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(1.0)  # past the unlocked read, waiting for the event's lock
    first_commit.set()
    one.join(10)
    two.join(20)

    assert out["first"].result.issued
    refused = out["second"]
    assert getattr(refused, "code", None) == "payment_reference_taken", refused
    assert refused.http_status == 409
    assert not Order.objects.filter(pk=second_id).exists()
    assert list(Payment.objects.values_list("order_id", "provider_reference")) == [
        (first_id, "pi_shared")
    ]
    assert Ticket.objects.filter(order_id=first_id).count() == Ticket.objects.count()
