from django.urls import path

from purchase.consumers import AvailabilityConsumer

websocket_urlpatterns: list = [
    path(
        "ws/events/<uuid:event_id>/availability/",
        AvailabilityConsumer.as_asgi(),
        name="ws_event_availability",
    ),
]
