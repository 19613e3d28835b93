"""Offline admits made at one event's door upload from any door page, and
from the door's event list, in real Chromium.

Staff offline at event A who go back to the list and open event B once the
network is back must not leave A's admits on the phone for good: the scan
log, the counters and the other doors would never hear of those guests.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import ScanLog, Ticket
from tests.e2e import test_door_browser as door
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

door_ticket = door.door_ticket
door_page = door.door_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def second_guest(door_ticket):
    order = make_paid_order(
        door_ticket.ticket_type, name="Bea Olsen", email="bea@example.com"
    )
    return order.tickets.get()


@pytest.fixture
def other_event():
    now = timezone.now()
    event = EventFactory(
        name="Late Jazz",
        starts_at=now + timedelta(hours=3),
        doors_at=now + timedelta(hours=2),
        time_zone="Europe/Madrid",
    )
    TicketTypeFactory(event=event, name="Standing", capacity=10)
    return event


def test_admits_made_offline_at_one_event_upload_from_another_events_door_page(
    second_guest, other_event, door_page, door_ticket, live_server
):
    """(The guests and events exist before the page opens: on its list.)"""
    door.go_offline(door_page)
    for ticket in (door_ticket, second_guest):
        door.type_code(door_page, ticket.code, expect="ok")
        door_page.click("[data-verdict-close]")
    assert len(door.pending_admits(door_page)) == 2
    # Back to the list, and on to another event's door, with the network
    # back but this page's own uploads not getting through before it leaves.
    door_page.route("**/api/v1/scan/offline", lambda route: route.abort())
    door_page.context.set_offline(False)
    door_page.goto(f"{live_server.url}/scanner/door/{other_event.pk}/")
    door_page.wait_for_selector("[data-door][data-ready='true']")
    assert door_page.locator("[data-pending]").inner_text() == (
        "2 offline admits waiting to upload for Camera Night"
    )
    door_page.unroute("**/api/v1/scan/offline")
    door_page.reload()
    door_page.wait_for_selector("[data-door][data-ready='true']")

    wait_until_nothing_waits(door_page)
    for ticket in (door_ticket, second_guest):
        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.USED
    logs = ScanLog.objects.filter(result="ok")
    assert logs.count() == 2
    assert all(log.offline and log.device_label == "Side door" for log in logs)
    assert {log.event_id for log in logs} == {door_ticket.event_id}


def waiting_admits(page) -> int:
    """Offline admits waiting on this phone, every event's."""
    return page.evaluate(
        """async () => {
            const offline = await import("/static/js/door-offline.js");
            return offline.countWaitingAdmits();
        }"""
    )


def wait_until_nothing_waits(page, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while waiting_admits(page):
        assert time.monotonic() < deadline, "offline admits still waiting"
        page.wait_for_timeout(250)


def record_waiting_admit(page, ticket, *, name: str) -> None:
    """An offline admit of `ticket` waiting on this phone, as door.js keeps one."""
    page.evaluate(
        """async ([event, code, name]) => {
            const offline = await import("/static/js/door-offline.js");
            await offline.recordOfflineAdmit({
                nonce: `list-${code}`, event, code, ticketCode: code,
                at: new Date().toISOString(), device: "Side door", eventName: name,
            });
        }""",
        [str(ticket.event_id), ticket.code, name],
    )


def test_the_event_list_says_which_events_admits_wait_and_uploads_them(
    page, live_server, door_ticket, second_guest, other_event
):
    door.sign_in_door_staff(page.context, live_server.url, username="doorlist")
    page.route("**/api/v1/scan/offline", lambda route: route.abort())
    page.goto(f"{live_server.url}/scanner/door/")
    for ticket in (door_ticket, second_guest):
        record_waiting_admit(page, ticket, name="Camera Night")
    page.reload()

    waiting = page.locator("[data-waiting-uploads]")
    waiting.wait_for(state="visible")
    page.wait_for_function(
        "el => el.textContent.includes('waiting')", arg=waiting.element_handle()
    )
    assert "2 offline admits waiting to upload for Camera Night" in (
        waiting.inner_text()
    )
    assert "Late Jazz" not in waiting.inner_text()

    page.unroute("**/api/v1/scan/offline")
    page.reload()
    page.wait_for_function(
        "el => el.textContent.includes('uploaded')",
        arg=page.locator("[data-waiting-uploads]").element_handle(),
        timeout=20_000,
    )
    assert "2 offline admits for Camera Night uploaded" in (
        page.locator("[data-waiting-uploads]").inner_text()
    )
    for ticket in (door_ticket, second_guest):
        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.USED


def test_the_event_list_kept_from_an_old_sign_in_asks_to_sign_in_again(
    page, live_server, door_ticket
):
    """A list page kept from before a new sign-in sends an old CSRF token:
    not 'no longer on that event's door'."""
    door.sign_in_door_staff(page.context, live_server.url, username="doorcsrf")
    page.route(
        "**/api/v1/scan/offline",
        lambda route: route.fulfill(
            status=403,
            content_type="application/json",
            body='{"code": "forbidden", "message": "CSRF Failed: CSRF token missing."}',
        ),
    )
    page.goto(f"{live_server.url}/scanner/door/")
    record_waiting_admit(page, door_ticket, name="Camera Night")
    page.reload()

    waiting = page.locator("[data-waiting-uploads]")
    page.wait_for_function(
        "el => el.textContent.includes('not uploaded')", arg=waiting.element_handle()
    )
    assert "sign in again" in waiting.inner_text()
    assert "no longer" not in waiting.inner_text()
