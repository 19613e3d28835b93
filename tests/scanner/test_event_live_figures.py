"""The owner's event page: its figures, said once, and kept live on or off sale.

The page's ticket rows and summary are filled in again by live.js from the
availability JSON after every push; live.js writes only the numbers, so the
words around them come from the template alone ("100 left", never "100 left
left"). The page follows the console's own feed and JSON, which staff get
for an event off sale too; the public API and feed stay closed to it.
"""

import re
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import realtime
from core.models import Event, Role
from core.services.checkin import redeem_ticket
from core.services.comps import cancel_comp_tickets, issue_comp_tickets
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_held_order,
    make_paid_order,
    make_staff,
)
from tests.live import async_test, close_code, connected, next_message, session_cookie

VOID_TAGS = {"br", "img", "input", "link", "meta", "hr", "source", "wbr"}


class _VisibleText(HTMLParser):
    """The text a reader sees of each element with `attribute`, keyed by its
    value: elements with the `hidden` attribute and their contents left out."""

    def __init__(self, attribute: str) -> None:
        super().__init__()
        self.attribute = attribute
        self.texts: dict[str, str] = {}
        self.stack: list[tuple[str | None, bool]] = []  # (key opened, hidden)

    def handle_starttag(self, tag, attrs):
        if tag in VOID_TAGS:
            return
        attrs = dict(attrs)
        hidden = "hidden" in attrs or any(h for _, h in self.stack)
        key = attrs.get(self.attribute)
        if key is not None:
            self.texts.setdefault(key, "")
        self.stack.append((key, hidden))

    def handle_endtag(self, tag):
        if tag not in VOID_TAGS and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not self.stack or self.stack[-1][1]:
            return
        for key, _ in self.stack:
            if key is not None:
                self.texts[key] += data


def visible_text(html: str, attribute: str) -> dict[str, str]:
    parser = _VisibleText(attribute)
    parser.feed(html)
    return {key: " ".join(text.split()) for key, text in parser.texts.items()}


def summary_line(html: str) -> str:
    """The event's summary line as a reader sees it (hidden parts left out)."""
    return visible_text(html, "class")["summary-line"]


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.mark.django_db
def test_the_event_page_says_each_figure_once(owner_client):
    event = EventFactory(venue_capacity=500)
    open_type = TicketTypeFactory(event=event, name="General", capacity=100)
    sold_out = TicketTypeFactory(event=event, name="VIP", capacity=2)
    make_paid_order(sold_out, 2)
    make_held_order(open_type, 3)

    html = owner_client.get(f"/scanner/events/{event.id}/").content.decode()
    rows = visible_text(html, "data-ticket-type")

    assert (
        "0 sold · 3 being paid for · 97 left · capacity 100" in rows[str(open_type.id)]
    )
    assert "2 sold · 0 left · capacity 2 Sold out" in rows[str(sold_out.id)]
    assert summary_line(html) == (
        "2 sold · 3 being paid for · 97 left · venue holds 500"
    )
    page_text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "left left" not in page_text and "Sold out left" not in page_text


@pytest.mark.django_db
def test_sold_is_what_was_paid_for_and_free_tickets_are_beside_it(owner_client, owner):
    event = EventFactory(venue_capacity=500)
    vip = TicketTypeFactory(event=event, name="VIP", capacity=10)
    general = TicketTypeFactory(event=event, name="General", capacity=10)
    make_paid_order(general, 3)
    issue_comp_tickets(
        actor=owner,
        event_id=event.id,
        ticket_type_id=vip.id,
        quantity=2,
        guest_name="Gil",
        guest_email="gil@example.com",
    )

    html = owner_client.get(f"/scanner/events/{event.id}/").content.decode()
    rows = visible_text(html, "data-ticket-type")

    assert "0 sold + 2 free · 8 left · capacity 10" in rows[str(vip.id)]
    assert "3 sold · 7 left · capacity 10" in rows[str(general.id)]
    assert summary_line(html).startswith("3 sold + 2 free · 0 being paid for")
    body = owner_client.get(f"/scanner/events/{event.id}/availability/").json()
    by_id = {row["id"]: row for row in body["availability"]}
    assert (by_id[vip.id]["paid"], by_id[vip.id]["free"]) == (0, 2)
    assert (by_id[general.id]["paid"], by_id[general.id]["free"]) == (3, 0)
    # Capacity use counts both, as before.
    assert by_id[vip.id]["sold"] == 2
    summary = body["summary"]
    assert (summary["total_paid"], summary["total_free"], summary["total_sold"]) == (
        3,
        2,
        5,
    )


