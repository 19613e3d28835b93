"""Live pages in a real browser against real ASGI servers (websockets included)."""

import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from core import realtime
from core.models import Role
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_paid_order,
    make_staff,
)
from tests.live import session_cookie

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
# A loaded CI machine can take seconds to start a server or reconnect.
expect.set_options(timeout=WAIT_MS)


@pytest.fixture
def open_page(browser, transactional_db):
    """`open_page(url)`: a page in its own browser context, subscribed and marked.

    Contexts close before the test's database is emptied (this fixture is set
    up after transactional_db, so torn down before it): no page may query a
    server while its tables are truncated.
    """
    contexts = []

    def open_(url):
        context = browser.new_context(viewport={"width": 390, "height": 844})
        contexts.append(context)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        page.goto(url)
        expect(page.locator("[data-live-indicator]")).to_have_attribute(
            "data-state", "live"
        )
        # A reload would lose this mark.
        page.evaluate("window.notReloaded = true")
        return page

    yield open_
    for context in contexts:
        context.close()


def not_reloaded(page) -> bool:
    return page.evaluate("window.notReloaded === true")


@pytest.fixture(params=["in the server", "in the test through Redis"])
def sell(request, asgi_server):
    """Make a sale where its announcement can reach the server's websockets."""
    if request.param == "in the server":
        return lambda seat, quantity: asgi_server.run(
            "sell", ticket_type_id=seat.id, quantity=quantity
        )
    request.getfixturevalue("redis_url")
    return make_paid_order


def test_a_sale_changes_every_open_page_without_reload(open_page, asgi_server, sell):
    event = EventFactory(name="Live Night", venue_capacity=3)
    seat = TicketTypeFactory(event=event, name="GA", capacity=3)
    buying = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    listing = open_page(f"{asgi_server.url}/")
    detail = open_page(f"{asgi_server.url}/events/{event.slug}/")
    row = buying.locator(f'[data-ticket-type="{seat.id}"]')
    card = listing.locator(f'[data-event-card="{event.id}"]')
    expect(row.locator("[data-available]")).to_have_text("3 left")
    expect(card.locator("[data-sold-out-badge]")).to_be_hidden()

    sell(seat, 1)
    expect(row.locator("[data-available]")).to_have_text("2 left")

    sell(seat, 2)
    # Said once, by the badge.
    expect(row.locator("[data-sold-out-badge]")).to_have_text("Sold out")
    expect(row.locator("[data-sold-out-badge]")).to_be_visible()
    expect(row.locator("[data-available]")).to_have_text("")
    expect(row).to_have_class(re.compile(r"\bis-sold-out\b"))
    expect(card.locator("[data-sold-out-badge]")).to_be_visible()
    expect(detail.get_by_role("link", name="Join the waitlist")).to_be_visible()
    expect(detail.locator("[data-buy-link]")).to_be_hidden()
    assert all(not_reloaded(page) for page in (buying, listing, detail))


def test_new_and_withdrawn_events_appear_and_vanish_in_the_list(open_page, asgi_server):
    EventFactory(name="Already On")
    listing = open_page(f"{asgi_server.url}/buy/")
    expect(listing.get_by_role("heading", name="Already On")).to_be_visible()

    fresh = EventFactory(name="Just Announced")
    asgi_server.run("announce_event_changed", event_id=str(fresh.id), change="created")
    expect(listing.get_by_role("heading", name="Just Announced")).to_be_visible()

    fresh.is_active = False
    fresh.save()
    asgi_server.run(
        "announce_event_changed", event_id=str(fresh.id), change="deactivated"
    )
    expect(listing.get_by_role("heading", name="Just Announced")).to_have_count(0)
    expect(listing.get_by_role("heading", name="Already On")).to_be_visible()
    assert not_reloaded(listing)


def test_a_page_catches_up_on_what_it_missed_while_disconnected(
    open_page, asgi_server_factory
):
    event = EventFactory(name="Flaky Wifi", venue_capacity=10)
    seat = TicketTypeFactory(event=event, capacity=10)
    server = asgi_server_factory()
    page = open_page(f"{server.url}/buy/events/{event.slug}/")
    figure = page.locator(f'[data-ticket-type="{seat.id}"] [data-available]')
    expect(figure).to_have_text("10 left")

    server.stop()
    expect(page.locator("[data-live-indicator]")).to_have_text("Reconnecting…")
    # Sold while nobody could tell the page: no push will ever carry this.
    with transaction.atomic():
        make_paid_order(seat, 4)
        transaction.on_commit(realtime.bump_catalogue_version)

    asgi_server_factory(port=server.port)
    expect(page.locator("[data-live-indicator]")).to_have_text("Live")
    expect(figure).to_have_text("6 left")
    assert not_reloaded(page)


