"""The change history says a cancellation and an order's status in the
owner's words, and every message kind has a name on the Messages page."""

import re

import pytest

from core.models import OutboundMessage
from core.services.event_cancellation import cancel_event
from core.services.orders import refund_order
from tests.factories import make_paid_order

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ")


def _changes(client, event) -> str:
    return text_of(client.get(f"/scanner/events/{event.id}/changes/").content.decode())


def test_a_cancellation_reads_in_words(client, owner, ticket_type):
    make_paid_order(ticket_type, 2)
    cancel_event(actor=owner, event_id=ticket_type.event_id, reason="The artist is ill")
    client.force_login(owner)

    text = _changes(client, ticket_type.event)

    assert "Cancelled the event" in text
    assert "Reason The artist is ill" in text
    assert "Ticket holders told 1" in text
    assert "event.cancel" not in text and "Orders told" not in text


def test_an_orders_status_reads_in_words(client, owner, ticket_type):
    order = make_paid_order(ticket_type, 1)
    refund_order(order_id=order.id, reason="asked", actor=owner)
    client.force_login(owner)

    text = _changes(client, ticket_type.event)

    assert "Status Paid → Refunded" in text


@pytest.mark.parametrize("kind", ["event_cancelled", "event_cancelled_waitlist"])
def test_the_cancellation_messages_have_names(kind):
    label = OutboundMessage(kind=kind).kind_label

    assert label.startswith("Event cancelled (")
