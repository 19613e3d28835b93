"""Queue emails and SMS in the caller's transaction; the worker sends them."""

from collections.abc import Callable, Iterable

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


# Messages held in memory and written per bulk_create (which splits further
# where the database takes fewer parameters).
BATCH = 1000


def queue_to_each_order(
    orders: Iterable[Order], *, kind: str, context_of: Callable[[Order], dict]
) -> tuple[int, int]:
    """Queue `kind` by email to each order's customer, and by text where
    the order has a phone, written in batches (an event's holders may be
    thousands); returns (orders told, texts queued)."""
    told = texts = 0
    pending: list[OutboundMessage] = []
    for order in orders:
        told += 1
        context = context_of(order)
        addresses = [(OutboundMessage.Channel.EMAIL, order.customer_email)]
        if order.customer_phone:
            texts += 1
            addresses.append((OutboundMessage.Channel.SMS, order.customer_phone))
        pending += [
            new_message(channel, kind=kind, to=to, order=order, context=context)
            for channel, to in addresses
        ]
        if len(pending) >= BATCH:
            OutboundMessage.objects.bulk_create(pending)
            pending = []
    OutboundMessage.objects.bulk_create(pending)
    return told, texts