@pytest.mark.django_db
def test_checked_in_on_the_event_page_is_a_live_figure(owner_client):
    event = EventFactory()
    general = TicketTypeFactory(event=event, capacity=10)
    order = make_paid_order(general, 2)

    html = owner_client.get(f"/scanner/events/{event.id}/").content.decode()
    assert '<span data-summary-figure="checked_in">0</span>' in html
    # The page hears the door's feed, so a scan refetches its figures.
    assert f'data-live-door="{event.id}"' in html
    redeem_ticket(
        event=event,
        text=order.tickets.first().qr_payload,
        device_label="Main",
        now=event.starts_at,
    )

    body = owner_client.get(f"/scanner/events/{event.id}/availability/").json()
    assert body["summary"]["checked_in"] == 1


@pytest.mark.django_db
def test_nothing_being_paid_for_is_not_mentioned_and_a_type_off_sale_says_so(
    owner_client,
):
    event = EventFactory(is_active=False)
    general = TicketTypeFactory(event=event, name="General", capacity=10)

    html = owner_client.get(f"/scanner/events/{event.id}/").content.decode()

    assert visible_text(html, "data-ticket-type")[str(general.id)] == (
        "General $25.00 0 sold · 10 left · capacity 10 Not selling now: event off sale"
    )


def test_a_type_not_selling_says_when_it_opens_or_that_its_sales_closed(
    owner_client,
):
    """The owner sees why a type sells nothing, not just that it doesn't."""
    now = timezone.now()
    event = EventFactory(
        time_zone="Europe/Madrid", starts_at=datetime(2099, 6, 12, 19, 0, tzinfo=UTC)
    )
    later = TicketTypeFactory(
        event=event,
        name="Late",
        sales_start_at=datetime(2099, 6, 5, 8, 0, tzinfo=UTC),  # 10:00 in Madrid
    )
    over = TicketTypeFactory(
        event=event, name="Early bird", sales_end_at=now - timedelta(hours=1)
    )

    html = owner_client.get(f"/scanner/events/{event.id}/").content.decode()
    rows = visible_text(html, "data-ticket-type")

    assert rows[str(later.id)].endswith(
        "Not selling now: on sale from Fri 5 Jun, 10:00 CEST"
    )
    assert rows[str(over.id)].endswith("Not selling now: sales closed")


@pytest.mark.django_db
def test_the_event_page_follows_the_consoles_feed_not_the_public_api(owner_client):
    event = EventFactory(is_active=False)

    html = owner_client.get(f"/scanner/events/{event.id}/").content.decode()

    assert 'data-live-feed="console"' in html
    assert f'data-availability-url="/scanner/events/{event.id}/availability/"' in html
    assert "/api/v1/events/" not in html


# --- the console's availability JSON -------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER])
def test_staff_get_the_figures_of_an_event_off_sale(client, role):
    event = EventFactory(is_active=True)
    seats = TicketTypeFactory(event=event, capacity=10)
    make_paid_order(seats, 3)
    Event.objects.filter(pk=event.pk).update(is_active=False)
    client.force_login(make_staff(role))

    response = client.get(f"/scanner/events/{event.id}/availability/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["event"]["is_active"] is False
    [row] = body["availability"]
    assert (row["sold"], row["held"], row["available"], row["on_sale"]) == (
        3,
        0,
        7,
        False,
    )
    assert body["summary"]["total_sold"] == 3


@pytest.mark.django_db
def test_the_public_api_stays_closed_to_an_event_off_sale(client):
    event = EventFactory(is_active=False)
    TicketTypeFactory(event=event)

    assert client.get(f"/api/v1/events/{event.slug}/availability").status_code == 404


@pytest.mark.django_db
def test_the_consoles_figures_are_refused_to_others_in_plain_json(client, door):
    event = EventFactory()
    url = f"/scanner/events/{event.id}/availability/"

    anonymous = client.get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    client.force_login(door)
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_the_consoles_figures_of_no_such_event_are_404(owner_client):
    response = owner_client.get(f"/scanner/events/{uuid.uuid4()}/availability/")
    assert response.status_code == 404
    assert response.json()["code"] == "event_not_found"


@pytest.mark.django_db
def test_the_consoles_figures_are_read_only(owner_client):
    event = EventFactory()
    assert (
        owner_client.post(f"/scanner/events/{event.id}/availability/").status_code
        == 405
    )


# --- the console's feed: ws/events/<uuid>/console/ ------------------------------


def feed(event) -> str:
    return f"/ws/events/{getattr(event, 'id', event)}/console/"


@sync_to_async
def staff_cookie(role: str) -> str:
    return session_cookie(make_staff(role))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER])
