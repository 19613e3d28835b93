"""Taking payment for an order, whatever the provider.

The Stripe webhook, the return from Stripe Checkout, the simulated test page
and the external channel all end in confirm_payment, which issues tickets
exactly once (fulfil_order) or refunds what cannot be kept.
"""

import logging
import uuid
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from core import realtime
from core.exceptions import (
    OrderBusy,
    OrderNotPayable,
    PaymentRefused,
    PaymentUnavailable,
)
from core.models import Order, OrderLine, Payment, ProviderEvent, Refund
from core.notify.outbox import queue_email
from core.payments import get_provider
from core.payments.money import from_minor_units
from core.queries.orders import (
    REFUNDABLE_PROVIDERS,
    REFUSED_REFUND_RETRY,
    refunded_outside,
)
from core.rows import insert_row_if_new, rows_where
from core.services.counters import release_held
from core.services.fulfilment import FulfilmentResult, fulfil_order
from core.services.locks import lock_order
from core.services.orders import (
    close_checkout_quietly,
    expire_order,
    void_order,
)
from core.services.waitlist import offer_after_commit

logger = logging.getLogger(__name__)

PAID_STATUSES = ("paid", "no_payment_required")


def simulated_reference(order: Order) -> str:
    """The simulated provider's payment reference: one per order, so paying twice is one payment."""
    return f"sim_{order.id.hex}"


def start_payment(
    *,
    order_id,
    success_url: str,
    cancel_url: str,
    order: Order | None = None,
    now: datetime | None = None,
) -> str:
    """Open the provider's payment page for a pending order; returns its URL.

    Holds no lock while the provider is called. An order whose Stripe page is
    still open, and for the order's email, gets that page again; otherwise a
    new one is created (a page opened for an email since corrected is closed
    first), with an idempotency key per order, window and page replaced,
    and its id recorded on the order, provided the order is still pending.
    A free order is confirmed at once, through confirm_payment, and the
    buyer goes straight to `success_url`.
    Raises OrderNotPayable (not pending, or the hold lapsed) and
    PaymentUnavailable (the hold stays; the caller may cancel it).
    `order`, when the caller has just created or read it, is not read again
    (the provider call holds no lock, so a fresher read would prove nothing).
    """
    now = now or timezone.now()
    if order is None or order.pk != order_id:
        order = Order.objects.select_related("event").get(pk=order_id)
    if not order.is_payable(now):
        raise OrderNotPayable()
    if order.total == 0:
        confirm_payment(
            order_id=order.id,
            provider=Payment.Provider.COMP,
            provider_reference=f"free-{order.id.hex}",
            amount=Decimal("0.00"),
            currency=order.currency,
        )
        return success_url
    provider = get_provider()
    if order.stripe_checkout_session_id and provider.name == "stripe":
        state = provider.get_checkout(order.stripe_checkout_session_id)
        if state.status == "open" and state.url:
            if _opened_for(state, order):
                return state.url
            # Opened before the buyer corrected their email on the buy form
            # (checkout_keys): closed, and a new page opened for the email
            # the tickets go to (its idempotency key names the page it
            # replaces, so Stripe does not answer with this one again).
            close_checkout_quietly(order.stripe_checkout_session_id)
        elif state.status == "complete":
            return success_url
    lines = (
        list(order.lines.select_related("ticket_type").order_by("ticket_type_id"))
        if provider.name == "stripe"
        else []
    )
    start = provider.create_checkout(
        order=order,
        lines=lines,
        success_url=success_url,
        cancel_url=cancel_url,
        now=now,
    )
    if start.session_id:
        recorded = Order.objects.filter(
            pk=order.pk, status=Order.Status.PENDING
        ).update(stripe_checkout_session_id=start.session_id, updated_at=now)
        if not recorded:
            close_checkout_quietly(start.session_id)
            raise OrderNotPayable()
    return start.url


def _opened_for(state, order: Order) -> bool:
    """Whether a payment page was opened for the order's email as it is now
    (a provider that does not say is taken at its word)."""
    opened_for = state.customer_email
    return opened_for is None or opened_for.lower() == order.customer_email.lower()


