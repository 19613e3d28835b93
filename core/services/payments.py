"""Taking payment for an order, whatever the provider.

The Stripe webhook, the return from Stripe Checkout, the worker's asking
Stripe about orders it has not heard of (reconcile_unsettled_orders), the
simulated test page and the external channel all end in confirm_payment,
which issues tickets exactly once (fulfil_order) or refunds what cannot be
kept.
"""

import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
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
from core.models.orders import STRIPE_CHECKED_STATUSES
from core.notify.outbox import queue_email
from core.payments import CheckoutState, PaymentIntentState, get_provider
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

if TYPE_CHECKING:
    from core.payments.stripe_checkout import StripeProvider

logger = logging.getLogger(__name__)

PAID_STATUSES = ("paid", "no_payment_required")

# Asking Stripe about the orders its webhook has not settled (ADR 17). An
# order on a Stripe page is first asked about RECONCILE_LEAD before its hold
# lapses, so that a paid one is fulfilled while it still holds its seats; a
# page still open, again once the hold has lapsed (the hold sweep, which runs
# just before, has closed it by then), then every RECONCILE_BACKOFF until
# Stripe's answer is final; a delayed payment every PROCESSING_RECHECK until
# it clears or fails. At most RECONCILED_PER_ROUND orders a round, each one
# short try (core.payments.stripe_checkout.QUICK_TIMEOUT_SECONDS).
RECONCILE_LEAD = timedelta(minutes=1)
RECONCILE_BACKOFF = timedelta(minutes=5)
PROCESSING_RECHECK = timedelta(minutes=15)
RECONCILED_PER_ROUND = 25
# Stripe closes a payment page within a day of opening it: one said to be
# open after this is an oddity for a person to look at, not asked about again.
STRIPE_PAGE_OUTLIVED = timedelta(days=2)
# What a round counts as settled (or moved on) by asking; the rest were
# found as they were, or settled already by the webhook.
RECONCILE_SETTLED = ("fulfilled", "refund_due", "processing", "failed", "expired")


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
        ).update(
            stripe_checkout_session_id=start.session_id,
            stripe_check_at=_first_stripe_check(order, now),
            updated_at=now,
        )
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


def _first_stripe_check(order: Order, now: datetime) -> datetime:
    """When the worker first asks Stripe about an order just sent to a
    Stripe page: RECONCILE_LEAD before its hold lapses (ADR 17)."""
    if order.hold_expires_at is None:
        return now
    return max(now, order.hold_expires_at - RECONCILE_LEAD)


def reconcile_unsettled_orders(
    *, now: datetime | None = None, limit: int = RECONCILED_PER_ROUND
) -> int:
    """Worker sweep: ask Stripe about the orders due a check
    (Order.stripe_check_at), in case its webhook never comes; returns how
    many it settled or moved on (ADR 17).

    Stripe's answer goes through the webhook's own functions
    (_apply_completed_session, record_processing_payment,
    record_failed_payment, expire_order), which lock the order with NOWAIT:
    a webhook arriving meanwhile makes the same payment once, and an order
    someone holds (OrderBusy) is asked about again next round. Claims the
    most overdue `limit` orders first (SKIP LOCKED, so two workers never ask
    about the same one), each one short try; the first Stripe fails to
    answer ends the round, the rest asked next round. Never raises: what
    fails is logged (Stripe's error code, never its message) and asked about
    again after RECONCILE_BACKOFF. Asks nothing while Stripe is not set up.
    """
    now = now or timezone.now()
    if not settings.STRIPE_SECRET_KEY:
        return 0
    orders = _claim_orders_to_check(now=now, limit=limit)
    if not orders:
        return 0
    provider = get_provider("stripe")
    outcomes: Counter[str] = Counter()
    for index, (order, due_at) in enumerate(orders):
        try:
            outcome, next_check = _reconcile_order(order, provider, now)
        except PaymentUnavailable:
            logger.warning(
                "Stripe did not answer about order %s; asking again in %s",
                order.pk,
                RECONCILE_BACKOFF,
            )
            outcomes["unanswered"] += 1
            # The rest were not asked: due as they were, for the next round.
            for unasked, unasked_due_at in orders[index + 1 :]:
                _check_again(unasked, unasked_due_at)
            break
        except OrderBusy:
            # Being paid or changed right now (a webhook, say): next round.
            outcome, next_check = "busy", due_at
        except Exception:
            logger.exception("Could not reconcile order %s with Stripe", order.pk)
            outcome, next_check = "error", now + RECONCILE_BACKOFF
        _check_again(order, next_check)
        outcomes[outcome] += 1
        if outcome in ("fulfilled", "refund_due", "failed"):
            logger.warning(
                "Order %s: %s on asking Stripe, which had not sent the"
                " webhook for it (is the webhook endpoint and its"
                " STRIPE_WEBHOOK_SECRET right?)",
                order.pk,
                "paid and fulfilled"
                if outcome == "fulfilled"
                else (
                    "paid after its seats were gone, its payment goes back"
                    if outcome == "refund_due"
                    else "its payment failed, released"
                ),
            )
    logger.info(
        "Asked Stripe about %s orders: %s",
        sum(outcomes.values()),
        ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items())),
    )
    return sum(outcomes[name] for name in RECONCILE_SETTLED)


