"""The SendGrid backend over HTTP, against a local stand-in for SendGrid's API."""

import base64

import pytest
from django.core.mail import EmailMultiAlternatives

from core.models import OutboundMessage
from core.notify.delivery import send_due_messages
from tests.factories import make_paid_order

pytestmark = pytest.mark.django_db


def test_confirmation_goes_to_sendgrid_with_inline_qr_codes(sendgrid_stub, ticket_type):
    order = make_paid_order(ticket_type, 2)
    send_due_messages()
    (call,) = sendgrid_stub.calls("POST", "/v3/mail/send")
    assert call.headers["authorization"] == "Bearer SG.test-key"
    body = call.json
    assert body["personalizations"][0]["to"] == [{"email": "buyer@example.com"}]
    assert order.code in body["subject"]
    contents = {c["type"]: c["value"] for c in body["content"]}
    assert "text/plain" in contents and "text/html" in contents
    inline = [a for a in body["attachments"] if a["disposition"] == "inline"]
    assert {a["content_id"] for a in inline} == {
        f"qr-{t.code}" for t in order.tickets.all()
    }
    for attachment in inline:
        assert attachment["type"] == "image/png"
        assert base64.b64decode(attachment["content"]).startswith(b"\x89PNG")
        assert f"cid:{attachment['content_id']}" in contents["text/html"]
    (ics,) = [a for a in body["attachments"] if a["disposition"] == "attachment"]
    assert ics["type"] == "text/calendar"
    assert b"BEGIN:VCALENDAR" in base64.b64decode(ics["content"])
    message = OutboundMessage.objects.get(channel="email")
    assert message.status == "sent" and message.provider_id.startswith("sg-msg-")


def test_plain_django_mail_works_through_the_backend(sendgrid_stub):
    email = EmailMultiAlternatives(
        "Hi", "Text body", "from@example.com", ["to@example.com"]
    )
    email.attach_alternative("<p>Html</p>", "text/html")
    assert email.send() == 1
    body = sendgrid_stub.requests[0].json
    assert body["from"]["email"] == "from@example.com"
