"""What a customer's email offers: a receipt of what was bought, at the
prices paid; buttons readable on their colour; a Reply-To the footer can
promise (SUPPORT_EMAIL), only on customers' emails."""

import re
from decimal import Decimal

import pytest

from core.models import OutboundMessage, TicketType
from core.notify.rendering import build_email
from core.services.checkout import place_order
from core.services.external_sales import record_external_sale
from tests.core.notify.samples import new_york_event, queue_every_kind
from tests.factories import TicketTypeFactory, pay_simulated

pytestmark = pytest.mark.django_db

# #ff3d7f under white text is 3.4:1; the site's buttons' #d81b60 is 4.9:1.
PALE_PINK = "#ff3d7f"
BUTTON_PINK = "#d81b60"


def _html(email) -> str:
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    return html


def _text_of(html: str) -> str:
    text = re.sub(r"<[^>]+>", " ", html).replace("&nbsp;", " ")
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def confirmation():
    """Two VIP at €50.00 and one GA at €25.00, paid: €125.00. The prices
    have gone up since."""
    event = new_york_event(
        name="Receipt Night", slug="receipt-night", currency="eur", venue_capacity=10
    )
    vip = TicketTypeFactory(event=event, name="VIP", price=Decimal("50.00"))
    ga = TicketTypeFactory(event=event, name="GA", price=Decimal("25.00"))
    order = place_order(
        event_id=event.id,
        quantities={vip.id: 2, ga.id: 1},
        customer_name="Ana",
        customer_email="ana@example.com",
    )
    pay_simulated(order)
    TicketType.objects.filter(pk=vip.pk).update(price=Decimal("70.00"))
    TicketType.objects.filter(pk=ga.pk).update(price=Decimal("35.00"))
    return build_email(
        OutboundMessage.objects.get(order=order, kind="order_confirmation")
    )


def test_the_confirmation_is_a_receipt_at_the_prices_paid(confirmation):
    body = confirmation.body
    assert "  2 × VIP at €50.00: €100.00\n" in body
    assert "  1 × GA: €25.00\n" in body
    assert re.search(r"Order: \w+ · €125\.00\n", body)
    assert "€70.00" not in body and "€35.00" not in body

    receipt = re.search(
        r"<table[^>]*data-receipt>.*?</table>", _html(confirmation), re.S
    )
    text = _text_of(receipt.group(0))
    assert "2 × VIP at €50.00 €100.00" in text
    assert "1 × GA €25.00" in text
    assert "Total €125.00" in text
    assert "€70.00" not in _html(confirmation)


@pytest.mark.parametrize(
    ("paid", "quantity", "line"),
    [("10.00", 3, "3 × GA: €10.00"), ("30.00", 3, "3 × GA at €10.00: €30.00")],
)
def test_an_external_sales_receipt_shows_only_true_figures(paid, quantity, line):
    """An external channel's price paid, 10.00 for 3, has no unit price in
    cents (3 at 3.33 is 9.99): the line says the total, with no unit price.
    One that splits evenly is listed at its unit price as any order."""
    event = new_york_event(
        name="Odd Split", slug="odd-split", currency="eur", venue_capacity=10
    )
    TicketTypeFactory(event=event, name="GA", price=Decimal("5.00"))
    sale = record_external_sale(
        external_order_id="11111111-1111-1111-1111-111111111111",
        event_name="Odd Split",
        ticket_type_name="GA",
        quantity=quantity,
        customer_email="c@example.com",
        customer_name="C",
        price_paid=Decimal(paid),
    )
    email = build_email(
        OutboundMessage.objects.get(order=sale.order, kind="order_confirmation")
    )
    assert f"  {line}\n" in email.body
    assert re.search(rf"Order: \w+ · €{paid}\n", email.body)
    receipt = re.search(r"<table[^>]*data-receipt>.*?</table>", _html(email), re.S)
    text = _text_of(receipt.group(0))
    assert line.replace(":", "") in text
    assert f"Total €{paid}" in text
    for shown in (email.body, _html(email)):
        assert "3.33" not in shown and "9.99" not in shown


def test_a_long_name_breaks_rather_than_widen_the_card(confirmation):
    """Hi Maximiliana Wolfeschlegelsteinhausenbergerdorff-Featherstonehaugh:
    one word wider than a 360px phone's card."""
    card = re.search(
        r'<table role="presentation"[^>]*max-width:560px[^>]*>', _html(confirmation)
    )
    assert "overflow-wrap:anywhere" in card.group(0)
    assert "word-break:break-word" in card.group(0)


def test_no_email_button_is_white_on_pale_pink(confirmation):
    emails = [confirmation] + [
        build_email(message)
        for (channel, _kind), message in queue_every_kind().items()
        if channel == "email"
    ]
    buttons = 0
    for email in emails:
        if not email.alternatives:
            continue
        html = _html(email)
        assert PALE_PINK not in html.lower()
        buttons += html.count(f"background:{BUTTON_PINK};color:#ffffff")
    assert buttons >= 4  # ticket buttons and the shared _button.html


def test_customer_emails_reply_to_the_support_address(confirmation, settings):
    assert confirmation.reply_to == []  # not set: as before

    settings.SUPPORT_EMAIL = "help@venue.example"
    messages = queue_every_kind()
    for (channel, kind), message in messages.items():
        if channel != "email":
            continue
        email = build_email(message)
        if kind == "staff_invite":
            # Staff ask the owner, not the customers' address.
            assert email.reply_to == [], kind
        else:
            assert email.reply_to == ["help@venue.example"], kind
            assert email.message()["Reply-To"] == "help@venue.example"
    assert ("email", "staff_invite") in messages
