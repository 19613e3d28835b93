import logging

import pytest
from django.utils import timezone

from core.models import OutboundMessage, Role
from core.notify.delivery import send_due_messages
from core.notify.errors import DeliveryError, PermanentDeliveryError
from core.notify.sms import send_sms
from core.services.staff import invite_staff


@pytest.fixture
def no_twilio(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    settings.TWILIO_FROM_NUMBER = ""


def test_without_twilio_under_debug_a_text_is_only_logged(settings, no_twilio, caplog):
    """`make run` (DEBUG on) prints texts instead of sending them."""
    settings.DEBUG = True
    with caplog.at_level(logging.INFO, logger="core.notify.sms"):
        assert send_sms(to="+34600000000", body="hello") == "logged"
    assert "hello" in caplog.text


def test_without_twilio_in_production_a_text_is_refused_unlogged(
    settings, no_twilio, caplog
):
    settings.DEBUG = False
    with (
        caplog.at_level(logging.DEBUG, logger="core"),
        pytest.raises(PermanentDeliveryError, match="Texts are not set up"),
    ):
        send_sms(to="+34600000000", body="https://x.test/buy/o/secret-token/")
    assert "secret-token" not in caplog.text and "600000000" not in caplog.text


@pytest.mark.django_db
def test_an_invitation_text_without_twilio_fails_visibly_and_stays_out_of_the_log(
    settings, no_twilio, owner, caplog
):
    settings.DEBUG = False
    invite = invite_staff(
        actor=owner, email="co-owner@example.com", role=Role.OWNER, phone="+34612345678"
    )
    with caplog.at_level(logging.DEBUG, logger="core"):
        report = send_due_messages(now=timezone.now())
    assert (report.sent, report.failed) == (1, 1)  # the email went; the text did not
    sms = OutboundMessage.objects.get(channel="sms")
    assert sms.status == OutboundMessage.Status.FAILED and sms.attempts == 1
    assert "Texts are not set up: TWILIO_* settings are missing" in sms.last_error
    assert sms.error_reason.startswith(
        "Texts are not set up: TWILIO_* settings are missing"
    )
    assert invite.token not in caplog.text
    assert "/scanner/invite/" not in caplog.text
    assert "612345678" not in caplog.text
    assert f"Message {sms.pk} refused" in caplog.text


def test_a_refused_number_is_a_permanent_failure(twilio_stub):
    twilio_stub.fail_status = 400
    with pytest.raises(PermanentDeliveryError, match="400"):
        send_sms(to="+1", body="x")


def test_a_twilio_outage_is_worth_retrying(twilio_stub):
    twilio_stub.fail_status = 503
    with pytest.raises(DeliveryError) as raised:
        send_sms(to="+34600000000", body="x")
    assert not isinstance(raised.value, PermanentDeliveryError)
