"""Sales made by an external channel (the seed's ticket-webhook)."""

import logging
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction

from core.exceptions import InvalidRequest, NotFound
from core.models import Event, Order, OrderLine, Payment, TicketType
from core.services.checkout import clean_phone, place_order
from core.services.fulfilment import FulfilmentResult, fulfil_order

logger = logging.getLogger(__name__)


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

    The channel's order id becomes ours, so a retried call finds the same
    order and fulfil_order issues nothing twice. Seats are checked and held
    like any checkout (place_order: event, then types, locked in pk order),
    then fulfilled in the same transaction. `price_paid` is the total paid
    and becomes the order's total. Raises InvalidRequest, NotFound,
    SalesClosed or SoldOut; nothing is written when it raises.
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

    order = Order.objects.filter(pk=order_id).first()
    if order is None:
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
        except IntegrityError:
            # The same sale posted twice at once: the other call created it.
            order = Order.objects.get(pk=order_id)
        else:
            if price_paid is not None:
                unit_price = (price_paid / quantity).quantize(
                    Decimal("0.01"), rounding=ROUND_HALF_UP
                )
                OrderLine.objects.filter(order=order).update(unit_price=unit_price)
                order.total = price_paid
                order.save(update_fields=["total", "updated_at"])
    if order.source != Order.Source.EXTERNAL or order.event_id != event.id:
        raise InvalidRequest(
            "This orderId is already used by another order.", code="order_id_taken"
        )
    result = fulfil_order(
        order_id=order.id,
        provider=Payment.Provider.EXTERNAL,
        provider_reference=payment_reference or f"external-{order.id.hex}",
        amount=order.total if price_paid is None else price_paid,
        currency=order.currency,
    )
    return ExternalSale(order=result.order, result=result)


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
