"""Pushes across real server processes: uvicorn subprocesses, real websockets."""

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.factories import EventFactory, TicketTypeFactory

RECEIVE_SECONDS = 15


def subscribe(server, path: str):
    return connect(
        f"{server.ws_url}{path}", origin=server.url, open_timeout=RECEIVE_SECONDS
    )


def next_message(socket) -> dict:
    return json.loads(socket.recv(timeout=RECEIVE_SECONDS))


def available(server, event) -> int:
    response = httpx.get(f"{server.url}/api/v1/events/{event.slug}/availability")
    return response.json()["summary"]["total_available"]


@pytest.fixture(params=["one process", "two processes"])
def seller_and_watcher(request, asgi_server_factory):
    """The server the sale goes through, and the one a client listens to."""
    if request.param == "one process":
        server = asgi_server_factory()
        return server, server
    request.getfixturevalue("redis_url")
    return asgi_server_factory(), asgi_server_factory()


def test_a_purchase_through_one_server_is_pushed_to_clients_of_another(
    seller_and_watcher,
):
    seller, watcher = seller_and_watcher
    seat = TicketTypeFactory(capacity=5, event=EventFactory(venue_capacity=5))
    event = seat.event
    # Warm the watcher's cache: the push must make it miss.
    assert available(watcher, event) == 5

    with (
        subscribe(watcher, f"/ws/events/{event.id}/availability/") as page,
        subscribe(watcher, "/ws/events/") as event_list,
    ):
        seller.run("sell", ticket_type_id=seat.id, quantity=2)

        assert next_message(page) == {
            "type": "availability.changed",
            "event_id": str(event.id),
            "reason": "hold",
        }
        assert next_message(page)["reason"] == "sale"
        # Refetching after the push never gets a snapshot older than it.
        assert available(watcher, event) == 3
        assert next_message(event_list)["type"] == "events.changed"


def test_a_sale_over_http_on_the_web_service_reaches_the_live_services_sockets(
    redis_url, asgi_server_factory
):
    """Production's pair: granian on the WSGI app sells, uvicorn on the ASGI
    app holds the buyers' sockets; Redis carries the pushes between them."""
    web, live = asgi_server_factory(wsgi=True), asgi_server_factory()
    seat = TicketTypeFactory(capacity=5, event=EventFactory(venue_capacity=5))
    event = seat.event
    page_path = f"/buy/events/{event.slug}/"

    with (
        subscribe(live, f"/ws/events/{event.id}/availability/") as page,
        httpx.Client(base_url=web.url, timeout=RECEIVE_SECONDS) as browser,
    ):
        assert browser.get(page_path).status_code == 200
        token = browser.cookies["csrftoken"]
        checkout = browser.post(
            page_path,
            data={
                "csrfmiddlewaretoken": token,
                f"qty_{seat.id}": "2",
                "name": "Ana García",
                "email": "ana@example.com",
                "phone": "",
            },
        )
        assert checkout.status_code == 303, checkout.text[:500]
        paid = browser.post(
            checkout.headers["location"],
            data={"csrfmiddlewaretoken": token, "action": "pay"},
        )
        assert paid.status_code == 303, paid.text[:500]

        assert next_message(page)["reason"] == "hold"
        assert next_message(page)["reason"] == "sale"
    assert available(web, event) == available(live, event) == 3


def test_changes_made_by_the_tests_reach_servers_through_redis(
    redis_url, asgi_server_factory
):
    from django.db import transaction

    from core import realtime

    server = asgi_server_factory()
    event = EventFactory()
    with subscribe(server, "/ws/events/") as event_list:
        with transaction.atomic():
            realtime.announce_event_changed(event.id, change="created")
        assert next_message(event_list)["change"] == "created"


def test_websockets_from_foreign_origins_are_refused(asgi_server):
    with pytest.raises(InvalidStatus, match="403"):
        connect(f"{asgi_server.ws_url}/ws/events/", origin="http://evil.example")


def test_the_door_feed_refuses_anonymous_clients_with_4401(asgi_server):
    event = EventFactory()
    with (
        subscribe(asgi_server, f"/ws/events/{event.id}/door/") as door,
        pytest.raises(ConnectionClosed) as closed,
    ):
        door.recv(timeout=RECEIVE_SECONDS)
    assert closed.value.rcvd.code == 4401
