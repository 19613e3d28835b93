"""Stripe Checkout: the only module that talks to Stripe.

STRIPE_API_BASE points the official SDK at a local stand-in in tests; the
SDK's real HTTP calls are what the tests exercise. While the SDK waits on
Stripe, the request thread's pooled database connection serves others.
"""

import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import stripe
from django.conf import settings

from core.exceptions import InvalidWebhook, PaymentRefused, PaymentUnavailable
from core.models import Order, Payment
from core.outside import waiting_on_provider
from core.payments import CheckoutStart, CheckoutState, PaymentIntentState
from core.payments.money import to_minor_units
from core.redact import redact_contacts

logger = logging.getLogger(__name__)

# Stripe refuses sessions that expire sooner than 30 minutes or later than
# 24 hours after creation. A shorter hold expires the session itself (the
# sweep calls expire_checkout when the hold lapses).
MIN_SESSION_LIFE = timedelta(minutes=30, seconds=60)
MAX_SESSION_LIFE = timedelta(hours=23, minutes=59)
WEBHOOK_TOLERANCE_SECONDS = 300


# A courtesy call (expire_checkout(quick=True)) gets one try of this long,
# not the SDK's three of 80 s each.
QUICK_TIMEOUT_SECONDS = 5.0


@lru_cache(maxsize=4)
def _client_for(
    api_key: str, api_base: str, timeout: float | None = None
) -> stripe.StripeClient:
    """The SDK's client; with `timeout`, one that tries once, that long."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=2 if timeout is None else 0,
        http_client=None
        if timeout is None
        else stripe.new_default_http_client(timeout=timeout),
    )


def client(*, quick: bool = False) -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentUnavailable(
            "Card payments are not configured.", code="payment_not_configured"
        )
    return _client_for(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        QUICK_TIMEOUT_SECONDS if quick else None,
    )


def prepare_client() -> None:
    """Build the client and import what its calls use, ahead of the first
    checkout: building it takes about 90 ms of CPU, and the first Checkout
    call imports the SDK's Checkout modules (10 ms more), both holding the
    GIL of a process whose other threads are serving buyers."""
    stripe_client = client()
    stripe_client.v1.checkout.sessions  # noqa: B018 - attribute loads the service
    stripe_client.v1.refunds  # noqa: B018
    stripe.checkout.Session  # noqa: B018 - the SDK imports resources lazily
    stripe.Refund  # noqa: B018


def session_expires_at(hold_expires_at: datetime | None, now: datetime) -> datetime:
    """The session's expiry: the hold's, within the window Stripe accepts.

    The lower bound is rounded up to the minute so that a double-click sends
    identical parameters under the same idempotency key.
    """
    floor_ts = math.ceil((now + MIN_SESSION_LIFE).timestamp() / 60) * 60
    floor = datetime.fromtimestamp(floor_ts, tz=now.tzinfo)
    wanted = max(hold_expires_at or floor, floor)
    return min(wanted, now + MAX_SESSION_LIFE).replace(microsecond=0)


def _reference(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.get("id")


def _state(session) -> CheckoutState:
    return CheckoutState(
        session_id=session["id"],
        status=session.get("status") or "open",
        payment_status=session.get("payment_status") or "unpaid",
        url=session.get("url"),
        payment_reference=_reference(session.get("payment_intent")),
        amount_minor=session.get("amount_total"),
        currency=session.get("currency"),
        customer_email=session.get("customer_email"),
    )


class StripeProvider:
    name = "stripe"

    def create_checkout(
        self,
        *,
        order: Order,
        lines: list,
        success_url: str,
        cancel_url: str,
        now: datetime,
    ) -> CheckoutStart:
        expires_at = session_expires_at(order.hold_expires_at, now)
        metadata = {"order_id": str(order.id), "order_code": order.code}
        params = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": line.quantity,
                    "price_data": {
                        "currency": order.currency,
                        "unit_amount": to_minor_units(line.unit_price, order.currency),
                        "product_data": {
                            "name": f"{order.event.name} · {line.ticket_type.name}"
                        },
                    },
                }
                for line in lines
            ],
            "customer_email": order.customer_email,
            "client_reference_id": str(order.id),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": int(expires_at.timestamp()),
        }
        # Same order, same window, same session being replaced: a retried or
        # doubled request gets the same session back instead of a second one,
        # and a session that expired is not replayed.
        replaces = order.stripe_checkout_session_id or "first"
        key = f"checkout-{order.id}-{int(expires_at.timestamp())}-{replaces}"
        try:
            with waiting_on_provider():
                session = client().v1.checkout.sessions.create(
                    params=params, options={"idempotency_key": key}
                )
        except stripe.StripeError as exc:
            # Not Stripe's words: they can quote the buyer's email address.
            logger.warning(
                "Stripe refused a checkout session for order %s: %s",
                order.id,
                _error_summary(exc),
            )
            raise PaymentUnavailable() from exc
        return CheckoutStart(url=session["url"], session_id=session["id"])

    def get_checkout(self, session_id: str, *, quick: bool = False) -> CheckoutState:
        """A payment page as Stripe sees it now. `quick`: one short try
        (QUICK_TIMEOUT_SECONDS), for a caller that asks again later."""
        with _asking_how_it_stands("session", session_id):
            session = client(quick=quick).v1.checkout.sessions.retrieve(session_id)
        return _state(session)

    def get_payment_intent(
        self, intent_id: str, *, quick: bool = False
    ) -> PaymentIntentState:
        """A payment as Stripe sees it now: whether a delayed one (a bank
        debit) cleared or failed. `quick` as get_checkout's."""
        with _asking_how_it_stands("payment", intent_id):
            intent = client(quick=quick).v1.payment_intents.retrieve(intent_id)
        status = intent.get("status") or ""
        return PaymentIntentState(
            intent_id=intent["id"],
            status=status,
            amount_minor=intent.get("amount_received")
            if status == "succeeded"
            else None,
            currency=intent.get("currency"),
        )

    def expire_checkout(self, session_id: str, *, quick: bool = False) -> None:
        """Close an open session; one already closed is left as it is.
        `quick`: one short try (QUICK_TIMEOUT_SECONDS), for a close that can
        wait for another go when Stripe is slow or down."""
        try:
            with waiting_on_provider():
                client(quick=quick).v1.checkout.sessions.expire(session_id)
        except stripe.InvalidRequestError as exc:
            logger.info("Session %s not expired: %s", session_id, _error_summary(exc))
        except stripe.StripeError as exc:
            raise PaymentUnavailable() from exc

    def refund(
        self,
        *,
        payment: Payment,
        reason: str,
        amount: Decimal | None = None,
        idempotency_key: str = "",
    ) -> str:
        """Refund a payment, in full (what is left of it) or `amount` of it;
        repeating it is safe (the idempotency key, by default one per
        payment). Raises PaymentRefused when Stripe answered no (see
        _refund_failure): only then may a new key be tried."""
        if not payment.provider_reference.startswith("pi_"):
            return "nothing-to-refund"
        params = {
            "payment_intent": payment.provider_reference,
            "metadata": {"order_id": str(payment.order_id), "reason": reason[:200]},
        }
        if amount is not None:
            params["amount"] = to_minor_units(amount, payment.currency)
        try:
            with waiting_on_provider():
                refund = client().v1.refunds.create(
                    params=params,
                    options={
                        "idempotency_key": idempotency_key or f"refund-{payment.pk}"
                    },
                )
        except stripe.InvalidRequestError as exc:
            if exc.code == "charge_already_refunded":
                return "already-refunded"
            raise _refund_failure(exc) from exc
        except stripe.StripeError as exc:
            raise _refund_failure(exc) from exc
        return refund["id"]


