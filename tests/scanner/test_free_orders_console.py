"""Free tickets taken on the buy page (a type priced 0) are cancelled, as the
owner's comps are, never refunded: on the order's page, in its status, in
analytics and when their event is cancelled."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.exceptions import InvalidRequest
from core.models import AuditLogEntry, Order, Refund, Ticket
from core.queries import analytics
from core.services.comps import cancel_comp_tickets
from core.services.event_cancellation import cancel_event, settle_cancelled_events
from core.services.orders import refund_order, refund_tickets
from tests.core.queries.test_free_tickets_counted import rsvp
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def free_type():
    event = EventFactory(starts_at=timezone.now() + dt.timedelta(days=10))
    return TicketTypeFactory(
        event=event, name="FREE RSVP", price=Decimal("0.00"), capacity=50
    )


def test_a_free_order_is_cancelled_not_refunded(free_type, owner):
    order = rsvp(free_type, 2)

    with pytest.raises(InvalidRequest) as refused:
        refund_order(order_id=order.id, actor=owner)
    assert refused.value.code == "free_tickets"
    with pytest.raises(InvalidRequest):
        refund_tickets(order_id=order.id, ticket_ids=[order.tickets.first().pk])

    cancel_comp_tickets(order_id=order.id, actor=owner)

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert not Refund.objects.filter(order=order).exists()
    assert AuditLogEntry.objects.filter(action="comp.cancel").exists()
    assert not AuditLogEntry.objects.filter(action__startswith="order.").exists()


def test_the_order_page_offers_to_cancel_free_tickets_bought_online(
    client, owner, free_type
):
    order = rsvp(free_type, 2)
    client.force_login(owner)

    html = client.get(reverse("scanner:order_detail", args=[order.id])).text

    assert ">Free tickets<" in html and 'data-order-status="paid"' not in html
    assert "data-cancel-comp" in html and "data-refund>" not in html
    assert "Refund order" not in html and "Refund ticked tickets" not in html

    first = order.tickets.order_by("code").first()
    response = client.post(
        reverse("scanner:order_refund_tickets", args=[order.id]),
        {"confirm": "yes", "ticket": [str(first.id)]},
        follow=True,
    )

    assert "1 free ticket cancelled" in response.text
    assert "Refunded" not in response.text and "Free paid" not in response.text
    assert "Free tickets, some cancelled" in response.text
    first.refresh_from_db()
    assert first.status == Ticket.Status.VOID
    figures = analytics.event_sales(free_type.event).figures
    assert (figures.free, figures.free_cancelled) == (1, 1)
    assert figures.refunds == analytics.Refunds()


def test_cancelling_an_event_cancels_its_free_orders(free_type, owner):
    order = rsvp(free_type, 1)
    paid_type = TicketTypeFactory(event=free_type.event, price=Decimal("10.00"))
    paid = make_paid_order(paid_type, 1)
    cancel_event(actor=owner, event_id=free_type.event_id, reason="Storm")

    settle_cancelled_events()

    order.refresh_from_db()
    paid.refresh_from_db()
    assert (order.status, paid.status) == (
        Order.Status.CANCELLED,
        Order.Status.REFUNDED,
    )
    assert not Refund.objects.filter(order=order).exists()
    figures = analytics.event_sales(free_type.event).figures
    assert figures.free_cancelled == 1
    assert figures.refunds == analytics.Refunds(amount=Decimal("10.00"), tickets=1)


def test_a_free_ticket_of_a_paid_order_is_cancelled_in_words(client, owner, free_type):
    from core.services.checkout import place_order
    from core.services.fulfilment import fulfil_order

    ga = TicketTypeFactory(event=free_type.event, name="GA", price=Decimal("20.00"))
    order = place_order(
        event_id=ga.event_id,
        quantities={ga.id: 1, free_type.id: 1},
        customer_name="Mia",
        customer_email="mia@example.com",
    )
    fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference=f"sim-{order.code}",
        amount=order.total,
        currency=order.currency,
    )
    free_ticket = order.tickets.get(ticket_type=free_type)
    client.force_login(owner)

    response = client.post(
        reverse("scanner:order_refund_tickets", args=[order.id]),
        {"confirm": "yes", "ticket": [str(free_ticket.id)]},
        follow=True,
    )

    assert "Cancelled 1 free ticket" in response.text
    assert "Refunded Free" not in response.text
    assert "Nothing was paid for it, so nothing goes back." in response.text


def _csv(client, name, event):
    import csv
    import io

    response = client.get(reverse(f"scanner:{name}", args=[event.id]))
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def test_the_exports_say_free_and_cancelled_not_paid_and_refunded(
    client, owner, free_type
):
    """Free tickets taken online, and the owner's comps, some cancelled."""
    from core.services.comps import issue_comp_tickets

    order = rsvp(free_type, 2)
    comp = issue_comp_tickets(
        actor=owner,
        event_id=free_type.event_id,
        ticket_type_id=TicketTypeFactory(
            event=free_type.event, name="VIP", price=Decimal("40.00")
        ).id,
        quantity=2,
        guest_name="Gil",
        guest_email="gil@example.com",
    )
    whole = rsvp(free_type, 1, email="whole@example.com")
    for some in (order, comp):
        cancel_comp_tickets(order_id=some.id, ticket_ids=[some.tickets.first().pk])
    cancel_comp_tickets(order_id=whole.id)
    paid = make_paid_order(free_type.event.ticket_types.get(name="VIP"), 1)
    client.force_login(owner)

    orders = {
        row["Order"]: row
        for row in _csv(client, "analytics_export_orders", free_type.event)
    }
    zone = free_type.event.time_zone
    for some in (order, comp):
        row = orders[some.code]
        assert (row["Status"], row[f"Paid at ({zone})"]) == (
            "Free tickets, some cancelled",
            "",
        )
        assert (row["Amount refunded"], row["Net amount"]) == ("0.00", "0.00")
    assert orders[whole.code]["Status"] == "Free tickets cancelled"
    assert orders[paid.code]["Status"] == "Paid"
    assert orders[paid.code][f"Paid at ({zone})"]

    guests = _csv(client, "analytics_export_guests", free_type.event)
    statuses = sorted(row["Status"] for row in guests)
    assert statuses == ["Cancelled"] * 3 + ["Valid"] * 3
    assert "Refunded" not in statuses

    listing = client.get(reverse("scanner:orders")).text
    assert listing.count("Free tickets, some cancelled") == 2
    assert "Partly refunded" not in listing
