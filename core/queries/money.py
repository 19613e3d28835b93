"""What an order's or an event's payments came to, from the payment records.

One set of definitions for the analytics figures and the orders export, so
that the export's columns add up, to the cent, to the dashboard's figures:

- *taken*: every payment received (kept, turned away, or refunded since).
  *Sold by other sellers*, part of it: payments an external channel took
  (core.services.external_sales), which went to that seller, not through
  the owner's payment provider.
- *sent back automatically*: payments the system did not keep, because they
  arrived after the seats were gone or the order was already paid. All of
  each goes back (core.services.payments.refund_due_payment) and none ever
  had tickets. One still `refund_due` has yet to go (the worker retries it).
- *refunded*: money given back to customers of the payments kept. Per order,
  the larger of the refunds booked here (Refund rows that succeeded: sent
  from the console, or tickets voided against a refund made in Stripe) and
  what the provider reports refunded (Stripe's running total, which also
  holds refunds made in its dashboard and not yet matched to tickets). Only
  the owner's own payments are refunded here.
- *voided, the other seller refunds*: of the sales by other sellers, what
  was voided here (its tickets no longer admit: a whole order voided, or
  some of its tickets, e.g. when the event was cancelled). Nothing went
  back through the owner's payments: the seller gives it back to their
  buyers. Per order, the larger of the ticket voids booked (Refund rows of
  the order, which send nothing) and the whole payment once the order is
  voided.
- *revenue* (net): taken - refunded - sent back - voided by other sellers.

An order keeps at most one payment (a second is turned away as it arrives),
which is what lets the per-event figures take the provider's total per
payment and the export take it per order, and agree.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Case,
    DecimalField,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest

from core.models import Order, Payment, Refund
from core.queries.orders import REFUNDABLE_PROVIDERS

ZERO = Decimal("0.00")
MONEY = DecimalField(max_digits=14, decimal_places=2)

# A ticket is free when nothing was paid for it: a comp the owner gave, or
# a ticket of a type priced 0 taken on the buy page (or sold at 0 by another
# seller). The one rule for every count (a row of Ticket): free tickets are
# never "sold" (tickets paid for), and one voided was cancelled, not
# refunded. An order is free when all its tickets are: its total is 0.
FREE_TICKET = Q(price_paid=0)
FREE_ORDER = Q(total=0)  # a row of Order


def is_free_order(order) -> bool:
    """Whether `order` is free tickets (FREE_ORDER: every one of them is
    FREE_TICKET): they are cancelled, never refunded."""
    return order.total == 0


RECEIVED = (
    Payment.Status.SUCCEEDED,
    Payment.Status.REFUND_DUE,
    Payment.Status.REFUNDED,
)
# Turned away: due back, or gone back. `refunded_at` marks a payment that
# was not kept: settle_refund stamps it when the system sends one back, and a
# payment refunded in Stripe for an order another payment had paid is
# recorded with it (core.services.payments), as not kept either.
NOT_KEPT = Q(status=Payment.Status.REFUND_DUE) | Q(
    status=Payment.Status.REFUNDED, refunded_at__isnull=False
)
KEPT = Q(status=Payment.Status.SUCCEEDED) | Q(
    status=Payment.Status.REFUNDED, refunded_at__isnull=True
)
# A kept payment some of which the provider says went back.
REPORTED_REFUNDED = KEPT & Q(provider__in=REFUNDABLE_PROVIDERS, provider_refunded__gt=0)
# Sold by another seller (a row of Payment): the external channel's payment,
# the only one its order holds (core.services.external_sales); of Refund,
# the voids booked of such an order (they send nothing).
BY_OTHER_SELLERS = Q(provider=Payment.Provider.EXTERNAL)
REFUND_OF_OTHER_SELLERS = Q(order__source=Order.Source.EXTERNAL)
# Another seller's sale whose order was voided whole.
VOIDED_ELSEWHERE = KEPT & BY_OTHER_SELLERS & Q(status=Payment.Status.REFUNDED)


def zero() -> Value:
    return Value(ZERO, output_field=MONEY)


def reported_refunded() -> Case:
    """What went back of a kept payment (a row of Payment) by the provider's
    account: Stripe's running total."""
    return Case(
        When(provider__in=REFUNDABLE_PROVIDERS, then=F("provider_refunded")),
        default=zero(),
        output_field=MONEY,
    )


