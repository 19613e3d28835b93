"""Complimentary tickets: the owner's guest list, issued through the sales path.

A comp is an order like any other (source comp, total 0) placed with
place_order and fulfilled with fulfil_order, so it counts against capacity
under the same locks and its tickets are emailed like paid ones.
"""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.exceptions import InvalidRequest, PermissionRefused, TicketingError
from core.models import Order, TicketType
from core.queries.staff import can_manage_staff
from core.services.audit import record_change
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order

MAX_COMPS_PER_ISSUE = 50

# place_order's error codes, mapped to the comp form's fields.
_FIELD_FOR_CODE = {
    "invalid_name": "guest_name",
    "invalid_email": "guest_email",
    "invalid_phone": "guest_phone",
    "invalid_quantity": "quantity",
    "unknown_ticket_type": "ticket_type",
    "sold_out": "quantity",
}


@transaction.atomic
def issue_comp_tickets(
    *,
    actor,
    event_id,
    ticket_type_id: int,
    quantity: int,
    guest_name: str,
    guest_email: str,
    guest_phone: str = "",
    now=None,
) -> Order:
    """Issue `quantity` free tickets of one type to a guest; they are emailed.

    Locks as place_order does (the event row, then the ticket type), then the
    order as fulfil_order does. Queues the order_confirmation email (and SMS
    when a phone is given) and announces availability after commit. Writes an
    audit entry. Raises PermissionRefused (owner only), InvalidRequest,
    NotFound or SoldOut, with `field` naming the form field at fault.
    """
    if actor is not None and not can_manage_staff(actor):
        raise PermissionRefused("Only the owner can issue free tickets.")
    now = now or timezone.now()
    if not isinstance(quantity, int) or not 1 <= quantity <= MAX_COMPS_PER_ISSUE:
        raise InvalidRequest(
            f"Issue from 1 to {MAX_COMPS_PER_ISSUE} tickets at a time.",
            code="invalid_quantity",
            field="quantity",
        )
    ticket_type = TicketType.objects.filter(
        pk=ticket_type_id, event_id=event_id
    ).first()
    if ticket_type is None:
        raise InvalidRequest(
            "Choose one of this event's ticket types.",
            code="unknown_ticket_type",
            field="ticket_type",
        )
    try:
        order = place_order(
            event_id=event_id,
            quantities={ticket_type.id: quantity},
            customer_name=guest_name,
            customer_email=guest_email,
            customer_phone=guest_phone,
            source=Order.Source.COMP,
            free=True,
            now=now,
        )
    except TicketingError as exc:
        exc.detail.setdefault("field", _FIELD_FOR_CODE.get(exc.code, "quantity"))
        raise
    result = fulfil_order(
        order_id=order.id,
        provider="comp",
        provider_reference=f"comp-{order.id}",
        amount=Decimal("0.00"),
        currency=order.currency,
        now=now,
    )
    record_change(
        actor=actor,
        action="comp.issue",
        obj=result.order,
        object_repr=f"{quantity} × {ticket_type.name} for {order.customer_name}",
        event=order.event,
        after={
            "guest_name": order.customer_name,
            "guest_email": order.customer_email,
            "ticket_type": ticket_type.name,
            "quantity": quantity,
            "order_code": order.code,
        },
    )
    return result.order
