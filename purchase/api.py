"""Public read API of the purchase site (CORS-enabled for the other sites)."""

import json
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_safe
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import NotFound
from core.models import Event, Order, Ticket
from core.queries.listings import cancelled_event_by_name, cancelled_event_by_slug
from core.queries.snapshots import availability_json
from core.services.external_sales import record_external_sale
from core.sites import site_url


def _availability_response(
    body: bytes | None, cancelled: Callable[[], Event | None]
) -> HttpResponse:
    """The cached body as is: no serializer, no content negotiation (the hot read of a rush).

    An event not on sale is not found (404), a draft's name staying
    unknown; a cancelled one says so, and why in the owner's words
    (customers read them on its page too): a buy page open when it is
    cancelled tells its buyer so, as the page does once reloaded.
    """
    if body is None:
        event = cancelled()
        if event is None:
            body = b'{"code":"event_not_found","message":"No such event."}'
        else:
            body = json.dumps(
                {
                    "code": "event_cancelled",
                    "message": f"{event.name} is cancelled.",
                    "cancel_reason": event.cancel_reason,
                },
                separators=(",", ":"),
            ).encode()
        response = HttpResponse(body, status=404, content_type="application/json")
    else:
        response = HttpResponse(body, content_type="application/json")
    # Cached server-side and invalidated on every change; browsers and
    # proxies must ask again each time so they are never staler than that.
    response["Cache-Control"] = "no-cache"
    return response


@require_safe
def event_availability(request: HttpRequest, slug: str) -> HttpResponse:
    """`GET /api/v1/events/<slug>/availability`: the seed's event-availability shape."""
    return _availability_response(
        availability_json(slug=slug), lambda: cancelled_event_by_slug(slug)
    )


@require_safe
def event_availability_by_name(request: HttpRequest, name: str) -> HttpResponse:
    """The seed's path, `/functions/v1/event-availability/<eventName>`."""
    return _availability_response(
        availability_json(name=name), lambda: cancelled_event_by_name(name)
    )


def _ticket_dict(ticket: Ticket, order: Order) -> dict:
    """A ticket in the seed's `tickets` columns (plus the links a client needs)."""
    return {
        "id": str(ticket.id),
        "ticket_id": ticket.code,
        "event_name": order.event.name,
        "ticket_type": ticket.ticket_type.name,
        "guest_name": ticket.guest_name,
        "guest_email": ticket.guest_email,
        "guest_phone": ticket.guest_phone,
        "order_id": str(order.id),
        "qr_code_data": ticket.qr_payload,
        "price_paid": float(ticket.price_paid),
        "stripe_payment_id": order.stripe_payment_intent_id,
        "status": ticket.status,
        "is_used": ticket.is_used,
        "scanned_at": ticket.scanned_at.isoformat() if ticket.scanned_at else None,
        "purchase_date": order.paid_at.isoformat() if order.paid_at else None,
        "created_at": ticket.created_at.isoformat(),
        "url": site_url("purchase", "purchase:ticket", ticket.token, absolute=True),
    }


def _order_dict(order: Order) -> dict:
    return {
        "id": str(order.id),
        "code": order.code,
        "status": order.status,
        "event_name": order.event.name,
        "customer_email": order.customer_email,
        "customer_name": order.customer_name,
        "total_amount": float(order.total),
        "currency": order.currency,
        "ticket_count": sum(line.quantity for line in order.lines.all()),
        "created_at": order.created_at.isoformat(),
        "completed_at": order.paid_at.isoformat() if order.paid_at else None,
    }


class OrderTicketsApi(APIView):
    """`GET /api/v1/orders/<id>/tickets`: the seed's order-tickets, for the order's holder.

    The order's token must come as `?token=` or `Authorization: Bearer <token>`;
    without it the order is reported as not found, so ids reveal nothing.
    """

    authentication_classes: list = []

    def get(self, request: Request, order_id) -> Response:
        token = request.query_params.get("token", "")
        auth = request.headers.get("Authorization", "")
        if not token and auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ").strip()
        order = (
            Order.objects.select_related("event").filter(pk=order_id).first()
            if token
            else None
        )
        if order is None or not constant_time_compare(token, order.token):
            raise NotFound("No order with that id and token.", code="order_not_found")
        tickets = order.tickets.select_related("ticket_type").order_by(
            "created_at", "code"
        )
        response = Response(
            {
                "order": _order_dict(order),
                "tickets": [_ticket_dict(ticket, order) for ticket in tickets],
            }
        )
        # The holder's tickets, as their pages: no shared cache keeps them.
        response["Cache-Control"] = "private, no-store"
        return response


class TicketWebhookApi(APIView):
    """`POST /functions/v1/ticket-webhook`: an external channel's paid sale.

    Needs `Authorization: Bearer <TICKET_WEBHOOK_API_KEY>` (or `X-Api-Key`);
    with no key configured the endpoint is off. Goes through the same
    fulfilment as every sale. Posting the same orderId again with the same
    details answers 200 with the same tickets and records nothing; with
    other details (type, quantity, email, payment id, price) it answers 409
    `order_id_taken` and records nothing either.
    """

    authentication_classes: list = []

    class InputSerializer(serializers.Serializer):
        orderId = serializers.CharField(max_length=64)  # noqa: N815 (seed's names)
        eventName = serializers.CharField(max_length=200)  # noqa: N815
        ticketType = serializers.CharField(max_length=100)  # noqa: N815
        quantity = serializers.IntegerField(min_value=1, max_value=100)
        customerEmail = serializers.EmailField()  # noqa: N815
        customerName = serializers.CharField(max_length=200)  # noqa: N815
        customerPhone = serializers.CharField(  # noqa: N815
            max_length=32, required=False, allow_blank=True
        )
        stripePaymentIntentId = serializers.CharField(  # noqa: N815
            max_length=255, required=False, allow_blank=True
        )
        pricePaid = serializers.DecimalField(  # noqa: N815
            max_digits=12, decimal_places=2, required=False, min_value=Decimal("0")
        )

    def post(self, request: Request) -> Response:
        key = settings.TICKET_WEBHOOK_API_KEY
        if not key:
            raise NotFound(
                "The ticket webhook is not enabled.", code="webhook_disabled"
            )
        auth = request.headers.get("Authorization", "")
        given = (
            auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        )
        given = given or request.headers.get("X-Api-Key", "")
        if not given or not constant_time_compare(given, key):
            return Response(
                {"code": "invalid_api_key", "message": "A valid API key is required."},
                status=401,
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        sale = record_external_sale(
            external_order_id=fields["orderId"],
            event_name=fields["eventName"],
            ticket_type_name=fields["ticketType"],
            quantity=fields["quantity"],
            customer_email=fields["customerEmail"],
            customer_name=fields["customerName"],
            customer_phone=fields.get("customerPhone", ""),
            payment_reference=fields.get("stripePaymentIntentId", ""),
            price_paid=fields.get("pricePaid"),
        )
        order = sale.order
        if sale.result.needs_refund:
            return Response(
                {
                    "code": "sold_out",
                    "message": "The order's hold lapsed and the tickets are gone.",
                    "order": _order_dict(order),
                },
                status=409,
            )
        tickets = order.tickets.select_related("ticket_type").order_by(
            "created_at", "code"
        )
        return Response(
            {
                "created": sale.result.issued,
                "order": _order_dict(order),
                "tickets": [_ticket_dict(ticket, order) for ticket in tickets],
            },
            status=201 if sale.result.issued else 200,
        )
