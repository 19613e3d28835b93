"""The door phone's own copy of the tickets, and its offline admits, in real Chromium.

What the phone keeps (IndexedDB) must say a ticket it let in is used until
the server's list says so too; and what it uploads must say at which door
and never admit before check-in opens.
"""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from core.models import ScanLog, Ticket
from core.services.checkin import redeem_ticket
from tests.e2e import test_door_browser as door
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order, make_staff

# The door page's fixtures, shared with its own tests.
door_page = door.door_page
door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UPLOAD_URL = "**/api/v1/scan/offline"


def local_copy(page, code: str) -> dict | None:
    """One ticket of the phone's copy, as door.js reads it."""
    return page.evaluate(
        """async ([event, code]) => {
            const offline = await import("/static/js/door-offline.js");
            return offline.getTicket(event, code);
        }""",
        [page.locator("[data-door]").get_attribute("data-event"), code],
    )


def server_error(route) -> None:
    route.fulfill(
        status=500,
        content_type="application/json",
        body='{"code": "error", "message": "Server trouble."}',
    )


def close_verdict(page) -> None:
    page.click("[data-verdict-close]")
    page.wait_for_selector("[data-verdict]", state="hidden")


def admit_offline_with_uploads_failing(page, ticket) -> None:
    """This phone lets the guest in offline; the network comes back, but the
    upload cannot go yet (flaky Wi-Fi, a server in trouble)."""
    door.go_offline(page)
    door.type_code(page, ticket.code, expect="ok")
    close_verdict(page)
    page.route(UPLOAD_URL, server_error)
    page.context.set_offline(False)


def test_a_ticket_admitted_offline_stays_used_here_while_its_upload_waits(
    door_page, door_ticket
):
    """The page reopened online reads the full list before its admit could
    be uploaded: that list does not know of the admit, the phone still does."""
    page = door_page
    admit_offline_with_uploads_failing(page, door_ticket)
    page.reload()
    page.wait_for_selector("[data-door][data-ready='true'][data-states-ready='true']")
    assert len(door.pending_admits(page)) == 1
    assert local_copy(page, door_ticket.code)["status"] == "used"

    door.go_offline(page)
    door.age_offline_admits(page, minutes=1)  # no longer "just now"
    text = door.type_code(page, door_ticket.code, expect="already_used")
    assert "Already used at" in text and "Side door" in text


def test_a_guest_let_in_here_offline_and_at_another_door_is_refused_after_reopening(
    door_page, door_ticket, live_server
):
    page = door_page
    door.go_offline(page)
    door.type_code(page, door_ticket.code, expect="ok")
    close_verdict(page)
    # Meanwhile Sam let her in at the main door.
    first = door.sam_lets_in_at_the_main_door(door_ticket)

    # The tab is closed offline and reopened once the network is back.
    context = page.context
    page.close()
    context.set_offline(False)
    page = context.new_page()
    page.goto(f"{live_server.url}/scanner/door/{door_ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true'][data-states-ready='true']")
    page.wait_for_selector("[data-pending]", state="hidden")
    assert ScanLog.objects.filter(result="offline_conflict").count() == 1

    # Offline again, the same ticket (a shared screenshot) comes back.
    door.go_offline(page)
    text = door.type_code(page, door_ticket.code, expect="already_used")
    when = timezone.localtime(first.at, door_ticket.event.tz).strftime("%H:%M")
    assert f"Already used at {when} at Main door by Sam Okafor." in text


def admit_anyway_offline(page, ticket_type):
    """Offline, a ticket sold after the phone's last list, let in with
    "Admit anyway": the ticket."""
    door.go_offline(page)
    late = make_paid_order(ticket_type, name="Late Buyer").tickets.get()
    door.type_code(page, late.qr_payload, expect="unknown")
    page.click("[data-verdict-admit-anyway]")
    page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    close_verdict(page)
    return late