def confirm_payment(
    *,
    order_id,
    provider: str,
    provider_reference: str,
    amount: Decimal,
    currency: str,
    provider_event_id: str = "",
    nowait: bool = False,
    now: datetime | None = None,
    order: Order | None = None,
    lines: list[OrderLine] | None = None,
) -> FulfilmentResult:
    """A provider says an order is paid: issue its tickets once, or refund.

    Runs in fulfil_order's transaction (or the caller's, such as the webhook
    handler's) and locks as it does (OrderBusy with `nowait`). For Stripe,
    records the payment intent on the order. A payment that cannot be kept (seats
    gone after the hold lapsed, or the order already settled) is refunded
    right after commit; if that fails the worker's sweep retries it, and the
    customer is emailed why once it is done. `order` and its `lines`, the
    caller's read of them, spare fulfil_order reading them again.
    """
    result = fulfil_order(
        order_id=order_id,
        provider=provider,
        provider_reference=provider_reference,
        amount=amount,
        currency=currency,
        provider_event_id=provider_event_id,
        nowait=nowait,
        now=now,
        order=order,
        lines=lines,
    )
    if result.needs_refund:
        payment_id = Payment.objects.get(
            provider=provider, provider_reference=provider_reference
        ).pk
        transaction.on_commit(lambda: refund_payment_quietly(payment_id))
    return result


def refund_payment_quietly(payment_id) -> None:
    try:
        refund_due_payment(payment_id=payment_id)
    except PaymentUnavailable:
        logger.warning("Refund of payment %s failed; the worker will retry", payment_id)


def refund_due_payment(*, payment_id, now: datetime | None = None) -> bool:
    """Send back one payment marked `refund_due`; returns whether it was.

    Each try is sent under due_refund_key. The immediate attempt and the
    worker's retries can overlap safely: they send the same key, and the
    provider makes the refund once. Raises PaymentUnavailable when the
    provider fails (the payment stays due): the next try resends the same
    key, since the refund may have been made. PaymentRefused when it
    refused: nothing was made, and the provider would repeat that answer to
    the key for a day, so the next try sends a new one (its reason is kept
    as `refund_refusal_reason`, for the owner's order page). Resending later
    cannot refund twice: the whole payment goes back, and the provider
    refuses to refund a payment with nothing left (core.payments answers
    that as already refunded).
    """
    payment = Payment.objects.filter(
        pk=payment_id, status=Payment.Status.REFUND_DUE
    ).first()
    if payment is None:
        return False
    if payment.provider == Payment.Provider.EXTERNAL:
        # The other channel took it: nothing to send back from here, and the
        # customer must not be told it was (fulfilment never marks one due).
        logger.error("Payment %s is external: not refunded automatically", payment.pk)
        return False
    reason = "payment arrived after the tickets were gone"
    if payment.provider in REFUNDABLE_PROVIDERS:
        try:
            reference = get_provider(payment.provider).refund(
                payment=payment, reason=reason, idempotency_key=due_refund_key(payment)
            )
        except PaymentRefused as exc:
            # A later try is not this one's to move on from. The reason is
            # the owner's to see (and to put right) until a try succeeds.
            refusal = exc.reason or "The payment provider gave no reason."
            Payment.objects.filter(
                pk=payment.pk,
                status=Payment.Status.REFUND_DUE,
                refund_attempt=payment.refund_attempt,
            ).update(
                refund_attempt=F("refund_attempt") + 1,
                refund_refusal_reason=refusal[:255],
                updated_at=now or timezone.now(),
            )
            logger.warning(
                "Refund of payment %s refused (try %s): %s",
                payment.pk,
                payment.refund_attempt,
                exc.reason or "no reason given",
            )
            raise
    else:
        # Comp payments never passed through us.
        logger.warning("Payment %s is due back via %s", payment.pk, payment.provider)
        reference = ""
    settle_refund(payment_id=payment.pk, refund_reference=reference, now=now)
    return True


def due_refund_key(payment: Payment) -> str:
    """The idempotency key of the current try at refunding a payment not
    kept: the provider's default key per payment at first (so a try sent
    before tries were counted is resent as it was), then one per try that
    follows a refusal (as core.services.orders.attempt_key)."""
    if payment.refund_attempt <= 1:
        return f"refund-{payment.pk}"
    return f"refund-{payment.pk}-{payment.refund_attempt}"


