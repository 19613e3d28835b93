"""Queue emails and SMS in the caller's transaction; the worker sends them."""

from django.utils import timezone

from core.models import Event, Order, OutboundMessage
from core.rows import insert_row


def new_message(
    channel: str,
    *,
    kind: str,
    to: str,
    order: Order | None = None,
    event: Event | None = None,
    context: dict | None = None,
) -> OutboundMessage:
    """The unsaved row queue_email or queue_sms writes: for a caller that
    writes it together with others (core.services.fulfilment)."""
    return OutboundMessage(
        channel=channel,
        kind=kind,
        to=to,
        order=order,
        # The id, not the object: no query to load the order's event.
        event_id=event.id if event else (order.event_id if order else None),
        context=context or {},
        next_attempt_at=timezone.now(),
    )


def queue_email(
    *,
    kind: str,
    to: str,
    order: Order | None = None,
    event: Event | None = None,
    context: dict | None = None,
) -> OutboundMessage:
    """Queue an email rendered from templates/emails/<kind>*."""
    # Written by hand, planned once per connection: every sale queues one.
    return insert_row(
        new_message(
            OutboundMessage.Channel.EMAIL,
            kind=kind,
            to=to,
            order=order,
            event=event,
            context=context,
        )
    )


def queue_sms(
    *,
    kind: str,
    to: str,
    order: Order | None = None,
    event: Event | None = None,
    context: dict | None = None,
) -> OutboundMessage:
    """Queue an SMS rendered from templates/sms/<kind>.txt."""
    # Written by hand, planned once per connection: every sale queues one.
    return insert_row(
        new_message(
            OutboundMessage.Channel.SMS,
            kind=kind,
            to=to,
            order=order,
            event=event,
            context=context,
        )
    )