@async_test
async def test_owners_and_managers_hear_an_off_sale_events_figures_move(role):
    event = await sync_to_async(EventFactory)(is_active=False)
    comm = await connected(feed(event), cookie=await staff_cookie(role))

    await sync_to_async(realtime.announce_availability_changed)(
        event.id, reason="refund"
    )
    await sync_to_async(realtime.announce_event_changed)(event.id, change="capacity")

    first, second = await next_message(comm), await next_message(comm)
    assert first == {
        "type": "availability.changed",
        "event_id": str(event.id),
        "reason": "refund",
    }
    assert (second["type"], second["change"]) == ("availability.changed", "capacity")
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@async_test
async def test_the_public_feed_of_an_event_off_sale_carries_no_figures():
    """It stays open (a buy page must hear the event come back), saying only
    that something moved; the figures are the console's."""
    event = await sync_to_async(EventFactory)(is_active=False)
    comm = await connected(f"/ws/events/{event.id}/availability/")

    await sync_to_async(realtime.announce_availability_changed)(
        event.id, reason="refund"
    )

    assert await next_message(comm) == {
        "type": "availability.changed",
        "event_id": str(event.id),
        "reason": "refund",
    }
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@async_test
async def test_the_consoles_feed_refuses_whoever_may_not_open_the_page():
    event = await sync_to_async(EventFactory)()
    assert await close_code(feed(event)) == realtime.CLOSE_LOGIN_REQUIRED
    door_cookie = await staff_cookie(Role.DOOR)
    assert await close_code(feed(event), cookie=door_cookie) == realtime.CLOSE_FORBIDDEN
    owner_cookie = await staff_cookie(Role.OWNER)
    code = await close_code(feed(uuid.uuid4()), cookie=owner_cookie)
    assert code == realtime.CLOSE_NOT_FOUND


@pytest.mark.django_db(transaction=True)
@async_test
async def test_the_consoles_feed_never_carries_scans():
    event = await sync_to_async(EventFactory)()
    comm = await connected(feed(event), cookie=await staff_cookie(Role.OWNER))

    await sync_to_async(realtime.announce_scan)(
        event.id, scan={"guest_name": "Private Person"}
    )
    await sync_to_async(realtime.announce_event_changed)(event.id, change="updated")

    message = await next_message(comm)
    assert message["type"] == "availability.changed"
    assert "Private Person" not in repr(message)
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@async_test
async def test_signing_out_closes_the_consoles_feed():
    from django.test import Client

    event = await sync_to_async(EventFactory)()
    cookie = await staff_cookie(Role.MANAGER)
    comm = await connected(feed(event), cookie=cookie)

    def sign_out() -> None:
        client = Client()
        client.cookies["sessionid"] = cookie.split("=", 1)[1]
        client.post("/scanner/logout/")

    await sync_to_async(sign_out)()

    closed = await comm.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": realtime.CLOSE_LOGIN_REQUIRED}


# --- the event list ----------------------------------------------------------


def test_the_event_list_marks_each_rows_figures_for_live_updates(client, owner):
    event = EventFactory(name="Listed Night", venue_capacity=100)
    TicketTypeFactory(event=event, capacity=100)
    client.force_login(owner)

    html = client.get("/scanner/").content.decode()

    assert 'data-live-rows="/scanner/events/figures/?show=upcoming"' in html
    row = html[html.index(f'data-live-row="{event.id}"') :]
    row = row[: row.index("</li>")]
    assert '<span data-summary-figure="total_paid">0</span> of ' in row
    assert '<span data-summary-figure="total_capacity">100</span> sold' in row
    assert 'data-summary-meter="total_sold"' in row
    assert "data-when-sold-out hidden" in row