def watch_door(page, event_id) -> None:
    """Add a door feed to an open page, recording what live.js dispatches."""
    page.evaluate(
        """eventId => {
            window.doorMessages = [];
            window.resynced = [];
            document.addEventListener("door:message", e => doorMessages.push(e.detail));
            document.addEventListener("live:resync", e => resynced.push(e.detail.path));
            const feed = document.createElement("div");
            feed.dataset.liveDoor = eventId;
            document.body.append(feed);
            Live.scan();
        }""",
        str(event_id),
    )


def test_staff_pages_get_door_messages(open_page, asgi_server):
    event = EventFactory()
    page = open_page(f"{asgi_server.url}/")
    staff = make_staff(Role.DOOR)
    name, value = session_cookie(staff).split("=", 1)
    page.context.add_cookies([{"name": name, "value": value, "url": asgi_server.url}])
    door_sockets = []
    page.on("websocket", lambda ws: "/door/" in ws.url and door_sockets.append(ws.url))

    watch_door(page, event.id)
    page.wait_for_function(
        "path => window.resynced.includes(path)", arg=f"/ws/events/{event.id}/door/"
    )
    asgi_server.run(
        "announce_scan", event_id=str(event.id), scan={"result": "admit", "n": 1}
    )

    page.wait_for_function("window.doorMessages.length === 1")
    assert page.evaluate("window.doorMessages[0]") == {
        "type": "door.scans",
        "event_id": str(event.id),
        "scans": [{"result": "admit", "n": 1}],
        "omitted": 0,
    }
    assert len(door_sockets) == 1


def test_a_door_feed_closed_by_an_access_change_reconnects(open_page, asgi_server):
    """Given another event too, a door person may still scan this one: their
    feed is closed so that it reconnects (and is checked again), never with
    a code that stops it for good."""
    event = EventFactory()
    page = open_page(f"{asgi_server.url}/")
    staff = make_staff(Role.DOOR)
    name, value = session_cookie(staff).split("=", 1)
    page.context.add_cookies([{"name": name, "value": value, "url": asgi_server.url}])
    door = f"/ws/events/{event.id}/door/"
    door_sockets = []
    page.on("websocket", lambda ws: "/door/" in ws.url and door_sockets.append(ws.url))
    watch_door(page, event.id)
    page.wait_for_function("path => window.resynced.includes(path)", arg=door)

    asgi_server.run("announce_staff_access_changed", user_id=staff.pk)

    page.wait_for_function(
        "path => window.resynced.filter((p) => p === path).length === 2", arg=door
    )
    expect(page.locator("[data-live-indicator]")).to_have_text("Live")
    assert len(door_sockets) == 2
    asgi_server.run("announce_scan", event_id=str(event.id), scan={"result": "ok"})
    page.wait_for_function("window.doorMessages.length === 1")


def test_a_refused_feed_goes_offline_and_stops_retrying(open_page, asgi_server):
    EventFactory(name="Public Show")
    hidden = EventFactory()
    page = open_page(f"{asgi_server.url}/")
    door_sockets = []
    page.on("websocket", lambda ws: "/door/" in ws.url and door_sockets.append(ws.url))

    watch_door(page, hidden.id)  # anonymous: refused with 4401
    expect(page.locator("[data-live-indicator]")).to_have_text("Offline")
    # The other feeds keep working...
    fresh = EventFactory(name="Later Show")
    asgi_server.run("announce_event_changed", event_id=str(fresh.id), change="created")
    expect(page.get_by_role("heading", name="Later Show")).to_be_visible()
    # ...and the refused one never tries again (a retry would come within
    # half a second of the close: the first backoff step).
    page.wait_for_timeout(1500)
    assert door_sockets == [f"{asgi_server.ws_url}/ws/events/{hidden.id}/door/"]
