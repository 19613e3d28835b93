"""An external channel's sale posted several times at once, on Postgres."""

import uuid
from decimal import Decimal

import pytest

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