def test_a_ticket_admitted_anyway_is_used_here_once_uploaded_without_a_new_list(
    door_page, door_ticket
):
    """Sold after the phone's last list, admitted anyway offline: the
    upload's answer puts it on the phone as used, list refresh or not."""
    page = door_page
    late = admit_anyway_offline(page, door_ticket.ticket_type)

    page.route(f"**/api/v1/door/{door_ticket.event_id}/tickets**", server_error)
    page.context.set_offline(False)
    page.wait_for_selector("[data-network][data-state='online']")
    page.wait_for_selector("[data-pending]", state="hidden")
    late.refresh_from_db()
    assert late.status == Ticket.Status.USED

    assert local_copy(page, late.code)["used_device"] == "Side door"
    door.go_offline(page)
    # Used here, as the upload said: seconds after the admit, the guest just
    # let in (no "Admit anyway" again).
    text = door.type_code(page, late.qr_payload, expect="admitted_here")
    assert "Late Buyer" in text and "Admitted here just now" in text
    assert page.locator("[data-verdict-admit-anyway]").is_hidden()


def test_a_ticket_admitted_anyway_offline_is_not_admitted_anyway_again(
    door_page, door_ticket
):
    """A shared screenshot of a ticket missing from the phone's list: the
    second showing is refused as let in here, not offered "Admit anyway"."""
    page = door_page
    late = admit_anyway_offline(page, door_ticket.ticket_type)
    assert local_copy(page, late.code)["status"] == "used"
    door.age_offline_admits(page, minutes=1)  # passed back to a friend outside

    text = door.type_code(page, late.qr_payload, expect="already_used")

    assert "REJECT" in text and "Genuine ticket" not in text
    assert "Already used at " in text and " on this phone (Side door)." in text
    assert page.locator("[data-verdict-admit-anyway]").is_hidden()
    assert len(door.pending_admits(page)) == 1


def test_let_in_twice_says_first_the_admit_made_first(door_page, door_ticket):
    """Admitted offline here, then at the main door (online) ten minutes
    later: the notice says this phone let her in first."""
    page = door_page
    door.go_offline(page)
    door.type_code(page, door_ticket.code, expect="ok")
    close_verdict(page)
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    page.evaluate(
        """async ([event, at]) => {
            const offline = await import("/static/js/door-offline.js");
            const [admit] = await offline.pendingAdmits(event);
            await offline.forgetPending([admit.nonce]);
            await offline.recordOfflineAdmit({ ...admit, at });
        }""",
        [
            page.locator("[data-door]").get_attribute("data-event"),
            ten_minutes_ago.isoformat(),
        ],
    )
    sam = make_staff("door", username="sam", first_name="Sam", last_name="Okafor")
    main = redeem_ticket(
        event=door_ticket.event,
        text=door_ticket.code,
        staff=sam,
        device_label="Main door",
    )

    page.context.set_offline(False)
    alert = page.locator("[data-offline-alert]")
    alert.wait_for(state="visible")

    tz = door_ticket.event.tz
    ours = timezone.localtime(ten_minutes_ago, tz).strftime("%H:%M")
    theirs = timezone.localtime(main.at, tz).strftime("%H:%M")
    assert (
        f"Ana García (General) was let in twice: first offline on this phone at {ours},"
        f" then at {theirs} at Main door by Sam Okafor."
    ) in alert.inner_text()


@pytest.fixture
def early_door_page(page, live_server):
    """A door page hours before check-in opens (12 h before doors)."""
    now = timezone.now()
    doors = now + timedelta(hours=settings.CHECKIN_OPENS_HOURS + 7)
    event = EventFactory(
        name="Later Night", starts_at=doors + timedelta(hours=1), doors_at=doors
    )
    ticket_type = TicketTypeFactory(event=event, name="General", capacity=20)
    make_paid_order(ticket_type, name="On The List")
    door.sign_in_door_staff(page.context, live_server.url, username="doorearly")
    page.goto(f"{live_server.url}/scanner/door/{event.pk}/")
    page.wait_for_selector("[data-door][data-ready='true']")
    page.fill("[data-device-label]", "Side door")
    page.dispatch_event("[data-device-label]", "change")
    return page, ticket_type


def test_offline_before_check_in_opens_a_ticket_not_on_the_list_is_not_valid_yet(
    early_door_page,
):
    """Online the server says "not valid yet"; offline the phone must too,
    not offer "Admit anyway" and upload an admit the server refuses."""
    page, ticket_type = early_door_page
    door.go_offline(page)
    late = make_paid_order(ticket_type, name="Late Buyer").tickets.get()

    text = door.type_code(page, late.qr_payload, expect="not_yet_valid")

    assert "Not valid yet: check-in opens" in text
    assert page.locator("[data-verdict-admit-anyway]").is_hidden()
    assert door.pending_admits(page) == []


