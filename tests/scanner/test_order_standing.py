"""A partly refunded order says so wherever the owner looks, with what was
paid, refunded and kept: the order page, the orders list and the tickets
sent again; in the orders export's words (one rule)."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import OutboundMessage, Payment
from core.notify.rendering import build_email
from core.queries.exports import orders_export
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ")


@pytest.fixture
def order(db):
    """Two General tickets at €20.00 and one VIP at €49.50: €89.50 paid."""
    event = EventFactory(currency="eur", name="Review Night")
    general = TicketTypeFactory(event=event, name="General", price=Decimal("20.00"))
    vip = TicketTypeFactory(event=event, name="VIP", price=Decimal("49.50"))
    order = place_order(
        event_id=event.id,
        quantities={general.id: 2, vip.id: 1},
        customer_name="Maria Lopez",
        customer_email="maria@example.com",
    )
    fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference="pay-maria",
        amount=order.total,
        currency=order.currency,
    )
    order.refresh_from_db()
    return order


def _refund_the_vip_ticket(client, order):
    vip = order.tickets.get(ticket_type__name="VIP")
    return client.post(
        reverse("scanner:order_refund_tickets", args=[order.id]),
        {"ticket": [str(vip.pk)], "confirm": "yes"},
        follow=True,
    )


def test_the_order_page_says_partly_refunded_with_paid_refunded_and_net(
    client, owner, order
):
    client.force_login(owner)
    after = text_of(_refund_the_vip_ticket(client, order).content.decode())

    assert "Partly refunded" in after
    assert "The order now comes to €40.00 (€89.50 paid, €49.50 refunded)" in after
    page = client.get(reverse("scanner:order_detail", args=[order.id]))
    html = page.content.decode()
    assert 'data-order-status="partly-refunded"' in html
    assert 'data-order-status="paid"' not in html
    text = text_of(html)
    assert "Paid €89.50" in text
    assert "Refunded €49.50" in text
    assert "Net €40.00" in text


def test_the_refund_message_adds_up_with_a_payment_sent_back(client, owner, order):
    # The order was paid twice; the second payment went back automatically.
    Payment.objects.create(
        order=order,
        provider="simulated",
        provider_reference="pay-maria-again",
        amount=order.total,
        currency=order.currency,
        status=Payment.Status.REFUNDED,
        refunded_at=timezone.now(),
    )
    client.force_login(owner)
    after = text_of(_refund_the_vip_ticket(client, order).content.decode())

    assert (
        "The order now comes to €40.00 (€179.00 paid, €49.50 refunded,"
        " €89.50 sent back automatically)"
    ) in after


def test_the_orders_list_says_partly_refunded_and_the_net_amount(client, owner, order):
    untouched = make_paid_order(TicketTypeFactory(price=Decimal("30.00")))
    client.force_login(owner)
    _refund_the_vip_ticket(client, order)

    html = client.get(reverse("scanner:orders")).content.decode()

    row = html[html.index(f'data-order="{order.code}"') :]
    row = text_of(row[: row.index("</tr>")])
    assert "Partly refunded" in row
    assert "€40.00 net" in row and "€89.50 paid · €49.50 refunded" in row
    other = html[html.index(f'data-order="{untouched.code}"') :]
    other = text_of(other[: other.index("</tr>")])
    assert "Paid" in other and "$30.00" in other and "net" not in other


def test_the_list_the_page_and_the_export_say_the_same(client, owner, order):
    client.force_login(owner)
    _refund_the_vip_ticket(client, order)

    export = orders_export(order.event)
    row = next(iter(export.rows))
    status = row[export.header.index("Status")]

    assert status == "Partly refunded"
    html = client.get(reverse("scanner:order_detail", args=[order.id])).content
    assert status in text_of(html.decode())


def test_tickets_sent_again_after_a_partial_refund_say_the_net_amount(
    client, owner, order
):
    client.force_login(owner)
    _refund_the_vip_ticket(client, order)
    client.post(
        reverse("scanner:order_resend", args=[order.id]),
        {"to": order.customer_email, "correct": "yes"},
    )
    resent = OutboundMessage.objects.filter(
        order=order, kind="order_confirmation"
    ).latest("pk")

    email = build_email(resent)
    html = email.alternatives[0][0]

    assert f"Order: {order.code} · €40.00\nRefunded: €49.50" in email.body
    assert f"Order: {order.code} · €89.50" not in email.body
    assert "€40.00" in html and "Refunded: €49.50" in html


def test_a_confirmation_of_an_order_with_nothing_refunded_says_its_total(order):
    first = OutboundMessage.objects.get(order=order, kind="order_confirmation")

    body = build_email(first).body

    assert f"Order: {order.code} · €89.50\n" in body
    assert "Refunded" not in body


def test_a_fully_refunded_order_comes_to_zero_not_free(client, owner, order):
    """Money moved and came to nothing: "€0.00 net", never "Free", which is
    a price (the orders list, the order page, the refund's message)."""
    from core.services.orders import refund_tickets

    client.force_login(owner)
    general = order.tickets.filter(ticket_type__name="General").order_by("code")
    refund_tickets(order_id=order.id, ticket_ids=[general[0].pk, general[1].pk])
    response = _refund_the_vip_ticket(client, order)

    message = text_of(response.content.decode())
    assert "The order now comes to €0.00 (€89.50 paid, €89.50 refunded)" in message
    assert "Free" not in message
    listing = text_of(client.get(reverse("scanner:orders")).content.decode())
    assert "€0.00 net" in listing and "Free net" not in listing
    page = text_of(
        client.get(reverse("scanner:order_detail", args=[order.id])).content.decode()
    )
    assert "Net €0.00" in page and "Free" not in page
