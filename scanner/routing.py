from django.urls import path

from scanner.consumers import DoorConsumer, EventConsoleConsumer

websocket_urlpatterns: list = [
    path("ws/events/<uuid:event_id>/door/", DoorConsumer.as_asgi(), name="ws_door"),
    path(
        "ws/events/<uuid:event_id>/console/",
        EventConsoleConsumer.as_asgi(),
        name="ws_event_console",
    ),
]
