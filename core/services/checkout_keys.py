"""One order per buy form: a repeated submit finds the order it already placed.

The buy form carries a `checkout_key` its page's script made up once per page
load (the event page is cached and shared, ADR 9, so the server cannot put it
there). Going back from the payment page restores the same form, key and all;
submitting it again must not place a second order holding a second set of
seats. The browser itself remembers which order its last key placed (a signed
cookie, purchase.views), so a first submit, as every buyer's in a rush, costs
nothing more than before: no cache or database read.

The order remembers its key too (Order.checkout_key, indexed per event), for
the same form sent twice before the first answer, and so before the cookie,
reaches the browser (a double click; a browser resending a POST whose
connection dropped): place_order, under the event's lock, answers the
second with the first's order while it holds the same seats for the same
buyer (ADR 11, amendment).
"""

import re
from collections.abc import Mapping
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.exceptions import InvalidRequest
from core.models import Order
from core.phones import lacks_country_code
from core.queries.availability import EventAvailability
from core.services.checkout import (
    Allowance,
    clean_contact,
    clean_quantities,
    place_order,
)
from core.services.locks import lock_order
from core.services.orders import cancel_order

# What purchase.js sends: crypto.randomUUID() or its own random string.
CHECKOUT_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def valid_checkout_key(value: str | None) -> str | None:
    """The key if it is well formed; anything else is ignored (no key)."""
    value = (value or "").strip()
    return value if CHECKOUT_KEY.fullmatch(value) else None


def _lines_of(order: Order) -> dict[int, int]:
    return {
        line.ticket_type_id: line.quantity
        for line in order.lines.all()
        if line.quantity
    }


def _still_holding(order_id, event_id, now: datetime) -> Order | None:
    """The order if it is pending for this event and its hold has not lapsed."""
    order = (
        Order.objects.select_related("event")
        .filter(pk=order_id, event_id=event_id, status=Order.Status.PENDING)
        .first()
    )
    if order is None or not order.is_payable(now):
        return None
    return order


def place_order_once(
    *,
    earlier_order_id,
    event_id,
    quantities: Mapping,
    customer_name: str,
    customer_email: str,
    customer_phone: str = "",
    seen_availability: EventAvailability | None = None,
    seen_is_current: bool = True,
    seen_key_note: str | None = None,
    checkout_key: str | None = None,
    allowance: Allowance | None = None,
) -> Order:
    """place_order for a buy form submitted again (`earlier_order_id`: the
    order the same form placed before, or None for a first submit).

    The earlier order, still pending with a live hold for the same
    quantities and buyer (name, email and phone as place_order keeps them:
    what place_order's own repeat check compares), is returned as it is (the
    buyer goes on to pay for it). For the same quantities with the buyer's
    details corrected (a typo seen on the payment page), the earlier order
    takes the corrected details and is returned, its hold and key kept:
    releasing the seats first would hand them to the waitlist, or to
    another buyer, before the corrected order could take them again (the
    payment step then opens a new payment page for the corrected email,
    core.services.payments.start_payment). For other quantities it is
    cancelled first, releasing its hold, and the new order placed. An
    earlier order that is paid, cancelled or lapsed is left alone.
    `checkout_key`, the form's, lets place_order find the order a submit
    still running or unanswered placed (see place_order). `allowance` is
    counted only when a new order is placed (see place_order): the earlier
    order found again takes nothing more. Raises what place_order raises.
    """
    order_fields = {
        "event_id": event_id,
        "quantities": quantities,
        "customer_name": customer_name,
        "customer_email": customer_email,
        "customer_phone": customer_phone,
        "seen_availability": seen_availability,
        "seen_is_current": seen_is_current,
        "seen_key_note": seen_key_note,
        "checkout_key": checkout_key,
        "allowance": allowance,
    }
    if earlier_order_id is None:
        return place_order(**order_fields)
    try:
        wanted = clean_quantities(quantities)
    except InvalidRequest:
        # place_order refuses it; the earlier order is left as it is.
        return place_order(**order_fields)
    earlier = _still_holding(earlier_order_id, event_id, timezone.now())
    if earlier is not None:
        try:
            buyer = _buyer_as_placed(
                earlier, customer_name, customer_email, customer_phone
            )
        except InvalidRequest:
            # As for quantities: place_order refuses it, the earlier stays.
            return place_order(**order_fields)
        if _lines_of(earlier) == wanted:
            if _buyer_of(earlier) == buyer or _correct_buyer(earlier, buyer):
                return earlier
            # Paid, cancelled or lapsed since it was read: left alone.
            return place_order(**order_fields)
        cancel_order(order_id=earlier.id)
    return place_order(**order_fields)


@transaction.atomic
def _correct_buyer(order: Order, buyer: tuple[str, str, str]) -> bool:
    """Give a held order the buyer's corrected name, email and phone, under
    the order's lock, if it is still pending with its hold live; `order`
    (the caller's read) then carries them. False if it no longer holds."""
    locked = lock_order(order.pk)
    now = timezone.now()
    if not locked.is_payable(now):
        return False
    name, email, phone = buyer
    Order.objects.filter(pk=order.pk).update(
        customer_name=name, customer_email=email, customer_phone=phone, updated_at=now
    )
    order.customer_name, order.customer_email, order.customer_phone = buyer
    order.updated_at = now
    return True


def _buyer_of(order: Order) -> tuple[str, str, str]:
    return order.customer_name, order.customer_email, order.customer_phone


def _buyer_as_placed(
    earlier: Order, name: str, email: str, phone: str
) -> tuple[str, str, str]:
    """The form's name, email and phone as place_order would keep them (a
    phone without its +code read in the event's country), to compare with
    the earlier order's; InvalidRequest as place_order raises it."""
    time_zone = earlier.event.time_zone if lacks_country_code(phone) else None
    return clean_contact(name, email, phone, time_zone=time_zone)
