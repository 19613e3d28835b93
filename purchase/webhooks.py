"""Stripe's webhook endpoint: verify, then hand the event to the payments service."""

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.exceptions import InvalidWebhook, OrderBusy
from core.payments.stripe_checkout import parse_webhook
from core.services.payments import handle_stripe_event

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """200 once handled (or already seen), 400 if unsigned, 503 if the order is busy."""
    try:
        event = parse_webhook(request.body, request.headers.get("Stripe-Signature", ""))
    except InvalidWebhook as exc:
        logger.warning("Rejected a Stripe webhook: %s", exc.message)
        return JsonResponse(exc.as_dict(), status=exc.http_status)
    try:
        outcome = handle_stripe_event(event=event)
    except OrderBusy as exc:
        response = JsonResponse(exc.as_dict(), status=503)
        response["Retry-After"] = "5"
        return response
    logger.info("Stripe %s %s: %s", event["type"], event["id"], outcome)
    return JsonResponse({"received": True, "outcome": outcome})