def test_the_event_lists_figures_follow_sales_of_every_event_of_its_tab(
    client, manager
):
    selling = EventFactory(name="Selling Night", venue_capacity=10)
    seats = TicketTypeFactory(event=selling, capacity=4)
    off = EventFactory(name="Off Night", is_active=False)
    TicketTypeFactory(event=off, capacity=5)
    make_paid_order(seats, 4)
    client.force_login(manager)

    upcoming = client.get("/scanner/events/figures/").json()["events"]
    inactive = client.get("/scanner/events/figures/?show=inactive").json()["events"]

    assert upcoming == {
        str(selling.id): {
            "total_capacity": 4,
            "total_sold": 4,
            "total_paid": 4,
            "total_free": 0,
            "total_held": 0,
            "total_available": 0,
            "is_sold_out": True,
        }
    }
    assert list(inactive) == [str(off.id)]


def _list_row(html: str, event) -> str:
    return visible_text(html, "data-live-row")[str(event.id)]


def test_the_event_list_says_sold_as_the_event_page_does_free_tickets_beside(
    client, owner
):
    """Free tickets are not sold: the list says "3 of 10 sold + 2 free" as
    the event page says "3 sold + 2 free"; the bar counts both."""
    event = EventFactory(name="Comped Night", venue_capacity=10)
    general = TicketTypeFactory(event=event, capacity=10)
    make_paid_order(general, 3)
    issue_comp_tickets(
        actor=owner,
        event_id=event.id,
        ticket_type_id=general.id,
        quantity=2,
        guest_name="Gil",
        guest_email="gil@example.com",
    )
    plain = EventFactory(name="Plain Night", venue_capacity=10)
    make_paid_order(TicketTypeFactory(event=plain, capacity=10), 1)
    client.force_login(owner)

    html = client.get("/scanner/").content.decode()

    assert _list_row(html, event).endswith("3 of 10 sold + 2 free")
    assert _list_row(html, plain).endswith("1 of 10 sold")
    row = html[html.index(f'data-live-row="{event.id}"') :]
    assert 'data-summary-meter="total_sold" style="width: 50%"' in row
    figures = client.get("/scanner/events/figures/").json()["events"]
    assert (
        figures[str(event.id)]["total_paid"],
        figures[str(event.id)]["total_free"],
        figures[str(event.id)]["total_sold"],
    ) == (3, 2, 5)
    assert (
        figures[str(plain.id)]["total_paid"],
        figures[str(plain.id)]["total_free"],
    ) == (
        1,
        0,
    )


def test_a_cancelled_free_ticket_leaves_the_event_lists_figures(client, owner):
    event = EventFactory(venue_capacity=10)
    general = TicketTypeFactory(event=event, capacity=10)
    order = issue_comp_tickets(
        actor=owner,
        event_id=event.id,
        ticket_type_id=general.id,
        quantity=2,
        guest_name="Gil",
        guest_email="gil@example.com",
    )
    cancel_comp_tickets(actor=owner, order_id=order.id)
    client.force_login(owner)

    summary = client.get("/scanner/events/figures/").json()["events"][str(event.id)]
    assert (summary["total_paid"], summary["total_free"]) == (0, 0)
    assert _list_row(client.get("/scanner/").content.decode(), event).endswith(
        "0 of 10 sold"
    )


def test_the_event_lists_figures_cost_the_same_queries_for_many_events(
    client, owner, django_assert_max_num_queries
):
    client.force_login(owner)
    TicketTypeFactory(event=EventFactory())
    with CaptureQueriesContext(connection) as one:
        client.get("/scanner/events/figures/")
    for _ in range(20):
        TicketTypeFactory(event=EventFactory())

    with django_assert_max_num_queries(len(one.captured_queries)):
        events = client.get("/scanner/events/figures/").json()["events"]

    assert len(events) == 21


def test_the_event_lists_figures_are_for_owners_and_managers_only(client, door):
    assert client.get("/scanner/events/figures/").status_code == 401
    client.force_login(door)
    assert client.get("/scanner/events/figures/").status_code == 403
