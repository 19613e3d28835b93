from django.urls import path

from purchase import api
from ticketing import converters  # noqa: F401 (registers <text:...>)

urlpatterns = [
    path(
        "api/v1/events/<slug:slug>/availability",
        api.event_availability,
        name="api_event_availability",
    ),
    path(
        "functions/v1/event-availability/<text:name>",
        api.event_availability_by_name,
        name="api_event_availability_by_name",
    ),
    path(
        "api/v1/orders/<uuid:order_id>/tickets",
        api.OrderTicketsApi.as_view(),
        name="api_order_tickets",
    ),
    path(
        "functions/v1/ticket-webhook",
        api.TicketWebhookApi.as_view(),
        name="api_ticket_webhook",
    ),
]
