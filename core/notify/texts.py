"""Whether texts are set up, without importing Twilio (core.notify.sms, the
only module that does, is the worker's): the buy form asks for a phone
number only when a text to it can go somewhere."""

from django.conf import settings


def twilio_configured() -> bool:
    return bool(
        settings.TWILIO_ACCOUNT_SID
        and settings.TWILIO_AUTH_TOKEN
        and settings.TWILIO_FROM_NUMBER
    )


def texts_can_be_sent() -> bool:
    """Through Twilio, or to the log under DEBUG (core.notify.sms.send_sms);
    otherwise a text queued now fails."""
    return twilio_configured() or settings.DEBUG
