"""What the customer reads: subjects, text parts and texts as rendered."""

from datetime import UTC, datetime
from email.mime.image import MIMEImage

import pytest
from django.utils import timezone

from core.models import OutboundMessage
from core.notify.rendering import build_email, build_sms, message_context
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
    assert text.startswith("Rock & Roll at Jack's, ")
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
    assert "Rock & Roll at Jack's" in email.body and "&#x27;" not in email.body
    # Whatever name was typed on the form stays out: nobody confirmed the address.
    assert "Ana O'Neil" not in email.body and email.body.startswith("Hello,")


def _tree(part) -> list:
    """A MIME part as [content type, children...]: the shape a mail app reads."""
    if not part.is_multipart():
        return part.get_content_type()
    return [part.get_content_type(), *map(_tree, part.get_payload())]


def test_qr_images_travel_with_the_html_they_illustrate(jacks_order):
    """In multipart/related with the HTML (RFC 2387), not loose beside it,
    where Apple Mail and Outlook repeat every QR code below the message."""
    second = make_paid_order(jacks_order.lines.get().ticket_type, 2)
    message = second.messages.get(kind="order_confirmation")
    email = build_email(message)
    raw = email.message()
    assert _tree(raw) == [
        "multipart/mixed",
        [
            "multipart/alternative",
            "text/plain",
            ["multipart/related", "text/html", "image/png", "image/png"],
        ],
        "text/calendar",
    ]
    related = raw.get_payload()[0].get_payload()[1]
    assert related.get_param("type") == "text/html"
    html = related.get_payload()[0].get_payload(decode=True).decode()
    for image in related.get_payload()[1:]:
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html
        assert image.get_content_disposition() == "inline"
    # Backends that build their own message (SendGrid) still find them.
    assert sum(isinstance(a, MIMEImage) for a in email.attachments) == 2


def test_the_html_email_says_when_doors_open_as_the_text_does():
    event = EventFactory(
        name="Doors Night",
        time_zone="Europe/Madrid",
        starts_at=datetime(2037, 12, 4, 20, 0, tzinfo=UTC),
        doors_at=datetime(2037, 12, 4, 19, 0, tzinfo=UTC),
    )
    order = make_paid_order(TicketTypeFactory(event=event), 1)
    email = build_email(order.messages.get(kind="order_confirmation"))
    html, _ = email.alternatives[0]
    assert "Friday 4 December 2037 · 21:00 CET · doors 20:00" in html
    assert "doors 20:00" in email.body


def test_the_emails_name_the_event_zone_as_customers_know_it():
    """CET, not Europe/Madrid: the tz database's ids mean nothing to buyers."""
    event = EventFactory(
        time_zone="Europe/Madrid", starts_at=datetime(2037, 7, 4, 20, 0, tzinfo=UTC)
    )
    order = make_paid_order(TicketTypeFactory(event=event), 1)
    email = build_email(order.messages.get(kind="order_confirmation"))
    html, _ = email.alternatives[0]
    assert "Saturday 4 July 2037, 22:00 CEST" in email.body
    assert "22:00 CEST" in html
    assert "Europe/Madrid" not in email.body + html


def test_a_message_keeps_what_it_was_queued_with(jacks_order, settings):
    """What is known of the order now never replaces the row's own context:
    a refund notice lists the tickets refunded, not those still valid."""
    message = OutboundMessage.objects.create(
        channel=OutboundMessage.Channel.EMAIL,
        kind="order_confirmation",
        to="ana@example.com",
        order=jacks_order,
        context={"tickets": [], "order_url": "https://example.com/kept"},
        next_attempt_at=timezone.now(),
    )
    settings.ORGANISATION_NAME = "Blue Note Bar"
    context = message_context(message)
    assert context["tickets"] == []
    assert context["order_url"] == "https://example.com/kept"
    assert context["lines"] and context["organisation_name"] == "Blue Note Bar"