def test_offline_admits_keep_the_door_they_were_made_at(door_page, door_ticket):
    page = door_page
    other = Ticket.objects.exclude(pk=door_ticket.pk).get(event=door_ticket.event)
    door.go_offline(page)
    door.type_code(page, door_ticket.code, expect="ok")  # at "Side door"
    close_verdict(page)
    # The phone is carried to the back door and renamed there.
    page.fill("[data-device-label]", "Back door")
    page.dispatch_event("[data-device-label]", "change")
    door.type_code(page, other.code, expect="ok")
    close_verdict(page)

    page.context.set_offline(False)
    page.wait_for_selector("[data-pending]", state="hidden")
    labels = dict(ScanLog.objects.values_list("ticket__code", "device_label"))
    assert labels == {door_ticket.code: "Side door", other.code: "Back door"}


def test_offline_not_valid_yet_names_the_day_as_online_does(page, live_server):
    """Check-in opens in three days: "opens 08:00" would read as today."""
    now = timezone.now()
    doors = now + timedelta(days=3)
    event = EventFactory(
        name="Later Night",
        starts_at=doors + timedelta(hours=1),
        doors_at=doors,
        time_zone="Europe/Madrid",
    )
    ticket_type = TicketTypeFactory(event=event, name="General", capacity=5)
    ticket = make_paid_order(ticket_type, name="Early Bird").tickets.get()
    door.sign_in_door_staff(page.context, live_server.url, username="doorearly")
    page.goto(f"{live_server.url}/scanner/door/{event.pk}/")
    page.wait_for_selector("[data-door][data-states-ready='true']")
    online = door.type_code(page, ticket.code, expect="not_yet_valid")
    close_verdict(page)

    door.go_offline(page)
    offline = door.type_code(page, ticket.code, expect="not_yet_valid")

    said = online.split("Not valid yet: ")[1].split(".")[0]
    assert said.startswith("check-in opens ") and len(said) > len(
        "check-in opens 08:00"
    )
    assert f"Not valid yet: {said}. Checked on this phone (offline)." in offline


def test_a_list_read_before_an_upload_and_saved_after_it_keeps_the_ticket_used(
    door_page, door_ticket
):
    """The page's timers (list every 30 s, uploads every 10 s) meet: a full
    list the server read before this phone's offline admit was uploaded, and
    saved after the upload's answer, must not put the ticket back to issued,
    or the same ticket (a shared screenshot) gets in again offline."""
    page = door_page
    code = door_ticket.code
    door.go_offline(page)
    door.type_code(page, code, expect="ok")
    close_verdict(page)
    held_list = []
    uploads = []

    def upload(route):
        if held_list:
            route.continue_()
        else:
            uploads.append((time.time(), route))

    def tickets(route):
        if "since=" in route.request.url or held_list:
            route.continue_()
        else:
            held_list.append((route, route.fetch()))  # the server reads it now

    page.route(UPLOAD_URL, upload)
    page.route(f"**/api/v1/door/{door_ticket.event_id}/tickets**", tickets)
    page.context.set_offline(False)
    deadline = time.time() + 90
    while not held_list and time.time() < deadline:
        page.wait_for_timeout(100)
        for waiting in list(uploads):  # refused until the list is read
            if time.time() - waiting[0] > 1.0:
                uploads.remove(waiting)
                server_error(waiting[1])
    assert held_list, "no full list asked for"
    for _, route in uploads:
        route.continue_()
    page.wait_for_selector("[data-pending]", state="hidden", timeout=5000)
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.USED

    route, response = held_list[0]
    listed = [t for t in response.json()["tickets"] if t["code"] == code]
    assert listed and listed[0]["status"] == "issued"  # read before the upload
    route.fulfill(response=response)  # lands after the upload's answer
    page.wait_for_timeout(1000)

    assert local_copy(page, code)["status"] == "used"
    door.go_offline(page)
    door.type_code(page, code, expect="already_used")
