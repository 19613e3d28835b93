from django.urls import path

from scanner.consumers import DoorConsumer

websocket_urlpatterns: list = [
    path("ws/events/<uuid:event_id>/door/", DoorConsumer.as_asgi(), name="ws_door"),
]
