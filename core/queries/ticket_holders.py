"""Reads of who holds tickets to an event: the people to tell when it changes."""

from django.db.models import Exists, OuterRef, QuerySet

from core.models import Order, Ticket


def orders_holding_tickets(event_id) -> QuerySet[Order]:
    """Paid orders of the event with at least one ticket that still admits.

    A refunded or voided order, or one whose tickets were all refunded, is
    left out (it no longer gets in); so is one not paid yet (pending,
    processing: its confirmation, sent when it is paid, shows the event as
    it is then); an order with some tickets refunded is in.
    """
    admitting = Ticket.objects.filter(order=OuterRef("pk"), status=Ticket.Status.ISSUED)
    return Order.objects.filter(event_id=event_id, status=Order.Status.PAID).filter(
        Exists(admitting)
    )


def count_orders_holding_tickets(event_id) -> int:
    return orders_holding_tickets(event_id).count()
