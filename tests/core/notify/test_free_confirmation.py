"""A free ticket's confirmation says it is free once: "General Admission:
Free", not "General Admission at Free: Free"."""

import re
from decimal import Decimal

import pytest

from core.models import OutboundMessage
from core.notify.rendering import build_email
from core.services.checkout import place_order
from core.services.comps import issue_comp_tickets
from tests.core.notify.samples import new_york_event
from tests.factories import TicketTypeFactory, pay_simulated

pytestmark = pytest.mark.django_db


def _receipt_text(email) -> str:
    receipt = re.search(
        r"<table[^>]*data-receipt>.*?</table>", email.alternatives[0][0], re.S
    )
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", receipt.group(0)))


@pytest.fixture
def free_type():
    event = new_york_event(venue_capacity=10)
    return TicketTypeFactory(
        event=event, name="General Admission", price=Decimal("0.00"), capacity=10
    )


def test_free_tickets_taken_on_the_buy_page_say_free_once(free_type):
    order = place_order(
        event_id=free_type.event_id,
        quantities={free_type.id: 2},
        customer_name="Ana",
        customer_email="ana@example.com",
    )
    pay_simulated(order)
    email = build_email(
        OutboundMessage.objects.get(order=order, kind="order_confirmation")
    )

    assert "  2 × General Admission: Free\n" in email.body
    assert "at Free" not in email.body
    text = _receipt_text(email)
    assert "2 × General Admission Free" in text and "at Free" not in text


def test_free_guest_list_tickets_say_free_once(owner, free_type):
    order = issue_comp_tickets(
        actor=owner,
        event_id=free_type.event_id,
        ticket_type_id=free_type.id,
        quantity=2,
        guest_name="Guest",
        guest_email="guest@example.com",
    )
    email = build_email(
        OutboundMessage.objects.get(order=order, kind="order_confirmation")
    )

    assert "at Free" not in email.body
    assert "at Free" not in _receipt_text(email)
