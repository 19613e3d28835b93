from django.urls import path

from scanner.consumers import DoorConsumer, EventConsoleConsumer, StaffEventListConsumer

websocket_urlpatterns: list = [
    path("ws/events/staff/", StaffEventListConsumer.as_asgi(), name="ws_staff_events"),
    path("ws/events/<uuid:event_id>/door/", DoorConsumer.as_asgi(), name="ws_door"),
    path(
        "ws/events/<uuid:event_id>/console/",
        EventConsoleConsumer.as_asgi(),
        name="ws_event_console",
    ),
]
