"""Why a message did not go out, as the owner reads it."""

import pytest

from core.models import OutboundMessage
from core.notify.delivery import send_due_messages
from core.notify.outbox import queue_email, queue_sms
from core.notify.reasons import plain_reason

SENDGRID_BAD_TO = (
    'PermanentDeliveryError: SendGrid 400: b\'{"errors":[{"message":'
    '"The to email does not contain a valid address.","field":'
    '"personalizations.0.to.0.email","help":"http://sendgrid.com/docs/API_Reference'
    "/Web_API_v3/Mail/errors.html#message.personalizations.to\"}]}'"
)
SENDGRID_BAD_KEY = (
    'PermanentDeliveryError: SendGrid 401: b\'{"errors":[{"message":'
    '"The provided authorization grant is invalid, expired, or revoked",'
    '"field":null,"help":null}]}\''
)
SENDGRID_BAD_SENDER = (
    'PermanentDeliveryError: SendGrid 403: b\'{"errors":[{"message":'
    '"The from address does not match a verified Sender Identity.",'
    '"field":"from","help":null}]}\''
)


@pytest.mark.parametrize(
    ("error", "channel", "retrying", "reason"),
    [
        (SENDGRID_BAD_TO, "email", False, "The email address was refused as invalid."),
        (
            SENDGRID_BAD_KEY,
            "email",
            False,
            "The email service refused our credentials — check SENDGRID_API_KEY.",
        ),
        (SENDGRID_BAD_SENDER, "email", False, "refused our sender address"),
        (
            "DeliveryError: SendGrid unreachable: [Errno 111] Connection refused",
            "email",
            True,
            "Could not reach the email service; it will be retried.",
        ),
        (
            'DeliveryError: SendGrid 503: b\'{"errors":[{"message":"x"}]}\'',
            "email",
            False,
            "Could not reach the email service, even after several tries",
        ),
        (
            "PermanentDeliveryError: Twilio 400 (error 21211): Unable to create"
            " record: The 'To' number +1555 is not a valid phone number.",
            "sms",
            False,
            "The phone number was refused as invalid.",
        ),
        (
            # A row written before the code was recorded.
            "PermanentDeliveryError: Twilio 400: Unable to create record:"
            " The 'To' number +1555 is not a valid phone number.",
            "sms",
            False,
            "The phone number was refused as invalid.",
        ),
        (
            "PermanentDeliveryError: Twilio 400 (error 21614): Unable to create"
            " record: 'To' number is not a valid mobile number",
            "sms",
            False,
            "The phone number cannot receive texts",
        ),
        (
            "PermanentDeliveryError: Twilio 400 (error 21610): Unable to create"
            " record: Attempt to send to unsubscribed recipient",
            "sms",
            False,
            "turned off our texts",
        ),
        (
            "PermanentDeliveryError: Twilio 401 (error 20003): Unable to create"
            " record: Authenticate",
            "sms",
            False,
            "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
        ),
        (
            '{"code": 21211, "message": "Invalid \'To\' Phone Number", "status": 400}',
            "sms",
            False,
            "The phone number was refused as invalid.",
        ),
        (
            "DeliveryError: Twilio unreachable: HTTPSConnectionPool timed out",
            "sms",
            True,
            "Could not reach the text service; it will be retried.",
        ),
        (
            "No template for this kind of message: emails/x_subject.txt",
            "email",
            False,
            "has no template",
        ),
        ("RuntimeError: something odd", "email", True, "it will be retried"),
        ("RuntimeError: something odd", "sms", False, "The text service refused"),
        ("", "email", False, ""),
    ],
)
def test_provider_errors_read_as_plain_reasons(error, channel, retrying, reason):
    said = plain_reason(error, channel=channel, retrying=retrying)
    assert reason in said if reason else said == ""
    assert "{" not in said and "b'" not in said


def _queue_email(event, to: str) -> OutboundMessage:
    context = {"name": "Rosa", "quantity": 1, "ticket_type": "Standing"}
    return queue_email(kind="waitlist_joined", to=to, event=event, context=context)


@pytest.mark.django_db
def test_sendgrids_refusal_of_an_address_reads_plainly(sendgrid_stub, event):
    sendgrid_stub.failure = lambda status: (
        400,
        {
            "errors": [
                {
                    "message": "The to email does not contain a valid address.",
                    "field": "personalizations.0.to.0.email",
                    "help": None,
                }
            ]
        },
        {},
    )
    sendgrid_stub.fail_status = 400
    _queue_email(event, "rosa@example,com")
    send_due_messages()
    message = OutboundMessage.objects.get()
    assert message.status == OutboundMessage.Status.FAILED
    assert "does not contain a valid address" in message.last_error
    assert message.error_reason == "The email address was refused as invalid."


@pytest.mark.django_db
def test_a_rejected_sendgrid_key_points_at_the_setting(sendgrid_stub, event):
    sendgrid_stub.fail_status = 401
    _queue_email(event, "rosa@example.com")
    send_due_messages()
    message = OutboundMessage.objects.get()
    assert "SENDGRID_API_KEY" in message.error_reason


@pytest.mark.django_db
def test_twilios_error_code_is_kept_and_read(twilio_stub, event):
    twilio_stub.fail_status = 400
    queue_sms(kind="waitlist_offer", to="+1555", event=event, context={})
    send_due_messages()
    message = OutboundMessage.objects.get()
    assert "(error 21211)" in message.last_error
    assert message.error_reason == "The phone number was refused as invalid."


@pytest.mark.django_db
def test_an_outage_is_said_to_be_retried_until_the_worker_gives_up(
    sendgrid_stub, event
):
    sendgrid_stub.fail_status = 503
    _queue_email(event, "rosa@example.com")
    send_due_messages()
    message = OutboundMessage.objects.get()
    assert message.status == OutboundMessage.Status.QUEUED
    assert message.error_reason == (
        "Could not reach the email service; it will be retried."
    )
    message.status = OutboundMessage.Status.FAILED
    assert "even after several tries" in message.error_reason