def refund_due_payments(*, now: datetime | None = None, limit: int = 50) -> int:
    """Worker sweep: retry the refunds still due; returns how many went through.

    One that failed is retried every sweep; one the provider refused, only
    once REFUSED_REFUND_RETRY has passed since (its cause, a low balance
    say, takes someone to put right), until it goes through.
    """
    now = now or timezone.now()
    done = 0
    ids = list(
        Payment.objects.filter(status=Payment.Status.REFUND_DUE)
        .exclude(provider=Payment.Provider.EXTERNAL)
        .filter(
            Q(refund_refusal_reason="") | Q(updated_at__lte=now - REFUSED_REFUND_RETRY)
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    for payment_id in ids:
        try:
            done += refund_due_payment(payment_id=payment_id, now=now)
        except PaymentUnavailable:
            logger.warning("Refund of payment %s failed again", payment_id)
    return done


@transaction.atomic
def settle_refund(
    *, payment_id, refund_reference: str = "", now: datetime | None = None
) -> Payment:
    """Book the refund of a payment we could not keep, and tell the customer why.

    Locks the order, then the payment. A `refund_due` payment becomes
    refunded, `refunded_at` now (the console shows it as refunded
    automatically, not as refunded outside); an order left without tickets
    becomes refunded too. Queues the `payment_refunded` email explaining the
    reason. Repeating it changes nothing.
    """
    now = now or timezone.now()
    order_id = Payment.objects.values_list("order_id", flat=True).get(pk=payment_id)
    order = lock_order(order_id)
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.status != Payment.Status.REFUND_DUE:
        return payment
    payment.status = Payment.Status.REFUNDED
    payment.refunded_at = now
    payment.refund_refusal_reason = ""
    payment.save(
        update_fields=["status", "refunded_at", "refund_refusal_reason", "updated_at"]
    )
    already_settled = order.status in (Order.Status.PAID, Order.Status.REFUNDED)
    if not already_settled:
        order.status = Order.Status.REFUNDED
        order.updated_at = now
        order.save(update_fields=["status", "updated_at"])
    queue_email(
        kind="payment_refunded",
        to=order.customer_email,
        order=order,
        context={
            "why": "already_paid" if already_settled else "sold_out",
            "amount": str(payment.amount),
            "currency": payment.currency,
            "refund_reference": refund_reference,
        },
    )
    return payment


@transaction.atomic
def record_processing_payment(
    *,
    order_id,
    provider_reference: str = "",
    nowait: bool = False,
    now: datetime | None = None,
) -> Order:
    """The buyer finished checkout with a payment that clears later (bank debit).

    Locks the order (OrderBusy with `nowait`). A pending order whose hold is
    still live becomes `processing`: its seats stay held until the payment
    succeeds or fails. One whose hold lapsed is left alone; if the money
    arrives, fulfilment checks the seats like any late payment.
    """
    now = now or timezone.now()
    order = lock_order(order_id, nowait=nowait)
    if order.is_payable(now):
        order.status = Order.Status.PROCESSING
        fields = ["status", "updated_at"]
        if provider_reference.startswith("pi_") and not order.stripe_payment_intent_id:
            order.stripe_payment_intent_id = provider_reference
            fields.append("stripe_payment_intent_id")
        order.save(update_fields=fields)
    return order


@transaction.atomic
def record_failed_payment(
    *, order_id, nowait: bool = False, now: datetime | None = None
) -> Order:
    """A delayed payment failed: release the hold and tell the buyer.

    Locks the order (OrderBusy with `nowait`). Only a pending or processing
    order changes (to cancelled); queues the `payment_failed` email,
    announces availability and offers the freed seats to the waitlist after
    commit.
    """
    now = now or timezone.now()
    order = lock_order(order_id, nowait=nowait)
    if order.status not in (Order.Status.PENDING, Order.Status.PROCESSING):
        return order
    order.status = Order.Status.CANCELLED
    order.updated_at = now
    order.save(update_fields=["status", "updated_at"])
    release_held([order.id])
    queue_email(kind="payment_failed", to=order.customer_email, order=order)
    realtime.announce_availability_changed(order.event_id, reason="payment_failed")
    offer_after_commit(order.event_id)
    return order


def sync_checkout(*, order_id) -> Order:
    """Ask Stripe about a pending order's payment page (the buyer just came back).

    Saves the buyer waiting for the webhook: a paid page is confirmed through
    confirm_payment, exactly as the webhook would. Never raises for provider
    trouble or a concurrent confirmation; the webhook remains the backstop.
    """
    order = Order.objects.get(pk=order_id)
    session_id = order.stripe_checkout_session_id
    if order.status != Order.Status.PENDING or not session_id:
        return order
    try:
        state = get_provider("stripe").get_checkout(session_id)
        if state.status == "complete":
            _apply_completed_session(
                order,
                session_id=session_id,
                payment_status=state.payment_status,
                payment_intent=state.payment_reference,
                amount_minor=state.amount_minor,
                currency=state.currency,
                event_id="",
            )
    except (PaymentUnavailable, OrderBusy):
        pass
    order.refresh_from_db()
    return order


def _apply_completed_session(
    order: Order,
    *,
    session_id: str,
    payment_status: str,
    payment_intent: str | None,
    amount_minor: int | None,
    currency: str | None,
    event_id: str,
) -> str:
    currency = (currency or order.currency).lower()
    reference = payment_intent or session_id
    if payment_status in PAID_STATUSES:
        amount = (
            from_minor_units(amount_minor, currency)
            if amount_minor is not None
            else order.total
        )
        if amount != order.total:
            logger.warning(
                "Order %s: paid %s %s, total was %s",
                order.pk,
                amount,
                currency,
                order.total,
            )
        result = confirm_payment(
            order_id=order.pk,
            provider=Payment.Provider.STRIPE,
            provider_reference=reference,
            amount=amount,
            currency=currency,
            provider_event_id=event_id,
            nowait=True,
        )
        if result.issued:
            return "fulfilled"
        return "refund_due" if result.needs_refund else "already_fulfilled"
    record_processing_payment(
        order_id=order.pk, provider_reference=payment_intent or "", nowait=True
    )
    return "processing"


def _order_for(obj: dict) -> Order | None:
    metadata = obj.get("metadata") or {}
    order_id = metadata.get("order_id") or obj.get("client_reference_id")
    order = None
    order_uuid = _uuid_or_none(order_id) if order_id else None
    if order_uuid is not None:
        # Every payment's webhook reads its order: a planned read (ADR 7).
        found = rows_where(Order, id=order_uuid)
        order = found[0] if found else None
    if order is None and obj.get("object") == "checkout.session" and obj.get("id"):
        order = Order.objects.filter(stripe_checkout_session_id=obj["id"]).first()
    return order


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _handle_charge_refunded(charge: dict) -> str:
    intent = charge.get("payment_intent")
    intent = intent.get("id") if isinstance(intent, dict) else intent
    payment = Payment.objects.filter(
        provider=Payment.Provider.STRIPE, provider_reference=intent or ""
    ).first()
    if not charge.get("refunded"):
        if payment is None:
            return "partial_refund_ignored"
        return _note_partial_refund(payment, charge)
    if payment is None:
        order = _order_for(charge) or (
            Order.objects.filter(stripe_payment_intent_id=intent).first()
            if intent
            else None
        )
        if order is None:
            return "ignored"
        order = lock_order(order.pk, nowait=True)
        amount = from_minor_units(charge.get("amount") or 0, order.currency)
        paid_by_another = order.payments.filter(
            status=Payment.Status.SUCCEEDED
        ).exists()
        # Refunded before we heard it was paid: remember it, so a late
        # "completed" finds this payment refunded and issues nothing. Of an
        # order another payment paid, it is a payment not kept, sent back
        # (`refunded_at`, as settle_refund stamps a second payment turned
        # away), not a refund of the money the order keeps
        # (core.queries.money).
        Payment.objects.create(
            order=order,
            provider=Payment.Provider.STRIPE,
            provider_reference=intent or f"charge-{charge.get('id')}",
            amount=amount,
            currency=order.currency,
            status=Payment.Status.REFUNDED,
            refunded_at=timezone.now() if paid_by_another else None,
            provider_refunded=from_minor_units(
                charge.get("amount_refunded") or charge.get("amount") or 0,
                order.currency,
            ),
        )
        if paid_by_another:
            # Another payment, which the order keeps, paid it (this one a
            # second payment page, say): its tickets stand on that one. The
            # refunded payment stays on the order's record for the owner.
            logger.warning(
                "Order %s: payment %s we never recorded was refunded; the order"
                " is paid by another, so nothing is voided",
                order.pk,
                intent or charge.get("id"),
            )
            return "unrecorded_payment_refunded"
        void_order(order_id=order.pk, reason="refunded", amount=amount, nowait=True)
        return "refunded"
    order = lock_order(payment.order_id, nowait=True)
    payment.refresh_from_db(fields=["provider_refunded"])
    given_back = _left_before(payment)
    _record_provider_refunded(
        payment, charge.get("amount_refunded") or charge.get("amount") or 0
    )
    payment.refresh_from_db(fields=["status"])
    if payment.status == Payment.Status.REFUNDED:
        return "already_refunded"
    if payment.status == Payment.Status.REFUND_DUE:
        settle_refund(payment_id=payment.pk, refund_reference=charge.get("id") or "")
        return "refunded"
    if _refunded_by_us_alone(order, payment):
        return "refund_recognised"
    void_order(
        order_id=payment.order_id, reason="refunded", amount=given_back, nowait=True
    )
    return "refunded"


def _refunded_by_us_alone(order: Order, payment: Payment) -> bool:
    """Whether the order's own refunds of chosen tickets (made or being
    made here) account for all that Stripe says went back of a paid order,
    so that its full refund is only theirs added up: the tickets they left
    (a free one, say) still admit, and nothing is voided. Whatever went back
    that no refund here accounts for (refunded_outside) voids the order, as
    does a refund of the whole order still being booked (the owner's
    decision; refund_order's own void may have been cut short)."""
    return (
        order.status == Order.Status.PAID
        and refunded_outside(order) == 0
        and not Refund.objects.filter(
            payment=payment, whole_order=True, status=Refund.Status.PENDING
        ).exists()
    )


def _left_before(payment: Payment) -> Decimal:
    """What was left of a payment before the refund Stripe reports now (what
    its full refund gave back): its amount less what had gone back, by
    Stripe's running total so far or the refunds booked here, whichever is
    more. A refund here still pending is not counted: it may be this one."""
    booked = payment.refunds.filter(status=Refund.Status.SUCCEEDED).aggregate(
        total=Sum("amount")
    )["total"] or Decimal("0.00")
    return max(payment.amount - max(payment.provider_refunded, booked), Decimal("0"))


def _note_partial_refund(payment: Payment, charge: dict) -> str:
    """Part of a charge went back. Nothing is voided here: which tickets is
    the owner's to say. What the order's own refunds account for (made from
    the console, recorded before Stripe was asked) is recognised; the rest
    shows on the order as refunded outside, for the owner to match to
    tickets. Stripe's `amount_refunded` is a running total, so duplicates
    and late deliveries leave the same record."""
    order = lock_order(payment.order_id, nowait=True)
    _record_provider_refunded(payment, charge.get("amount_refunded") or 0)
    if order.status != Order.Status.PAID:
        return "already_refunded"
    return (
        "partial_refund_flagged"
        if refunded_outside(order) > 0
        else ("partial_refund_recognised")
    )


def _record_provider_refunded(payment: Payment, amount_minor: int) -> None:
    """Keep the largest running total Stripe reported (it only grows)."""
    reported = from_minor_units(amount_minor, payment.currency)
    Payment.objects.filter(pk=payment.pk, provider_refunded__lt=reported).update(
        provider_refunded=reported, updated_at=timezone.now()
    )


def handle_stripe_event(*, event: dict, now: datetime | None = None) -> str:
    """Apply one verified Stripe webhook event, once; returns what it did.

    The event id is recorded in the same transaction as its effect, so a
    retry after a failure is applied and a duplicate is recognised. Orders
    are locked with NOWAIT: OrderBusy (HTTP 503, so Stripe retries) when
    another request holds one. Order of delivery does not matter: each
    handler checks the order's state under its lock.
    """
    event_type = event.get("type", "")
    obj = (event.get("data") or {}).get("object") or {}
    with transaction.atomic():
        # One statement, no savepoint: a duplicate (or a retry racing the
        # first delivery) finds the id there and changes nothing.
        recorded = insert_row_if_new(
            ProviderEvent(
                provider="stripe", event_id=event["id"], event_type=event_type[:100]
            ),
            unique=("provider", "event_id"),
        )
        if not recorded:
            return "duplicate"
        if event_type == "charge.refunded":
            return _handle_charge_refunded(obj)
        if not event_type.startswith("checkout.session."):
            return "ignored"
        order = _order_for(obj)
        if order is None:
            return "ignored"
        if event_type in (
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
        ):
            payment_status = obj.get("payment_status") or "unpaid"
            if event_type.endswith("async_payment_succeeded"):
                payment_status = "paid"
            intent = obj.get("payment_intent")
            return _apply_completed_session(
                order,
                session_id=obj.get("id") or "",
                payment_status=payment_status,
                payment_intent=intent.get("id") if isinstance(intent, dict) else intent,
                amount_minor=obj.get("amount_total"),
                currency=obj.get("currency"),
                event_id=event["id"],
            )
        if event_type == "checkout.session.async_payment_failed":
            record_failed_payment(order_id=order.pk, nowait=True, now=now)
            return "payment_failed"
        if event_type == "checkout.session.expired":
            expire_order(order_id=order.pk, nowait=True, now=now)
            return "expired"
        return "ignored"
