"""Sending the outbox: what the background worker does with OutboundMessage rows.

A row is claimed with SELECT ... FOR UPDATE SKIP LOCKED and leased for a few
minutes (so two workers never send it twice, and a worker that dies mid-send
only delays it), then sent outside any transaction. A failed send is retried
with exponential backoff; after MAX_ATTEMPTS, or at once when the provider
refuses the message itself, it is marked failed and shows on the staff
messages page, where it can be resent.

The row keeps the provider's own words (the owner's data, shown to the
owner); the log gets them with addresses, numbers and links taken out.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F
from django.template import TemplateDoesNotExist
from django.utils import timezone

from core.models import OutboundMessage
from core.notify.errors import PermanentDeliveryError
from core.notify.rendering import build_email, build_sms
from core.notify.sms import send_sms
from core.phones import lacks_country_code, message_time_zone, phone_region, sms_number
from core.redact import redact_contacts

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
LEASE = timedelta(minutes=5)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def retry_delay(attempts: int) -> timedelta:
    """30 s after the first failure, doubling each time, at most an hour."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), LONGEST_RETRY)


def claim_due_messages(*, now: datetime, limit: int) -> list[OutboundMessage]:
    """Lease up to `limit` due rows to this worker and count the attempt."""
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(status=OutboundMessage.Status.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        OutboundMessage.objects.filter(pk__in=ids).update(
            attempts=F("attempts") + 1, next_attempt_at=now + LEASE
        )
    return list(
        OutboundMessage.objects.filter(pk__in=ids)
        .select_related("order", "event")
        .order_by("pk")
    )


def _sms_number(message: OutboundMessage) -> str:
    """The text's number in E.164, which Twilio requires: numbers stored
    before they were kept so ("612 345 678", "+34 600 000 001") read, when
    without a +code, as numbers of the event's country."""
    to = message.to
    if not lacks_country_code(to):
        return sms_number(to)
    return sms_number(to, region=phone_region(message_time_zone(message)))


def _deliver(message: OutboundMessage, connection) -> str:
    if message.channel == OutboundMessage.Channel.SMS:
        return send_sms(to=_sms_number(message), body=build_sms(message))
    email = build_email(message)
    email.connection = connection
    email.send()
    return getattr(email, "provider_id", "") or ""


def send_message(message: OutboundMessage, *, now: datetime, connection=None) -> str:
    """Send one claimed row and record the outcome; returns its new status."""
    attempts = message.attempts
    still_ours = OutboundMessage.objects.filter(
        pk=message.pk, status=OutboundMessage.Status.QUEUED, attempts=attempts
    )
    try:
        provider_id = _deliver(message, connection)
    except (PermanentDeliveryError, TemplateDoesNotExist) as exc:
        still_ours.update(
            status=OutboundMessage.Status.FAILED, last_error=_describe(exc)
        )
        logger.warning("Message %s refused: %s", message.pk, _for_log(exc, message))
        return OutboundMessage.Status.FAILED
    except Exception as exc:  # any provider outage: try again later
        if attempts >= MAX_ATTEMPTS:
            still_ours.update(
                status=OutboundMessage.Status.FAILED, last_error=_describe(exc)
            )
            logger.warning(
                "Message %s failed %s times: %s",
                message.pk,
                attempts,
                _for_log(exc, message),
            )
            return OutboundMessage.Status.FAILED
        still_ours.update(
            next_attempt_at=now + retry_delay(attempts), last_error=_describe(exc)
        )
        logger.info(
            "Message %s will be retried: %s", message.pk, _for_log(exc, message)
        )
        return "retrying"
    still_ours.update(
        status=OutboundMessage.Status.SENT,
        sent_at=timezone.now(),
        provider_id=provider_id[:100],
        last_error="",
    )
    return OutboundMessage.Status.SENT


def _for_log(exc: Exception, message: OutboundMessage) -> str:
    """What went wrong, for the operator: the error's type, status and code,
    without the recipient's address or number that providers quote."""
    text = redact_contacts(str(exc), message.to)
    return f"{message.channel} {message.kind}, {type(exc).__name__}: {text}"[:500]


def _describe(exc: Exception) -> str:
    if isinstance(exc, TemplateDoesNotExist):
        return f"No template for this kind of message: {exc}"
    return f"{type(exc).__name__}: {exc}"[:2000]


def send_due_messages(
    *, now: datetime | None = None, limit: int = 20
) -> DeliveryReport:
    """Send every due message, up to `limit`; the worker calls this in a loop."""
    now = now or timezone.now()
    report = DeliveryReport()
    messages = claim_due_messages(now=now, limit=limit)
    if not messages:
        return report
    # One connection for the batch; backends open it on first use.
    connection = get_connection()
    try:
        for message in messages:
            outcome = send_message(message, now=now, connection=connection)
            if outcome == OutboundMessage.Status.SENT:
                report.sent += 1
            elif outcome == OutboundMessage.Status.FAILED:
                report.failed += 1
            else:
                report.retrying += 1
    finally:
        connection.close()
    return report
