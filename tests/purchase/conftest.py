import itertools
import json
import time

import pytest
import stripe

from tests.stubs import STRIPE_TEST_WEBHOOK_SECRET

_ids = itertools.count(1)


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, computed with stripe-python's own signer."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = stripe.WebhookSignature._compute_signature(
        f"{timestamp}.{payload}", secret
    )
    return f"t={timestamp},v1={signature}"


def stripe_event(event_type: str, obj: dict, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_test_{next(_ids)}",
        "object": "event",
        "type": event_type,
        "data": {"object": obj},
    }


def session_object(order, **fields) -> dict:
    obj = {
        "id": order.stripe_checkout_session_id or f"cs_test_for_{order.code}",
        "object": "checkout.session",
        "client_reference_id": str(order.id),
        "metadata": {"order_id": str(order.id), "order_code": order.code},
        "amount_total": int(order.total * 100),
        "currency": order.currency,
        "payment_status": "paid",
        "status": "complete",
        "payment_intent": f"pi_test_{order.code}",
    }
    obj.update(fields)
    return obj


@pytest.fixture
def post_webhook(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_TEST_WEBHOOK_SECRET

    def post(event: dict, *, secret: str = STRIPE_TEST_WEBHOOK_SECRET, header=None):
        payload = json.dumps(event)
        return client.post(
            "/buy/webhooks/stripe/",
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header
            if header is not None
            else signature_header(payload, secret),
        )

    return post
