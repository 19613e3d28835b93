"""Reads for "Find my tickets": a customer's orders found by their email address."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q

from core.models import Order, Ticket

# Events that began up to this long ago are still listed: a festival's
# later days, the night after, a receipt wanted the next morning.
LOOKUP_PAST_DAYS = 3
# However many orders an address has, the email stays readable.
LOOKUP_MAX_ORDERS = 25


@dataclass(frozen=True)
class FoundOrder:
    """A paid order with its event, and how many of its tickets still admit
    (`valid`) or were already scanned in (`used`)."""

    order: Order
    valid: int
    used: int


def orders_to_find(email: str, *, now: datetime) -> list[FoundOrder]:
    """Paid orders bought with `email` (in any case) for events starting no
    earlier than LOOKUP_PAST_DAYS before `now`, soonest event first.

    Orders not paid (pending, processing, expired, cancelled) have no
    tickets; refunded ones, and paid ones whose tickets were all refunded,
    have none left: all are left out. Addresses are stored lower-cased by
    the buy form, but comps, the external channel and the console's
    corrections keep them as typed, hence the case-insensitive match.
    """
    return [
        FoundOrder(order=order, valid=order.valid_count, used=order.used_count)
        for order in Order.objects.filter(
            customer_email__iexact=email.strip(),
            status=Order.Status.PAID,
            event__starts_at__gte=now - timedelta(days=LOOKUP_PAST_DAYS),
        )
        .select_related("event")
        .annotate(
            valid_count=Count(
                "tickets", filter=Q(tickets__status=Ticket.Status.ISSUED)
            ),
            used_count=Count("tickets", filter=Q(tickets__status=Ticket.Status.USED)),
        )
        .filter(Q(valid_count__gt=0) | Q(used_count__gt=0))
        .order_by("event__starts_at", "created_at", "pk")[:LOOKUP_MAX_ORDERS]
    ]
