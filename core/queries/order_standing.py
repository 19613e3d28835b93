"""Where orders stand, as the console shows them: their money
(core.queries.money: paid, refunded, sent back automatically, net) and their
status in words (core.queries.exports.order_status_label, the orders
export's rule), so the order page, the orders list and the CSV say the same:
a paid order some of whose money or tickets went back is "Partly refunded",
and a free one (core.queries.money.FREE_ORDER) "Free tickets", "Free
tickets, some cancelled" or "Free tickets cancelled".
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from core.models import Order
from core.queries.exports import (
    FREE_SOME_CANCELLED,
    PARTLY_VOIDED_ELSEWHERE,
    order_status_label,
    tickets_of_orders,
)
from core.queries.money import OrderMoney, is_free_order, money_of_orders


@dataclass(frozen=True)
class OrderStanding:
    label: str
    money: OrderMoney
    free: bool = False

    @property
    def partly_refunded(self) -> bool:
        return self.label == "Partly refunded"

    @property
    def partly_cancelled(self) -> bool:
        return self.label == FREE_SOME_CANCELLED

    @property
    def partly_voided_elsewhere(self) -> bool:
        return self.label == PARTLY_VOIDED_ELSEWHERE

    @property
    def money_went_back(self) -> bool:
        """Whether some of what was paid went back (refunded, sent back
        automatically, or voided for another seller to refund): then paid,
        what went back and net are worth showing."""
        money = self.money
        return money.refunded > 0 or money.sent_back > 0 or money.voided_elsewhere > 0


def order_standings(orders: Iterable[Order], now=None) -> dict:
    """Each order's standing by order id, in three grouped queries whatever
    the number of orders (payments, refunds, tickets)."""
    orders = list(orders)
    if not orders:
        return {}
    now = now or timezone.now()
    ids = [order.pk for order in orders]
    money = money_of_orders(ids)
    tickets = tickets_of_orders(ids)
    standings = {}
    for order in orders:
        paid = money.get(order.pk, OrderMoney())
        issued, valid = tickets.get(order.pk, (0, 0))
        free = is_free_order(order)
        standings[order.pk] = OrderStanding(
            label=order_status_label(
                status=order.status,
                hold_expires_at=order.hold_expires_at,
                now=now,
                money=paid,
                issued=issued,
                valid=valid,
                free=free,
            ),
            money=paid,
            free=free,
        )
    return standings


def order_standing(order: Order, now=None) -> OrderStanding:
    return order_standings([order], now)[order.pk]
