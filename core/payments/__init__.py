"""Payment providers behind one small interface, chosen by PAYMENT_PROVIDER.

Only this package imports `stripe`. A provider opens a hosted payment page
for a pending order, expires it, reads it back, and refunds a payment; what a
completed payment means for the order is decided by core.services.payments,
the same code for every provider.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from django.conf import settings

from core.models import Order, Payment


@dataclass(frozen=True)
class CheckoutStart:
    """Where to send the buyer, and the provider's id for that payment page."""

    url: str
    session_id: str | None = None


@dataclass(frozen=True)
class CheckoutState:
    """A payment page as the provider sees it now."""

    session_id: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    url: str | None = None
    payment_reference: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    customer_email: str | None = None  # the email the page was opened for


@dataclass(frozen=True)
class PaymentIntentState:
    """A Stripe payment as Stripe sees it now: `processing` while a bank
    debit clears, then `succeeded`, or back to `requires_payment_method`
    when it failed."""

    intent_id: str
    status: str
    amount_minor: int | None = None  # received, once it succeeded
    currency: str | None = None


class PaymentProvider(Protocol):
    name: str

    def create_checkout(
        self,
        *,
        order: Order,
        lines: list,
        success_url: str,
        cancel_url: str,
        now: datetime,
    ) -> CheckoutStart: ...

    def get_checkout(self, session_id: str) -> CheckoutState: ...

    def expire_checkout(self, session_id: str, *, quick: bool = False) -> None: ...

    def refund(
        self,
        *,
        payment: Payment,
        reason: str,
        amount: Decimal | None = None,
        idempotency_key: str = "",
    ) -> str: ...


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider called `name`, by default the configured PAYMENT_PROVIDER."""
    name = name or settings.PAYMENT_PROVIDER
    if name == "stripe":
        from core.payments.stripe_checkout import StripeProvider

        return StripeProvider()
    if name == "simulated":
        from core.payments.simulated import SimulatedProvider

        return SimulatedProvider()
    raise ValueError(f"Unknown payment provider {name!r}")
