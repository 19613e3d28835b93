"""Websocket routes of all three sites; every host serves all of them."""

from marketing.routing import websocket_urlpatterns as marketing_ws
from purchase.routing import websocket_urlpatterns as purchase_ws
from scanner.routing import websocket_urlpatterns as scanner_ws

websocket_urlpatterns = [*marketing_ws, *purchase_ws, *scanner_ws]
