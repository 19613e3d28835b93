"""Why a message did not go out, in the owner's words.

The worker stores what the provider said in OutboundMessage.last_error, in
the shapes core.notify.delivery._describe gives the backends' errors:

    PermanentDeliveryError: SendGrid 400: b'{"errors":[{"message":"The to
        email does not contain a valid address.","field":"personalizations
        .0.to.0.email",...}]}'
    DeliveryError: SendGrid 503: b'...'
    DeliveryError: SendGrid unreachable: [Errno 111] Connection refused
    PermanentDeliveryError: Twilio 400 (error 21211): Unable to create
        record: The 'To' number is not valid.
    DeliveryError: Twilio unreachable: ...
    TextsNotSetUp: Texts are not set up: TWILIO_* settings are missing
    No template for this kind of message: emails/x_subject.txt

plain_reason turns those into one sentence the owner can act on; the raw
text stays on the row (and on the page, folded away) for whoever debugs it.
Matching is on the HTTP status, Twilio's error code and a few words of the
provider's message, so an older row without the code still reads well.
"""

import re

_HTTP_STATUS = re.compile(r"\b(?:SendGrid|Twilio) (\d{3})\b")
_TWILIO_CODE = re.compile(r"\(error (\d{5})\)|\"code\":\s*(\d{5})")

# Twilio error codes (https://www.twilio.com/docs/api/errors) for the To number.
_TWILIO_INVALID_NUMBER = {"21211", "21217", "21401", "21421"}
_TWILIO_NOT_TEXTABLE = {"21614", "21407", "21612"}
_TWILIO_BLOCKED = {"21610"}
_TWILIO_REGION = {"21408"}
_TWILIO_SENDER = {"21212", "21606", "21659", "21660", "21661"}
_TWILIO_CREDENTIALS = {"20003", "20005", "20404"}


def plain_reason(last_error: str, *, channel: str, retrying: bool) -> str:
    """One plain sentence for a failed or retrying send; "" when there is no error.

    `channel` is "email" or "sms"; `retrying` says whether the worker will
    try again by itself (otherwise it gave up and the message needs a resend).
    """
    text = (last_error or "").strip()
    if not text:
        return ""
    service = "text service" if channel == "sms" else "email service"
    if text.startswith("No template") or "TemplateDoesNotExist" in text:
        return (
            "This kind of message has no template, so it cannot be sent;"
            " please report it to whoever runs the site."
        )
    lowered = text.lower()
    if channel == "sms" and "texts are not set up" in lowered:
        # core.notify.sms.TextsNotSetUp: no Twilio settings on this site.
        return (
            "Texts are not set up: TWILIO_* settings are missing;"
            " resend it once whoever runs the site has set them."
        )
    status = _status(text)
    if channel == "sms":
        reason = _twilio_reason(text, lowered, status)
    else:
        reason = _sendgrid_reason(lowered, status)
    if reason:
        return reason
    if "unreachable" in lowered or status in (408, 429) or (status or 0) >= 500:
        # An outage or a busy provider: the worker keeps trying for a while.
        if retrying:
            return f"Could not reach the {service}; it will be retried."
        return (
            f"Could not reach the {service}, even after several tries;"
            " resend it once the service is back."
        )
    if retrying:
        return f"The {service} did not take the message; it will be retried."
    return f"The {service} refused the message; see the details below."


def _status(text: str) -> int | None:
    match = _HTTP_STATUS.search(text)
    return int(match.group(1)) if match else None


def _sendgrid_reason(lowered: str, status: int | None) -> str:
    sender = (
        "from email" in lowered
        or "from address" in lowered
        or "from.email" in lowered
        or "sender identity" in lowered
    )
    if sender:
        return (
            "The email service refused our sender address"
            " — check DEFAULT_FROM_EMAIL is a verified sender in SendGrid."
        )
    if status in (401, 403) or "authorization grant" in lowered:
        return "The email service refused our credentials — check SENDGRID_API_KEY."
    if (
        "valid address" in lowered
        or "invalid email" in lowered
        or ("recipientsrefused" in lowered)
    ):
        return "The email address was refused as invalid."
    if status == 413 or "too large" in lowered:
        return "The email was too large for the email service."
    return ""


def _twilio_reason(text: str, lowered: str, status: int | None) -> str:
    match = _TWILIO_CODE.search(text)
    code = (match.group(1) or match.group(2)) if match else ""
    if code in _TWILIO_SENDER or "'from' number" in lowered:
        return "The text service refused our sender number — check TWILIO_FROM_NUMBER."
    if code in _TWILIO_BLOCKED or "unsubscribed" in lowered:
        return "The customer has turned off our texts (they replied STOP)."
    if code in _TWILIO_REGION or "region" in lowered:
        return "Texts to this country are not enabled in our Twilio account."
    if code in _TWILIO_NOT_TEXTABLE or "not a mobile number" in lowered:
        return "The phone number cannot receive texts (it may be a landline)."
    if (
        code in _TWILIO_INVALID_NUMBER
        or "not a valid phone number" in lowered
        or "'to' number is not valid" in lowered
    ):
        return "The phone number was refused as invalid."
    if status == 401 or code in _TWILIO_CREDENTIALS or "authenticat" in lowered:
        return (
            "The text service refused our credentials"
            " — check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."
        )
    return ""
