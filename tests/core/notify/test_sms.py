import logging

import pytest

from core.notify.errors import DeliveryError, PermanentDeliveryError
from core.notify.sms import send_sms


def test_without_twilio_a_text_is_only_logged(caplog):
    with caplog.at_level(logging.INFO, logger="core.notify.sms"):
        assert send_sms(to="+34600000000", body="hello") == "logged"
    assert "hello" in caplog.text


def test_a_refused_number_is_a_permanent_failure(twilio_stub):
    twilio_stub.fail_status = 400
    with pytest.raises(PermanentDeliveryError, match="400"):
        send_sms(to="+1", body="x")


def test_a_twilio_outage_is_worth_retrying(twilio_stub):
    twilio_stub.fail_status = 503
    with pytest.raises(DeliveryError) as raised:
        send_sms(to="+34600000000", body="x")
    assert not isinstance(raised.value, PermanentDeliveryError)
