"""The Stripe SDK's real HTTP calls, against a local stand-in for Stripe's API."""

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.exceptions import PaymentRefused, PaymentUnavailable
from core.models import Order, Payment
from core.payments import get_provider
from core.payments.money import from_minor_units, to_minor_units
from core.payments.stripe_checkout import session_expires_at
from core.services.checkout import place_order
from core.services.payments import start_payment
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db

SUCCESS = "https://tickets.test/buy/o/x/done/?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "https://tickets.test/buy/o/x/cancel/"


def _order(*, hold_minutes=None, currency="eur"):
    event = EventFactory(name="Stub Night", currency=currency)
    vip = TicketTypeFactory(event=event, name="VIP", price=Decimal("50.00"))
    ga = TicketTypeFactory(event=event, name="GA", price=Decimal("12.50"))
    return place_order(
        event_id=event.id,
        quantities={vip.id: 1, ga.id: 2},
        customer_name="Ana",
        customer_email="Ana@Example.com",
        hold_minutes=hold_minutes,
    )


def test_checkout_session_carries_lines_email_metadata_and_idempotency_key(
    stripe_stub,
):
    order = _order()
    url = start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)

    (call,) = stripe_stub.calls("POST", "/v1/checkout/sessions")
    form = call.form
    assert form["mode"] == "payment"
    assert form["customer_email"] == "ana@example.com"
    assert form["metadata"]["order_id"] == str(order.id)
    assert form["client_reference_id"] == str(order.id)
    assert form["payment_intent_data"]["metadata"]["order_id"] == str(order.id)
    assert form["success_url"] == SUCCESS
    lines = {
        item["price_data"]["product_data"]["name"]: item for item in form["line_items"]
    }
    assert lines["Stub Night · VIP"]["price_data"]["unit_amount"] == "5000"
    assert lines["Stub Night · GA"]["price_data"]["unit_amount"] == "1250"
    assert lines["Stub Night · GA"]["quantity"] == "2"
    assert lines["Stub Night · GA"]["price_data"]["currency"] == "eur"
    assert call.headers["idempotency-key"].startswith(f"checkout-{order.id}-")
    assert call.headers["authorization"] == "Bearer sk_test_stub"

    order.refresh_from_db()
    session = stripe_stub.sessions[order.stripe_checkout_session_id]
    assert url == session["url"]
    assert session["amount_total"] == 7500


def test_a_short_hold_still_gets_a_session_stripe_accepts(stripe_stub):
    """Stripe's minimum is 30 minutes; the sweep expires the session at the hold."""
    order = _order(hold_minutes=10)
    start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)
    session = next(iter(stripe_stub.sessions.values()))
    life = session["expires_at"] - timezone.now().timestamp()
    assert 30 * 60 <= life <= 33 * 60


def test_a_long_hold_sets_the_session_expiry_to_the_hold(stripe_stub):
    order = _order(hold_minutes=120)
    start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)
    session = next(iter(stripe_stub.sessions.values()))
    assert session["expires_at"] == int(order.hold_expires_at.timestamp())


def test_session_expiry_is_capped_below_stripes_24_hours():
    now = timezone.now()
    assert session_expires_at(now + timedelta(hours=30), now) < now + timedelta(
        hours=24
    )


def test_paying_again_reuses_the_open_session(stripe_stub):
    order = _order()
    first = start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)
    second = start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)
    assert first == second
    assert len(stripe_stub.sessions) == 1
    assert stripe_stub.calls("GET", "/v1/checkout/sessions/cs_test_.*")


def test_an_expired_session_is_replaced_by_a_new_one(stripe_stub):
    order = _order(hold_minutes=120)
    start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)
    order.refresh_from_db()
    get_provider("stripe").expire_checkout(order.stripe_checkout_session_id)
    start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)
    assert len(stripe_stub.sessions) == 2
    order.refresh_from_db()
    assert stripe_stub.sessions[order.stripe_checkout_session_id]["status"] == "open"


def test_expire_sends_the_expire_call_and_tolerates_a_closed_session(stripe_stub):
    order = _order()
    start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)
    order.refresh_from_db()
    provider = get_provider("stripe")
    provider.expire_checkout(order.stripe_checkout_session_id)
    provider.expire_checkout(order.stripe_checkout_session_id)  # already expired
    assert len(stripe_stub.calls("POST", r"/v1/checkout/sessions/.*/expire")) == 2
    assert stripe_stub.sessions[order.stripe_checkout_session_id]["status"] == "expired"


def test_refund_is_idempotent_per_payment(stripe_stub):
    order = _order()
    payment = Payment.objects.create(
        order=order,
        provider="stripe",
        provider_reference="pi_test_9",
        amount=order.total,
        currency="eur",
        status=Payment.Status.REFUND_DUE,
    )
    provider = get_provider("stripe")
    first = provider.refund(payment=payment, reason="late")
    second = provider.refund(payment=payment, reason="late")
    assert first == second
    assert len(stripe_stub.refunds) == 1
    calls = stripe_stub.calls("POST", "/v1/refunds")
    assert {c.headers["idempotency-key"] for c in calls} == {f"refund-{payment.pk}"}
    assert calls[0].form["payment_intent"] == "pi_test_9"


