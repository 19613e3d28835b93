"""Staff actions on the outbox."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from core.exceptions import InvalidRequest, NotFound
from core.models import OutboundMessage
from core.services.checkout import clean_phone


@transaction.atomic
def resend_message(*, message_id: int, to: str = "") -> OutboundMessage:
    """Queue a message again for the worker, optionally to a corrected address.

    Locks the message row. Its attempts start again from zero. Raises
    NotFound, or InvalidRequest for an address that is not an email address
    (email) or a phone number (SMS).
    """
    message = OutboundMessage.objects.select_for_update().filter(pk=message_id).first()
    if message is None:
        raise NotFound("That message does not exist.")
    to = (to or "").strip()
    if to:
        if message.channel == OutboundMessage.Channel.EMAIL:
            try:
                validate_email(to)
            except ValidationError as exc:
                raise InvalidRequest(
                    "Please enter a valid email address.", code="invalid_email"
                ) from exc
        else:
            to = clean_phone(to)
        message.to = to
    message.status = OutboundMessage.Status.QUEUED
    message.attempts = 0
    message.next_attempt_at = timezone.now()
    message.save(update_fields=["to", "status", "attempts", "next_attempt_at"])
    return message
