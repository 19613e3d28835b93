"""Sales made by an external channel (the seed's ticket-webhook)."""

import logging
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction

from core.exceptions import InvalidRequest, NotFound, SoldOut, TicketingError
from core.models import Event, Order, OrderLine, Payment, TicketType
from core.services.checkout import clean_phone, place_order
from core.services.fulfilment import (
    FulfilmentResult,
    PaymentReferenceTaken,
    fulfil_order,
)

logger = logging.getLogger(__name__)


class OrderIdTaken(TicketingError):
    """The orderId names an order that is not this sale: another source's,
    or the channel's own with other details. Nothing is recorded."""

    code = "order_id_taken"
    message = "This orderId is already used by another order."
    http_status = 409


@dataclass(frozen=True)
class ExternalSale:
    order: Order
    result: FulfilmentResult


@transaction.atomic
def record_external_sale(
    *,
    external_order_id: str,
    event_name: str,
    ticket_type_name: str,
    quantity: int,
    customer_email: str,
    customer_name: str,
    customer_phone: str = "",
    payment_reference: str = "",
    price_paid: Decimal | None = None,
) -> ExternalSale:
    """Issue tickets for a sale another channel already took payment for.

    The channel's order id becomes ours. Posted again (a retry), it is the
    same sale when the event, ticket type, quantity, customer email, payment
    reference and (if given) price match what was recorded: the order is
    returned as it is and nothing new is written. Otherwise it raises
    OrderIdTaken (409), writing nothing: a payment the other channel took
    can never be turned away here, since we cannot refund it. Seats are
    checked and held like any checkout (place_order: event, then types,
    locked in pk order), then fulfilled in the same transaction. `price_paid`
    is the total paid and becomes the order's total. A payment reference
    already recorded for another orderId raises PaymentReferenceTaken (409),
    however close together the two were posted. Raises InvalidRequest,
    NotFound, OrderIdTaken, PaymentReferenceTaken, SalesClosed or SoldOut;
    nothing is written when it raises.
    """
    try:
        order_id = uuid.UUID(str(external_order_id))
    except ValueError as exc:
        raise InvalidRequest(
            "orderId must be a UUID.", code="invalid_order_id"
        ) from exc
    event = Event.objects.filter(name=event_name, is_active=True).first()
    if event is None:
        raise NotFound(
            f"No event on sale is called “{event_name}”.", code="unknown_event"
        )
    ticket_type = TicketType.objects.filter(event=event, name=ticket_type_name).first()
    if ticket_type is None:
        raise InvalidRequest(
            f"“{event_name}” has no ticket type called “{ticket_type_name}”.",
            code="unknown_ticket_type",
        )
    if price_paid is not None and price_paid < 0:
        raise InvalidRequest("pricePaid cannot be negative.", code="invalid_price")
    reference = payment_reference or f"external-{order_id.hex}"
    sale = _Sale(
        event_id=event.id,
        ticket_type_id=ticket_type.id,
        quantity=quantity,
        customer_email=customer_email.strip().lower(),
        payment_reference=reference,
        price_paid=price_paid,
    )

    order = Order.objects.filter(pk=order_id).first()
    if order is not None:
        return _repeat(order, sale)
    if Payment.objects.filter(
        provider=Payment.Provider.EXTERNAL, provider_reference=reference
    ).exists():
        # Seen before the locks; one recorded while this call waits for them
        # is refused by fulfil_order, under the order's lock, all the same.
        raise PaymentReferenceTaken()
    customer_phone = _textable_or_left_out(customer_phone, event, order_id)
    try:
        order = place_order(
            event_id=event.id,
            quantities={ticket_type.id: quantity},
            customer_name=customer_name,
            customer_email=customer_email,
            customer_phone=customer_phone,
            source=Order.Source.EXTERNAL,
            order_id=order_id,
        )
    except (IntegrityError, SoldOut):
        # The same orderId posted twice at once: the other call created it
        # (and may have taken the last seats), so this is a repeat.
        order = Order.objects.filter(pk=order_id).first()
        if order is None:
            raise
        return _repeat(order, sale)
    if price_paid is not None:
        unit_price = (price_paid / quantity).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        OrderLine.objects.filter(order=order).update(unit_price=unit_price)
        order.total = price_paid
        order.save(update_fields=["total", "updated_at"])
    result = fulfil_order(
        order_id=order.id,
        provider=Payment.Provider.EXTERNAL,
        provider_reference=reference,
        amount=order.total if price_paid is None else price_paid,
        currency=order.currency,
    )
    return ExternalSale(order=result.order, result=result)


@dataclass(frozen=True)
class _Sale:
    """What makes a posted sale the one an orderId was first recorded for."""

    event_id: int
    ticket_type_id: int
    quantity: int
    customer_email: str  # as place_order stores it: trimmed, lower-cased
    payment_reference: str
    price_paid: Decimal | None


def _repeat(order: Order, sale: _Sale) -> ExternalSale:
    """The answer to an orderId posted again: its order as it stands, if
    the details match the first post; OrderIdTaken otherwise."""
    if order.source != Order.Source.EXTERNAL or order.event_id != sale.event_id:
        raise OrderIdTaken()
    lines = list(order.lines.values_list("ticket_type_id", "quantity"))
    payment = order.payments.filter(
        provider=Payment.Provider.EXTERNAL,
        provider_reference=sale.payment_reference,
    ).first()
    differs = []
    if lines != [(sale.ticket_type_id, sale.quantity)]:
        differs.append("ticket type or quantity")
    if order.customer_email != sale.customer_email:
        differs.append("customer email")
    if payment is None:
        differs.append("payment reference")
    elif sale.price_paid is not None and payment.amount != sale.price_paid:
        differs.append("price paid")
    if differs:
        raise OrderIdTaken(
            "This orderId was already recorded for a sale with a different "
            f"{' and '.join(differs)}; nothing was changed. Send a new orderId "
            "for a new sale.",
        )
    return ExternalSale(order=order, result=FulfilmentResult(order=order, issued=False))


def _textable_or_left_out(phone: str, event: Event, order_id) -> str:
    """The buyer's number in E.164, or "" when texts cannot go to it.

    The other channel has taken the money already: a landline or a mistyped
    number must not lose the sale (a buyer on our own form is asked again
    instead). Logged without the number.
    """
    try:
        return clean_phone(phone, time_zone=event.time_zone)
    except InvalidRequest:
        logger.warning(
            "External sale %s: the customer's phone cannot get texts; left out",
            order_id,
        )
        return ""