def _booked_refunds_of_the_payments_order() -> Coalesce:
    """Refunds booked here of the order of the payment (a row of Payment)."""
    total = (
        Refund.objects.filter(
            order_id=OuterRef("order_id"), status=Refund.Status.SUCCEEDED
        )
        .order_by()
        .values("order_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=MONEY), zero(), output_field=MONEY)


def unbooked_voided_elsewhere() -> Case:
    """Of one payment (a row of Payment): what voiding another seller's
    sale whole voided beyond the voids booked of its order's tickets. The
    subquery runs only for those few payments."""
    return Case(
        When(
            VOIDED_ELSEWHERE,
            then=Greatest(
                F("amount") - _booked_refunds_of_the_payments_order(),
                zero(),
                output_field=MONEY,
            ),
        ),
        default=zero(),
        output_field=MONEY,
    )


def unbooked_refunded(only: Q | None = None) -> Case:
    """Of one payment (a row of Payment, `only` if given): what the provider
    says went back beyond the refunds booked here of its order. Only kept
    payments the provider reports refunds of are asked (the subquery runs
    for those few), so it stays cheap over every payment of an event."""
    return Case(
        When(
            REPORTED_REFUNDED & (only or Q()),
            then=Greatest(
                reported_refunded() - _booked_refunds_of_the_payments_order(),
                zero(),
                output_field=MONEY,
            ),
        ),
        default=zero(),
        output_field=MONEY,
    )


@dataclass(frozen=True)
class OrderMoney:
    taken: Decimal = ZERO
    refunded: Decimal = ZERO
    sent_back: Decimal = ZERO
    # Of `taken`, paid to another seller; of that, voided here (the seller
    # refunds it).
    other_sellers: Decimal = ZERO
    voided_elsewhere: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.taken - self.refunded - self.sent_back - self.voided_elsewhere


def money_of_orders(order_ids: list) -> dict:
    """What each of these orders came to, by order id (orders with no
    payment are left out), in two grouped queries on the payments' and
    refunds' order index: one batch of the orders export at a time."""
    payments = (
        Payment.objects.filter(order_id__in=order_ids, status__in=RECEIVED)
        .values("order_id")
        .annotate(
            taken=Sum("amount"),
            sent_back=Sum("amount", filter=NOT_KEPT),
            reported=Sum(reported_refunded(), filter=KEPT),
            other_sellers=Sum("amount", filter=BY_OTHER_SELLERS),
            voided_whole=Sum("amount", filter=VOIDED_ELSEWHERE),
        )
        .order_by()
    )
    booked = {
        row.pop("order_id"): row
        for row in Refund.objects.filter(
            order_id__in=order_ids, status=Refund.Status.SUCCEEDED
        )
        .values("order_id")
        .annotate(
            own=Sum("amount", filter=~REFUND_OF_OTHER_SELLERS),
            elsewhere=Sum("amount", filter=REFUND_OF_OTHER_SELLERS),
        )
        .order_by()
    }
    paid = {row["order_id"]: row for row in payments}

    def money(order_id) -> OrderMoney:
        row, voids = paid.get(order_id, {}), booked.get(order_id, {})
        return OrderMoney(
            taken=row.get("taken") or ZERO,
            refunded=max(row.get("reported") or ZERO, voids.get("own") or ZERO),
            sent_back=row.get("sent_back") or ZERO,
            other_sellers=row.get("other_sellers") or ZERO,
            voided_elsewhere=max(
                row.get("voided_whole") or ZERO, voids.get("elsewhere") or ZERO
            ),
        )

    return {order_id: money(order_id) for order_id in paid.keys() | booked.keys()}
