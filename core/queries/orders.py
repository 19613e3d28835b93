"""Orders and tickets as their holders see them (found by unguessable token)."""

from dataclasses import dataclass

from django.utils import timezone

from core.models import Order, OrderLine, Ticket


@dataclass(frozen=True)
class OrderView:
    order: Order
    lines: list[OrderLine]
    tickets: list[Ticket]

    @property
    def hold_is_live(self) -> bool:
        order = self.order
        return (
            order.status == Order.Status.PENDING
            and order.hold_expires_at is not None
            and order.hold_expires_at > timezone.now()
        )


def order_by_token(token: str) -> Order | None:
    if not token or len(token) > 64:
        return None
    return Order.objects.select_related("event").filter(token=token).first()


def order_view(order: Order) -> OrderView:
    return OrderView(
        order=order,
        lines=list(
            order.lines.select_related("ticket_type").order_by("ticket_type_id")
        ),
        tickets=list(
            order.tickets.select_related("ticket_type").order_by("created_at", "code")
        ),
    )


def ticket_by_token(token: str) -> Ticket | None:
    if not token or len(token) > 64:
        return None
    return (
        Ticket.objects.select_related("event", "ticket_type", "order")
        .filter(token=token)
        .first()
    )
