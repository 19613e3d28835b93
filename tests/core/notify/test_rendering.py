"""What the customer reads: subjects, text parts and texts as rendered."""

import pytest
from django.utils import timezone

from core.models import OutboundMessage
from core.notify.rendering import build_email, build_sms
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def jacks_order():
    event = EventFactory(name="Rock & Roll at Jack's", slug="rock-and-roll")
    ticket_type = TicketTypeFactory(event=event, name="Early <bird>")
    return make_paid_order(ticket_type, 1, name="Ana O'Neil")


def test_plain_text_parts_are_not_html_escaped(jacks_order):
    message = jacks_order.messages.get(kind="order_confirmation")
    email = build_email(message)
    assert email.subject == (
        f"Your tickets for Rock & Roll at Jack's · order {jacks_order.code}"
    )
    assert "Hi Ana O'Neil," in email.body
    assert "Early <bird>" in email.body
    for text in (email.subject, email.body):
        assert "&amp;" not in text and "&#x27;" not in text and "&lt;" not in text
    # The HTML part still escapes, as HTML must.
    html, _ = email.alternatives[0]
    assert "Rock &amp; Roll at Jack&#x27;s" in html
    assert "Early &lt;bird&gt;" in html


def test_texts_are_not_html_escaped(jacks_order):
    message = OutboundMessage.objects.create(
        channel=OutboundMessage.Channel.SMS,
        kind="waitlist_offer",
        to="+34600000000",
        event=jacks_order.event,
        context={
            "quantity": 2,
            "offer_hours": 24,
            "claim_url": "https://tickets.example.com/buy/w/abc/?a=1&b=2",
        },
        next_attempt_at=timezone.now(),
    )
    text = build_sms(message)
    assert text.startswith("Rock & Roll at Jack's: 2 ticket(s)")
    assert text.endswith("https://tickets.example.com/buy/w/abc/?a=1&b=2")


def test_a_waitlist_email_subject_is_not_html_escaped(jacks_order):
    message = OutboundMessage.objects.create(
        channel=OutboundMessage.Channel.EMAIL,
        kind="waitlist_joined",
        to="ana@example.com",
        event=jacks_order.event,
        context={"name": "Ana O'Neil", "quantity": 1, "position": 1},
        next_attempt_at=timezone.now(),
    )
    email = build_email(message)
    assert email.subject == "You're on the waitlist for Rock & Roll at Jack's"
    assert "Ana O'Neil" in email.body and "&#x27;" not in email.body
