"""SMS through Twilio (the only module that imports it).

Without Twilio settings a text is written to the log instead when DEBUG is
on, which is what local development (`make run`) wants. With DEBUG off it is
refused (TextsNotSetUp), so the message shows as failed on the staff
messages page instead of as sent, and no number, ticket link or invitation
link reaches the log. TWILIO_API_BASE points the SDK at a local stand-in in
tests. A send that gets no answer within PROVIDER_TIMEOUT_SECONDS fails as one
to try again.
"""

import logging

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from core.notify.errors import (
    DeliveryError,
    PermanentDeliveryError,
    is_permanent_status,
)
from core.notify.texts import twilio_configured

logger = logging.getLogger(__name__)

TEXTS_NOT_SET_UP = "Texts are not set up: TWILIO_* settings are missing"


class TextsNotSetUp(PermanentDeliveryError):
    """No Twilio settings outside DEBUG: the text cannot go anywhere."""

    def __init__(self) -> None:
        super().__init__(TEXTS_NOT_SET_UP)


def _client() -> Client:
    # Twilio's HTTP client waits for ever by default.
    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=settings.PROVIDER_TIMEOUT_SECONDS),
    )
    if settings.TWILIO_API_BASE:
        client.api.base_url = settings.TWILIO_API_BASE.rstrip("/")
    return client


def send_sms(*, to: str, body: str) -> str:
    """Send one text; returns the provider's message id ("logged" without
    Twilio under DEBUG). Raises TextsNotSetUp without Twilio otherwise."""
    if not twilio_configured():
        if not settings.DEBUG:
            raise TextsNotSetUp()
        # Local development only: the body holds ticket and invitation links.
        logger.info("SMS to %s (Twilio not configured): %s", to, body)
        return "logged"
    try:
        message = _client().messages.create(
            to=to, from_=settings.TWILIO_FROM_NUMBER, body=body
        )
    except TwilioRestException as exc:
        # Twilio's error code (21211: not a valid number...) says more than
        # the status; core.notify.reasons reads it.
        code = f" (error {exc.code})" if exc.code and exc.code != exc.status else ""
        error = f"Twilio {exc.status}{code}: {exc.msg}"
        if is_permanent_status(exc.status):
            raise PermanentDeliveryError(error) from exc
        raise DeliveryError(error) from exc
    except (TwilioException, OSError) as exc:
        raise DeliveryError(f"Twilio unreachable: {exc}") from exc
    return message.sid
