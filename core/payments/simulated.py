"""A stand-in provider for local use and tests: a clearly labelled test page.

The page completes through core.services.payments.confirm_payment, the same
path the Stripe webhook takes.
"""

from datetime import datetime
from decimal import Decimal

from core.models import Order, Payment
from core.payments import CheckoutStart, CheckoutState
from core.sites import token_path


class SimulatedProvider:
    name = "simulated"

    def create_checkout(
        self,
        *,
        order: Order,
        lines: list,
        success_url: str,
        cancel_url: str,
        now: datetime,
    ) -> CheckoutStart:
        return CheckoutStart(url=token_path("purchase:simulated_pay", order.token))

    def get_checkout(self, session_id: str) -> CheckoutState:
        return CheckoutState(
            session_id=session_id, status="open", payment_status="unpaid"
        )

    def expire_checkout(self, session_id: str, *, quick: bool = False) -> None:
        return None

    def refund(
        self,
        *,
        payment: Payment,
        reason: str,
        amount: Decimal | None = None,
        idempotency_key: str = "",
    ) -> str:
        if idempotency_key:
            return f"simulated-refund-{idempotency_key}"
        return f"simulated-refund-{payment.pk}"
