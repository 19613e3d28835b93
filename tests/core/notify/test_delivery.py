import base64
import logging
import threading
from datetime import timedelta
from email.mime.image import MIMEImage

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from core.models import OutboundMessage
from core.notify import delivery
from core.notify.delivery import retry_delay, send_due_messages
from core.notify.outbox import queue_email
from core.tickets.qr import qr_png
from core.tickets.signing import verify_ticket_code
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_order(settings):
    settings.PUBLIC_BASE_URL = "https://tickets.example.com"
    event = EventFactory(
        name="Perreo Fridays", venue="Sala Apolo, Barcelona", time_zone="Europe/Madrid"
    )
    ticket_type = TicketTypeFactory(event=event, name="VIP")
    order = make_paid_order(ticket_type, 2, name="Ana & Co")
    order.customer_phone = "+34600000000"
    order.save()
    return order


def test_confirmation_email_has_html_text_qr_images_and_calendar(paid_order):
    report = send_due_messages()
    assert report.sent == 1
    (email,) = mail.outbox
    assert email.to == ["buyer@example.com"]
    assert "Perreo Fridays" in email.subject and paid_order.code in email.subject
    # Plain text is not HTML-escaped; links are absolute.
    assert "Hi Ana & Co," in email.body
    assert f"https://tickets.example.com/buy/o/{paid_order.token}/" in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    tickets = list(paid_order.tickets.all())
    images = [a for a in email.attachments if isinstance(a, MIMEImage)]
    assert len(images) == len(tickets) == 2
    for ticket in tickets:
        assert f"https://tickets.example.com/buy/t/{ticket.token}/" in html
        assert f'src="cid:qr-{ticket.code}"' in html
    cids = {image["Content-ID"] for image in images}
    assert cids == {f"<qr-{t.code}>" for t in tickets}
    # Each image is the QR of that ticket's signed payload, as the door reads it.
    by_cid = {image["Content-ID"]: image.get_payload(decode=True) for image in images}
    for ticket in tickets:
        assert by_cid[f"<qr-{ticket.code}>"] == qr_png(ticket.qr_payload)
        assert verify_ticket_code(ticket.qr_payload).ticket_code == ticket.code
    (ics,) = [a for a in email.attachments if not isinstance(a, MIMEImage)]
    filename, content, mimetype = ics
    assert filename.endswith(".ics") and mimetype == "text/calendar"
    assert "BEGIN:VEVENT" in content and "SUMMARY:Perreo Fridays" in content
    assert "LOCATION:Sala Apolo\\, Barcelona" in content
    message = OutboundMessage.objects.get(channel="email")
    assert message.status == OutboundMessage.Status.SENT and message.sent_at


def test_sms_with_the_tickets_link_goes_through_twilio(paid_order, twilio_stub):
    OutboundMessage.objects.create(
        channel="sms",
        kind="order_tickets_link",
        to=paid_order.customer_phone,
        order=paid_order,
        event=paid_order.event,
        next_attempt_at=timezone.now(),
    )
    send_due_messages()
    (call,) = twilio_stub.calls("POST", r"/2010-04-01/Accounts/AC0+/Messages\.json")
    assert call.form["To"] == "+34600000000"
    assert call.form["From"] == "+15005550006"
    assert f"https://tickets.example.com/buy/o/{paid_order.token}/" in call.form["Body"]
    expected = base64.b64encode(b"AC" + b"0" * 32 + b":test-token").decode()
    assert call.headers["authorization"] == f"Basic {expected}"
    sms = OutboundMessage.objects.get(channel="sms", to="+34600000000")
    assert sms.status == "sent" and sms.provider_id.startswith("SM")


