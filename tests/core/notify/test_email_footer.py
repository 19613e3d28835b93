"""Every customer's email says who sent it and how to ask a question: a
footer naming the organisation and, with SUPPORT_EMAIL, "Questions? Reply to
this email", and a From name that is the organisation's, not "Tickets"."""

import re

import pytest

from core.models import OutboundMessage
from core.notify.rendering import build_email
from core.services.event_cancellation import cancel_event
from tests.core.notify.samples import queue_every_kind

pytestmark = pytest.mark.django_db

ASK = "Questions? Reply to this email, or write to help@bluenote.example."


def _html_text(email) -> str:
    html = re.sub(r"</?(?:strong|span|a)\b[^>]*>", "", email.alternatives[0][0])
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


def _every_email(owner) -> dict[str, object]:
    messages = queue_every_kind()
    event_id = messages[("email", "order_confirmation")].event_id
    cancel_event(actor=owner, event_id=event_id, reason="The artist is ill")
    emails = {
        kind: build_email(message)
        for (channel, kind), message in messages.items()
        if channel == "email"
    }
    for kind in ("event_cancelled", "event_cancelled_waitlist"):
        emails[kind] = build_email(
            OutboundMessage.objects.filter(kind=kind, channel="email").first()
        )
    return emails


@pytest.fixture
def blue_note(settings):
    settings.ORGANISATION_NAME = "Blue Note Bar"
    settings.DEFAULT_FROM_EMAIL = "tickets@bluenote.example"


def test_every_customer_email_says_who_sent_it_and_how_to_ask(
    owner, settings, blue_note
):
    settings.SUPPORT_EMAIL = "help@bluenote.example"
    emails = _every_email(owner)
    assert len(emails) >= 9

    for kind, email in emails.items():
        if kind == "staff_invite":
            assert ASK not in email.body  # staff ask the owner
            continue
        assert "Sent by Blue Note Bar" in email.body, kind
        assert ASK in email.body, kind
        if email.alternatives:
            html = _html_text(email)
            assert "Sent by Blue Note Bar" in html, kind
            assert ASK in html, kind
            assert 'href="mailto:help@bluenote.example"' in email.alternatives[0][0]
    cancelled = emails["event_cancelled"].body
    assert cancelled.index("We're sorry.") < cancelled.index(ASK)


def test_without_a_support_address_no_reply_is_promised(owner, settings, blue_note):
    settings.SUPPORT_EMAIL = ""
    for kind, email in _every_email(owner).items():
        assert "Reply to this email" not in email.body, kind
        if kind != "staff_invite":
            assert "Sent by Blue Note Bar" in email.body, kind


def test_the_from_name_is_the_organisation(owner, settings, blue_note):
    email = _every_email(owner)["order_confirmation"]
    assert email.from_email == "Blue Note Bar <tickets@bluenote.example>"
    assert email.message()["From"] == "Blue Note Bar <tickets@bluenote.example>"

    settings.DEFAULT_FROM_EMAIL = "Box Office <tickets@bluenote.example>"
    message = OutboundMessage.objects.filter(kind="order_confirmation").first()
    assert build_email(message).from_email == "Box Office <tickets@bluenote.example>"