@transaction.atomic
def _claim_orders_to_check(*, now: datetime, limit: int) -> list[tuple]:
    """The most overdue orders due a check, each with when it was due, and
    their next check put off by RECONCILE_BACKOFF meanwhile (another worker
    leaves them be; one that dies mid-round has them asked later)."""
    orders = list(
        Order.objects.select_for_update(skip_locked=True)
        .filter(stripe_check_at__lte=now, status__in=STRIPE_CHECKED_STATUSES)
        .order_by("stripe_check_at")[:limit]
    )
    if not orders:
        return []
    lease = now + RECONCILE_BACKOFF
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(stripe_check_at=lease)
    claimed = []
    for order in orders:
        claimed.append((order, order.stripe_check_at))
        order.stripe_check_at = lease
    return claimed


def _check_again(order: Order, when: datetime | None) -> None:
    """Set the order's next check, unless it changed since the claim (a new
    payment page opened for it has its own)."""
    Order.objects.filter(pk=order.pk, stripe_check_at=order.stripe_check_at).update(
        stripe_check_at=when
    )


def _reconcile_order(
    order: Order, provider: "StripeProvider", now: datetime
) -> tuple[str, datetime | None]:
    """Ask Stripe about one order and apply its answer as the webhook would;
    returns what came of it and when to ask next (None: Stripe's answer is
    final). A processing order whose payment is known is asked about that
    payment; any other, its payment page first."""
    intent_id = (
        order.stripe_payment_intent_id
        if order.status == Order.Status.PROCESSING
        else None
    )
    if not intent_id:
        page = provider.get_checkout(order.stripe_checkout_session_id, quick=True)
        if page.status == "open":
            return "open", _next_check_of_open_page(order, now)
        if page.status != "complete":
            return _page_closed_unpaid(order, now), None
        if page.payment_status in PAID_STATUSES:
            return _apply_paid_page(order, page, now), None
        intent_id = page.payment_reference
        if not intent_id:
            return "processing_unknown", now + PROCESSING_RECHECK
    intent = provider.get_payment_intent(intent_id, quick=True)
    return _apply_payment_state(order, intent, now)


def _next_check_of_open_page(order: Order, now: datetime) -> datetime | None:
    """A page still open: asked again as its hold lapses (RECONCILE_LEAD
    before first, if that is still to come), then every RECONCILE_BACKOFF
    until Stripe closes it."""
    hold = order.hold_expires_at
    if order.status == Order.Status.PENDING and hold is not None and hold > now:
        return hold - RECONCILE_LEAD if now < hold - RECONCILE_LEAD else hold
    if order.created_at < now - STRIPE_PAGE_OUTLIVED:
        logger.warning(
            "Order %s: Stripe still shows its payment page %s open; no longer asking",
            order.pk,
            order.stripe_checkout_session_id,
        )
        return None
    return now + RECONCILE_BACKOFF


def _page_closed_unpaid(order: Order, now: datetime) -> str:
    """Stripe closed the page unpaid: a lapsed hold expires, as the
    webhook's checkout.session.expired has it (expire_order)."""
    if order.status != Order.Status.PENDING:
        return "closed"
    expired = expire_order(order_id=order.pk, nowait=True, now=now)
    return "expired" if expired.status == Order.Status.EXPIRED else "closed"


def _apply_paid_page(order: Order, page: CheckoutState, now: datetime) -> str:
    outcome = _apply_completed_session(
        order,
        session_id=page.session_id,
        payment_status=page.payment_status,
        payment_intent=page.payment_reference,
        amount_minor=page.amount_minor,
        currency=page.currency,
        event_id="",
        now=now,
    )
    return "settled_already" if outcome == "already_fulfilled" else outcome


def _apply_payment_state(
    order: Order, intent: PaymentIntentState, now: datetime
) -> tuple[str, datetime | None]:
    """A delayed payment (the page complete, unpaid): paid once it
    succeeded, released once it failed, as the webhook's
    async_payment_succeeded and _failed have it; still clearing, a pending
    order's seats stay held while it does (record_processing_payment)."""
    if intent.status == "succeeded":
        outcome = _apply_completed_session(
            order,
            session_id=order.stripe_checkout_session_id or "",
            payment_status="paid",
            payment_intent=intent.intent_id,
            amount_minor=intent.amount_minor,
            currency=intent.currency,
            event_id="",
            now=now,
        )
        return ("settled_already" if outcome == "already_fulfilled" else outcome), None
    if intent.status in ("requires_payment_method", "canceled"):
        if order.status not in (Order.Status.PENDING, Order.Status.PROCESSING):
            return "closed", None
        released = record_failed_payment(order_id=order.pk, nowait=True, now=now)
        return (
            "failed" if released.status == Order.Status.CANCELLED else "closed"
        ), None
    if order.status == Order.Status.PENDING:
        held = record_processing_payment(
            order_id=order.pk,
            provider_reference=intent.intent_id,
            nowait=True,
            now=now,
        )
        if held.status == Order.Status.PROCESSING:
            return "processing", now + PROCESSING_RECHECK
    return "still_processing", now + PROCESSING_RECHECK


def _apply_completed_session(
    order: Order,
    *,
    session_id: str,
    payment_status: str,
    payment_intent: str | None,
    amount_minor: int | None,
    currency: str | None,
    event_id: str,
    now: datetime | None = None,
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
            now=now,
        )
        if result.issued:
            return "fulfilled"
        return "refund_due" if result.needs_refund else "already_fulfilled"
    record_processing_payment(
        order_id=order.pk, provider_reference=payment_intent or "", nowait=True, now=now
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