def test_a_refused_number_is_kept_for_the_owner_but_not_logged(
    paid_order, twilio_stub, caplog
):
    """Twilio quotes the number it refused; the log is the operator's."""
    twilio_stub.failure = lambda status: (
        status,
        {
            "code": 21211,
            "message": "The 'To' number +34600000000 is not a valid phone number.",
            "status": status,
        },
        {},
    )
    twilio_stub.fail_status = 400
    OutboundMessage.objects.create(
        channel="sms",
        kind="order_tickets_link",
        to="600 000 000",
        order=paid_order,
        event=paid_order.event,
        next_attempt_at=timezone.now(),
    )
    with caplog.at_level(logging.DEBUG, logger="core"):
        send_due_messages()
    sms = OutboundMessage.objects.get(channel="sms")
    assert sms.status == OutboundMessage.Status.FAILED
    assert "+34600000000 is not a valid" in sms.last_error
    assert sms.error_reason == "The phone number was refused as invalid."
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert f"Message {sms.pk} refused" in line
    assert "Twilio 400 (error 21211)" in line and "<phone>" in line
    assert "600000000" not in caplog.text and "600 000 000" not in caplog.text


def test_an_address_in_a_providers_error_is_kept_for_the_owner_but_not_logged(
    paid_order, sendgrid_stub, caplog
):
    sendgrid_stub.failure = lambda status: (
        status,
        {"errors": [{"message": "Mailbox buyer@example.com is over quota"}]},
        {},
    )
    sendgrid_stub.fail_status = 503
    with caplog.at_level(logging.DEBUG, logger="core"):
        send_due_messages()
    message = OutboundMessage.objects.get(channel="email")
    assert message.status == OutboundMessage.Status.QUEUED
    assert "buyer@example.com" in message.last_error
    (line,) = [r.getMessage() for r in caplog.records if "retried" in r.getMessage()]
    assert f"Message {message.pk} will be retried" in line
    assert "SendGrid 503" in line and "Mailbox <recipient> is" in line
    assert "buyer@example.com" not in caplog.text


def test_a_failed_send_is_retried_with_growing_delays_then_given_up(
    paid_order, sendgrid_stub
):
    sendgrid_stub.fail_status = 503
    message = OutboundMessage.objects.get(channel="email")
    now = timezone.now()
    delays = []
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        report = send_due_messages(now=now)
        message.refresh_from_db()
        assert message.attempts == attempt
        assert "503" in message.last_error
        if attempt < delivery.MAX_ATTEMPTS:
            assert report.retrying == 1
            assert message.status == OutboundMessage.Status.QUEUED
            delays.append(message.next_attempt_at - now)
            # Not due before its time.
            assert (
                send_due_messages(
                    now=message.next_attempt_at - timedelta(seconds=1)
                ).attempted
                == 0
            )
            now = message.next_attempt_at
    assert message.status == OutboundMessage.Status.FAILED
    assert delays == [retry_delay(n) for n in range(1, delivery.MAX_ATTEMPTS)]
    assert delays == sorted(delays) and delays[0] < delays[-1]


def test_a_message_the_provider_refuses_fails_at_once(paid_order, sendgrid_stub):
    sendgrid_stub.fail_status = 400
    report = send_due_messages()
    assert report.failed == 1
    message = OutboundMessage.objects.get(channel="email")
    assert message.status == OutboundMessage.Status.FAILED
    assert message.attempts == 1


def test_an_outage_delays_a_message_but_never_drops_it(paid_order, sendgrid_stub):
    sendgrid_stub.fail_status = 500
    send_due_messages()
    sendgrid_stub.fail_status = None
    later = timezone.now() + timedelta(minutes=5)
    assert send_due_messages(now=later).sent == 1
    assert len(sendgrid_stub.calls("POST", "/v3/mail/send")) == 2


def test_a_kind_without_templates_fails_visibly(ticket_type):
    queue_email(kind="no_such_kind", to="a@example.com", event=ticket_type.event)
    send_due_messages()
    message = OutboundMessage.objects.get()
    assert message.status == OutboundMessage.Status.FAILED
    assert "No template" in message.last_error


def test_run_worker_once_sends_and_sweeps(paid_order):
    call_command("run_worker", "--once")
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_claim_the_same_message(postgres):
    event = EventFactory()
    for n in range(40):
        queue_email(kind="no_such_kind", to=f"p{n}@example.com", event=event)
    claimed: list[list[int]] = []
    start = threading.Barrier(4)

    def work():
        try:
            start.wait()
            rows = delivery.claim_due_messages(now=timezone.now(), limit=15)
            claimed.append([row.pk for row in rows])
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [pk for batch in claimed for pk in batch]
    assert len(every) == len(set(every)) == 40
    assert set(OutboundMessage.objects.values_list("attempts", flat=True)) == {1}
