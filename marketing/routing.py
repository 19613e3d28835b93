from django.urls import path

from marketing.consumers import EventListConsumer

websocket_urlpatterns: list = [
    path("ws/events/", EventListConsumer.as_asgi(), name="ws_event_list"),
]