def _refundable_payment(order, reference="pi_test_9"):
    return Payment.objects.create(
        order=order,
        provider="stripe",
        provider_reference=reference,
        amount=order.total,
        currency="eur",
        status=Payment.Status.REFUND_DUE,
    )


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (400, "invalid_request_error", "balance_insufficient"),
        (402, "card_error", "expired_card"),
        (404, "invalid_request_error", "resource_missing"),
        (429, "invalid_request_error", "rate_limit"),
    ],
)
def test_a_refund_stripe_answers_no_to_is_a_refusal_with_stripes_reason(
    stripe_stub, caplog, status, error_type, code
):
    payment = _refundable_payment(_order())
    stripe_stub.refuse_refunds(
        status, code=code, message="Your balance is too low.", error_type=error_type
    )
    with pytest.raises(PaymentRefused) as refused:
        get_provider("stripe").refund(payment=payment, reason="late")
    assert refused.value.reason == "Your balance is too low."
    assert (
        refused.value.message == "Stripe refused the refund: Your balance is too low."
    )
    assert f"HTTP {status}, {code}" in caplog.text and "too low" in caplog.text
    assert not stripe_stub.refunds


def test_a_refusal_without_words_gives_stripes_code_or_says_none_was_given(
    stripe_stub,
):
    payment = _refundable_payment(_order())
    stripe_stub.refuse_refunds(code="amount_too_large", message=None)
    with pytest.raises(PaymentRefused) as coded:
        get_provider("stripe").refund(payment=payment, reason="late")
    assert coded.value.reason == "amount_too_large"

    stripe_stub.refuse_refunds(code=None, message=None)
    with pytest.raises(PaymentRefused) as bare:
        get_provider("stripe").refund(
            payment=payment, reason="late", idempotency_key="second"
        )
    assert bare.value.reason == "Stripe gave no reason."


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_api_key_is_not_quoted_to_the_owner(stripe_stub, caplog, status):
    payment = _refundable_payment(_order())
    stripe_stub.refuse_refunds(
        status,
        code=None,
        message="Invalid API Key provided: sk_test_****stub",
    )
    with pytest.raises(PaymentRefused) as refused:
        get_provider("stripe").refund(payment=payment, reason="late")
    assert "API key" in refused.value.reason
    assert "sk_test" not in refused.value.message and "sk_test" not in caplog.text


@pytest.mark.parametrize("status", [500, 503])
def test_a_refund_stripe_fails_on_its_side_may_have_been_made(stripe_stub, status):
    payment = _refundable_payment(_order())
    stripe_stub.fail_status = status
    with pytest.raises(PaymentUnavailable) as failed:
        get_provider("stripe").refund(payment=payment, reason="late")
    assert not isinstance(failed.value, PaymentRefused)


def test_a_conflict_with_a_request_still_running_may_yet_refund(stripe_stub):
    payment = _refundable_payment(_order())
    stripe_stub.refuse_refunds(
        409,
        code=None,
        message="There is currently another in-progress request using this"
        " Idempotent Key.",
        error_type="idempotency_error",
    )
    with pytest.raises(PaymentUnavailable) as failed:
        get_provider("stripe").refund(payment=payment, reason="late")
    assert not isinstance(failed.value, PaymentRefused)


def test_a_key_first_sent_otherwise_may_have_refunded(stripe_stub):
    """Stripe refuses a key reused with other parameters, but the first
    request under it may have refunded: not a refusal of the refund."""
    payment = _refundable_payment(_order())
    provider = get_provider("stripe")
    provider.refund(payment=payment, reason="late", idempotency_key="k1")
    with pytest.raises(PaymentUnavailable) as failed:
        provider.refund(payment=payment, reason="sick", idempotency_key="k1")
    assert not isinstance(failed.value, PaymentRefused)
    assert len(stripe_stub.refunds) == 1


def test_a_refund_whose_answer_was_lost_may_have_been_made(stripe_stub):
    payment = _refundable_payment(_order())
    stripe_stub.drop_answers = 3  # the SDK's first try and both retries
    with pytest.raises(PaymentUnavailable) as failed:
        get_provider("stripe").refund(payment=payment, reason="late")
    assert not isinstance(failed.value, PaymentRefused)
    assert len(stripe_stub.refunds) == 1  # made at Stripe all the same
    assert len(stripe_stub.calls("POST", "/v1/refunds")) == 3


def test_an_outage_raises_payment_unavailable_and_keeps_the_order_pending(
    stripe_stub,
):
    order = _order()
    stripe_stub.fail_status = 500
    with pytest.raises(PaymentUnavailable):
        start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.stripe_checkout_session_id is None


def test_a_refused_session_is_logged_without_stripes_words(stripe_stub, caplog):
    """Stripe's message can quote the buyer's address; the log gets the
    error's type, status, code and request id instead."""
    order = _order()
    stripe_stub.failure = lambda status: (
        status,
        {
            "error": {
                "type": "invalid_request_error",
                "code": "email_invalid",
                "message": "Invalid email address: ana@example.com",
            }
        },
        {"Stripe-Should-Retry": "false", "Request-Id": "req_stub42"},
    )
    stripe_stub.fail_status = 400
    with (
        caplog.at_level(logging.INFO, logger="core"),
        pytest.raises(PaymentUnavailable),
    ):
        start_payment(order_id=order.id, success_url=SUCCESS, cancel_url=CANCEL)
    (line,) = [r.getMessage() for r in caplog.records if "checkout" in r.getMessage()]
    assert f"for order {order.id}" in line
    assert "InvalidRequestError (HTTP 400, email_invalid, request req_stub42)" in line
    assert "ana@example.com" not in caplog.text


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("25.00"), "usd", 2500),
        (Decimal("0.99"), "eur", 99),
        (Decimal("19.995"), "gbp", 2000),
        (Decimal("500"), "jpy", 500),
    ],
)
def test_minor_units_round_trip(amount, currency, minor):
    assert to_minor_units(amount, currency) == minor
    assert from_minor_units(minor, currency) == Decimal(minor) / (
        1 if currency == "jpy" else 100
    )