@contextmanager
def _asking_how_it_stands(what: str, reference: str) -> Iterator[None]:
    """Waiting on Stripe for how a session or payment stands: PaymentUnavailable
    when it does not say, logged by the error's kind, never Stripe's words
    (they can quote the buyer's email address)."""
    try:
        with waiting_on_provider():
            yield
    except stripe.StripeError as exc:
        logger.warning(
            "Stripe did not say how %s %s stands: %s",
            what,
            reference,
            _error_summary(exc),
        )
        raise PaymentUnavailable() from exc


def _error_summary(exc: stripe.StripeError) -> str:
    """A Stripe error for the log: its type, HTTP status, code and request
    id (which finds it in Stripe's dashboard), not its message."""
    error = exc.error
    code = (error.code if error is not None else None) or exc.code or "-"
    return (
        f"{type(exc).__name__} (HTTP {exc.http_status or 'none'}, {code},"
        f" request {exc.request_id or '-'})"
    )


def _refund_failure(exc: stripe.StripeError) -> PaymentUnavailable:
    """What a refund request that failed means for the money.

    Stripe saves the answer given under an idempotency key, refusals
    included, and repeats it for that key for 24 hours; so the two cases
    call for opposite retries. PaymentRefused: Stripe answered with a 4xx,
    so it made no refund, and only a request under a new key can succeed.
    PaymentUnavailable: no answer (connection lost, timed out) or Stripe's
    own error (5xx), so the refund may exist, and only the same key is safe.
    Two 4xx are of the second kind: a 409, another request under the key
    still running, which may yet refund; an idempotency error, an earlier
    request under the key sent otherwise, whose answer never came back.
    """
    status = exc.http_status
    error = exc.error
    code = (error.code if error is not None else None) or exc.code or "-"
    refused = (
        status is not None
        and 400 <= status < 500
        and status != 409
        and not isinstance(exc, stripe.IdempotencyError)
    )
    if not refused:
        logger.warning(
            "Stripe refund failed, whether it was made is unknown"
            " (HTTP %s, %s, request %s)",
            status or "none",
            code,
            exc.request_id or "-",
        )
        return PaymentUnavailable()
    reason = _refusal_reason(exc)
    logger.warning(
        "Stripe refused a refund (HTTP %s, %s, request %s): %s",
        status,
        code,
        exc.request_id or "-",
        redact_contacts(reason),
    )
    return PaymentRefused(f"Stripe refused the refund: {reason}", reason=reason)


def _refusal_reason(exc: stripe.StripeError) -> str:
    """Stripe's own words for a refusal, fit to show the owner: its message
    (or else its error code). A key Stripe does not accept gets plain words
    instead, as that message quotes part of the key."""
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return (
            "Stripe did not accept this site's API key for refunds; whoever"
            " set up payments should check it."
        )
    error = exc.error
    said = ""
    if error is not None:
        said = error.get("user_message") or error.message or error.code or ""
    said = " ".join(str(said or exc.user_message or exc.code or "").split())
    return said or "Stripe gave no reason."


def parse_webhook(payload: bytes, signature: str) -> dict:
    """Verify a webhook's Stripe-Signature and return the event as a dict."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidWebhook(
            "Stripe webhooks are not configured.", code="not_configured"
        )
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, signature or "", secret, WEBHOOK_TOLERANCE_SECONDS
        )
        event = json.loads(text)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidWebhook() from exc
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise InvalidWebhook("The webhook payload is not a Stripe event.")
    return event
