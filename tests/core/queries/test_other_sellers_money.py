"""Tickets other sellers sold (the external channel's webhook) were paid to
them: voiding them (a cancelled event) gives nothing back through the
owner's payments, so it is not a refund of the owner's; the seller refunds
their buyers. Their money is shown apart from the owner's card payments."""

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import AuditLogEntry
from core.queries import analytics
from core.queries.console import event_audit_log
from core.queries.money import money_of_orders
from core.services.event_cancellation import cancel_event, settle_cancelled_events
from core.services.external_sales import record_external_sale
from core.services.orders import refund_tickets
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def sold_elsewhere(ticket_type, quantity=2, total="36.00"):
    return record_external_sale(
        external_order_id=str(uuid.uuid4()),
        event_name=ticket_type.event.name,
        ticket_type_name=ticket_type.name,
        quantity=quantity,
        customer_email="ext@example.com",
        customer_name="Ext Buyer",
        payment_reference=f"seller-{uuid.uuid4().hex[:8]}",
        price_paid=Decimal(total),
    ).order


@pytest.fixture
def ga():
    event = EventFactory(
        name="Seller Night",
        currency="gbp",
        starts_at=timezone.now() + dt.timedelta(days=10),
    )
    return TicketTypeFactory(event=event, name="GA", price=Decimal("20.00"))


def test_other_sellers_sales_are_shown_apart_from_the_owners(ga):
    make_paid_order(ga, 2)
    sold_elsewhere(ga)

    figures = analytics.event_sales(ga.event).figures

    assert figures.taken == Decimal("76.00")
    assert figures.other_sellers == Decimal("36.00")
    assert figures.revenue == Decimal("76.00")


def test_voiding_other_sellers_sales_is_not_a_refund_of_the_owners(client, owner, ga):
    card = make_paid_order(ga, 2)
    elsewhere = sold_elsewhere(ga)
    cancel_event(actor=owner, event_id=ga.event_id, reason="Flood")

    settle_cancelled_events()

    figures = analytics.event_sales(ga.event).figures
    assert figures.refunds == analytics.Refunds(amount=Decimal("40.00"), tickets=2)
    assert figures.voided_elsewhere == analytics.VoidedElsewhere(
        amount=Decimal("36.00"), tickets=2
    )
    assert figures.revenue == Decimal("0.00")
    overview = analytics.event_figures_for([ga.event])[ga.event.id]
    assert overview == figures

    money = money_of_orders([card.pk, elsewhere.pk])
    assert (money[card.pk].refunded, money[card.pk].voided_elsewhere) == (
        Decimal("40.00"),
        Decimal("0.00"),
    )
    theirs = money[elsewhere.pk]
    assert (theirs.taken, theirs.refunded, theirs.voided_elsewhere, theirs.net) == (
        Decimal("36.00"),
        Decimal("0.00"),
        Decimal("36.00"),
        Decimal("0.00"),
    )

    client.force_login(owner)
    response = client.get(
        reverse("scanner:analytics_export_orders", args=[ga.event_id])
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = {row["Order"]: row for row in csv.DictReader(io.StringIO(body))}
    row = rows[elsewhere.code]
    assert row["Status"] == "Voided: the other seller refunds"
    assert (row["Amount refunded"], row["Voided, other seller refunds"]) == (
        "0.00",
        "36.00",
    )
    assert row["Net amount"] == "0.00"
    assert row[f"Refunded at ({ga.event.time_zone})"]  # when it was voided
    assert sum(Decimal(r["Net amount"]) for r in rows.values()) == figures.revenue

    assert not AuditLogEntry.objects.filter(
        action="order.refund", object_id=str(elsewhere.pk)
    ).exists()
    words = [(r.action, r.subject) for r in event_audit_log(ga.event)]
    assert ("Voided a sale by another seller", f"{elsewhere.code} · Ext Buyer") in words

    listing = client.get(reverse("scanner:orders")).text
    assert "Voided: the other seller refunds" in listing


def test_some_tickets_of_another_sellers_sale_voided(ga):
    elsewhere = sold_elsewhere(ga, quantity=2, total="36.00")
    refund_tickets(order_id=elsewhere.id, ticket_ids=[elsewhere.tickets.first().pk])

    figures = analytics.event_sales(ga.event).figures
    assert figures.refunds == analytics.Refunds()
    assert figures.voided_elsewhere == analytics.VoidedElsewhere(
        amount=Decimal("18.00"), tickets=1
    )
    assert figures.revenue == Decimal("18.00")
    money = money_of_orders([elsewhere.pk])[elsewhere.pk]
    assert (money.refunded, money.voided_elsewhere) == (Decimal("0"), Decimal("18.00"))


def test_the_analytics_pages_split_other_sellers_money(client, owner, ga):
    make_paid_order(ga, 2)
    elsewhere = sold_elsewhere(ga)
    refund_tickets(order_id=elsewhere.id, ticket_ids=[elsewhere.tickets.first().pk])
    client.force_login(owner)

    page = client.get(reverse("scanner:analytics_event", args=[ga.event_id])).text
    overview = client.get(reverse("scanner:analytics")).text

    for html in (page, overview):
        assert "of which £36.00 sold by other sellers" in html
        assert "£18.00 voided, other sellers refund" in html
    assert "£0.00 refunded" in page and "0 tickets refunded" in page
    assert "Sold by other sellers" in page and "£40.00 through your payments" in page
    order_page = client.get(reverse("scanner:order_detail", args=[elsewhere.id])).text
    assert "Partly voided: the other seller refunds" in order_page
    assert 'data-money="voided-elsewhere"' in order_page


def test_the_order_page_voids_another_sellers_sale_and_says_who_refunds(
    client, owner, ga
):
    elsewhere = sold_elsewhere(ga, quantity=2, total="36.00")
    client.force_login(owner)
    url = reverse("scanner:order_detail", args=[elsewhere.id])

    html = client.get(url).text
    assert "data-void-elsewhere" in html and "data-refund>" not in html
    assert "customer&#x27;s card" not in html
    response = client.post(
        reverse("scanner:order_refund_tickets", args=[elsewhere.id]),
        {"confirm": "yes", "ticket": [str(elsewhere.tickets.first().id)]},
        follow=True,
    )
    assert "Voided 1 ticket sold by another seller" in response.text
    assert "Refunded" not in response.text
    response = client.post(
        reverse("scanner:order_refund", args=[elsewhere.id]),
        {"confirm": "yes"},
        follow=True,
    )
    assert f"Order {elsewhere.code} voided" in response.text
    assert "back to the customer" not in response.text
    assert "Voided: the other seller refunds" in response.text
