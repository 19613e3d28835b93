"""Complimentary tickets: the owner's guest list, issued through the sales path.

A comp is an order like any other (source comp, total 0) placed with
place_order and fulfilled with fulfil_order, so it counts against capacity
under the same locks and its tickets are emailed like paid ones. Taking
places off the guest list is a cancellation, not a refund: no money moved,
so none is sent back, the guest is told their place was cancelled, and the
order ends cancelled (analytics counts it apart from refunds). The same goes
for free tickets taken on the buy page (a type priced 0): any order with
nothing to pay (core.queries.money.is_free_order) is cancelled this way.
"""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.exceptions import (
    InvalidRequest,
    OrderNotRefundable,
    PermissionRefused,
    TicketingError,
)
from core.models import Order, Ticket, TicketType
from core.notify.outbox import queue_email
from core.queries.money import is_free_order
from core.queries.staff import can_manage_staff
from core.services.audit import record_change
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order
from core.services.locks import lock_order
from core.services.orders import (
    _announce_freed_seats,
    _chosen_live_tickets,
    _lock_live_tickets,
    _parse_ticket_ids,
    _void_tickets,
)

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


@transaction.atomic
def cancel_comp_tickets(
    *,
    order_id,
    ticket_ids=None,
    reason: str = "",
    actor=None,
    tell_guest: bool = True,
    now: datetime | None = None,
) -> Order:
    """Take free tickets off the guest list: all of a free order's (a comp,
    or free tickets taken on the buy page) tickets that still admit, or the
    chosen `ticket_ids`. No money moves.

    Locks as void_order (core.services.orders): the order, its tickets in
    primary-key order, then the event and its types while sold goes down
    (and a used ticket leaves its check-in tally). An order left with no
    ticket that admits becomes cancelled. Queues the `comp_cancelled` email
    to the guest (not with `tell_guest` False: a cancelled event's guests
    are told by its own message), writes a `comp.cancel` audit entry with a
    staff `actor` and offers the freed places after commit. Cancelling a cancelled order
    again returns it. Raises OrderNotRefundable for an order that is not
    free or not issued, TicketsNotRefundable for chosen tickets that are
    not the order's or void already.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()[:200]
    chosen = None if ticket_ids is None else _parse_ticket_ids(ticket_ids)
    order = lock_order(order_id)
    if not is_free_order(order):
        raise OrderNotRefundable(
            "This order was paid for: refund it instead; nothing changed."
        )
    if order.status == Order.Status.CANCELLED and chosen is None:
        return order
    if order.status != Order.Status.PAID:
        raise OrderNotRefundable(
            "These free tickets are cancelled already; nothing changed."
        )
    if chosen is None:
        tickets = _lock_live_tickets(order)
    else:
        tickets = _chosen_live_tickets(order, chosen)
    _void_tickets(order, tickets, now=now)
    previous_status = order.status
    left = Ticket.objects.filter(order=order).exclude(status=Ticket.Status.VOID).count()
    if left == 0:
        order.status = Order.Status.CANCELLED
        order.updated_at = now
        order.save(update_fields=["status", "updated_at"])
    cancelled = list(
        Ticket.objects.filter(pk__in=[t.pk for t in tickets])
        .select_related("ticket_type")
        .order_by("created_at", "code")
    )
    if actor is not None:
        record_change(
            actor=actor,
            action="comp.cancel",
            obj=order,
            object_repr=f"{order.code} · {order.customer_name}",
            event=order.event,
            # The status only when it moved: "Status Paid -> Paid" says nothing.
            before={"status": previous_status}
            if order.status != previous_status
            else {},
            after={
                **({"status": order.status} if order.status != previous_status else {}),
                "tickets_cancelled": [t.code for t in cancelled],
                "reason": reason,
            },
        )
    if cancelled and tell_guest:
        queue_email(
            kind="comp_cancelled",
            to=order.customer_email,
            order=order,
            context={
                "reason": reason,
                "cancelled_tickets": [
                    {"code": t.code, "type": t.ticket_type.name, "guest": t.guest_name}
                    for t in cancelled
                ],
                "tickets_left": left,
            },
        )
    if cancelled:
        _announce_freed_seats(order.event_id)
    return order
