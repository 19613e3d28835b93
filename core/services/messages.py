"""Staff actions on the outbox."""

from django.db import transaction
from django.utils import timezone

from core.exceptions import InvalidRequest, NotFound
from core.models import Order, OutboundMessage
from core.notify.outbox import queue_email
from core.services.checkout import clean_email, clean_phone


@transaction.atomic
def resend_order_tickets(*, order_id, to: str = "") -> OutboundMessage:
    """Queue the order's confirmation (its tickets) again, to the customer's
    address or a corrected one: the customer lost it, or typed it wrong.

    A confirmation that failed is queued again (resend_message, which locks
    it) rather than a copy beside it, so it stops showing as failed on the
    Messages page, where a second resend would send the tickets twice.
    Raises NotFound, InvalidRequest for a bad address, or InvalidRequest
    when the order has no tickets to send (not paid, or refunded).
    """
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise NotFound("That order does not exist.")
    if order.status != Order.Status.PAID:
        raise InvalidRequest(
            "Only a paid order has tickets to send.", code="order_not_paid"
        )
    to = clean_email((to or "").strip() or order.customer_email)
    failed = (
        order.messages.filter(
            channel=OutboundMessage.Channel.EMAIL,
            kind="order_confirmation",
            status=OutboundMessage.Status.FAILED,
        )
        .order_by("-pk")
        .first()
    )
    if failed is not None:
        return resend_message(message_id=failed.pk, to=to)
    return queue_email(kind="order_confirmation", to=to, order=order)


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
        is_email = message.channel == OutboundMessage.Channel.EMAIL
        message.to = clean_email(to) if is_email else clean_phone(to)
    message.status = OutboundMessage.Status.QUEUED
    message.attempts = 0
    message.next_attempt_at = timezone.now()
    message.save(update_fields=["to", "status", "attempts", "next_attempt_at"])
    return message
