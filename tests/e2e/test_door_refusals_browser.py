"""Refusals a door phone makes on its own reach the scan log, in real Chromium.

Offline, the phone refuses from its own copy (an already used ticket, a
forged code, another event's); online, it answers a ticket it let in offline
and has not uploaded yet. The server hears of none of them as it happens:
each waits on the phone with its admits and is logged with the next upload
(issue #5: every attempt, valid or not, writes a ScanLog row).
"""

import time

import pytest

from core.models import ScanLog, Ticket
from tests.e2e import test_door_browser as door
from tests.e2e.test_door_again_browser import wedge_scan
from tests.e2e.test_door_offline_copy_browser import admit_anyway_offline, close_verdict

# The door page's fixtures, shared with its own tests.
door_page = door.door_page
door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def pending_refusals(page) -> list[dict]:
    """The refusals this phone keeps to be logged (IndexedDB)."""
    return page.evaluate(
        """async (event) => {
            const offline = await import("/static/js/door-offline.js");
            return offline.pendingRefusals(event);
        }""",
        page.locator("[data-door]").get_attribute("data-event"),
    )


def wait_for_offline_rows(count: int, timeout: float = 20) -> list[ScanLog]:
    """The scan log's offline rows, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(ScanLog.objects.filter(offline=True).order_by("id"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_a_ticket_refused_offline_as_already_used_is_in_the_scan_log_once_online(
    door_page, door_ticket
):
    page = door_page
    door.sam_lets_in_at_the_main_door(door_ticket)
    page.reload()  # its ticket list now has her in
    page.wait_for_selector("[data-door][data-ready='true']")
    door.go_offline(page)

    text = wedge_scan(page, door_ticket.qr_payload, expect="already_used")
    assert "REJECT" in text and "Checked on this phone (offline)." in text
    close_verdict(page)
    assert list(ScanLog.objects.values_list("result", flat=True)) == ["ok"]
    [waiting] = pending_refusals(page)
    assert waiting["result"] == "already_used"
    assert door.pending_admits(page) == []  # never uploaded as an admit

    page.context.set_offline(False)

    [refusal] = wait_for_offline_rows(1)
    assert refusal.result == "already_used" and refusal.offline
    assert refusal.ticket_id == door_ticket.pk  # its signed code, verified
    assert refusal.device_label == "Side door"
    assert refusal.detail["method"] == "offline"
    assert refusal.nonce == waiting["nonce"]
    door_ticket.refresh_from_db()
    assert door_ticket.scanned_device == "Main door"  # Sam's admit stands
    assert ScanLog.objects.count() == 2
    deadline = time.monotonic() + 10
    while pending_refusals(page) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert pending_refusals(page) == []
    # Last scans says it too, as every door's does.
    listed = page.locator(f"[data-recent] li[data-scan='{refusal.pk}']")
    listed.wait_for()
    assert "(offline)" in listed.inner_text() and "Ana García" in listed.inner_text()


def test_a_forged_code_and_another_events_refused_offline_are_logged_unlinked(
    door_page, door_ticket
):
    page = door_page
    flipped = "A" if door_ticket.qr_payload[-1] != "A" else "B"
    forged = door_ticket.qr_payload[:-1] + flipped
    door.go_offline(page)

    wedge_scan(page, forged, expect="invalid")
    close_verdict(page)
    page.context.set_offline(False)

    [refusal] = wait_for_offline_rows(1)
    assert refusal.result == "invalid" and refusal.ticket_id is None
    assert Ticket.objects.get(pk=door_ticket.pk).status == Ticket.Status.ISSUED


def test_a_genuine_ticket_admitted_anyway_is_logged_as_its_admit_alone(
    door_page, door_ticket
):
    """ "Not on this phone's list" asks staff to check: admitted anyway, the
    attempt is that admit, not also a refusal."""
    page = door_page
    late = admit_anyway_offline(page, door_ticket.ticket_type)
    assert pending_refusals(page) == []

    page.context.set_offline(False)
    page.wait_for_selector("[data-pending]", state="hidden")

    log = ScanLog.objects.get()
    assert (log.result, log.ticket_id, log.offline) == ("ok", late.pk, True)


def test_the_refusals_a_phone_keeps_are_bounded(door_page):
    """A phone left offline at a door with a stuck bad code keeps the latest
    refusals, not every one for ever."""
    page = door_page
    door.go_offline(page)  # nothing is uploaded meanwhile
    kept = page.evaluate(
        """async (event) => {
            const offline = await import("/static/js/door-offline.js");
            const start = Date.parse("2026-01-01T20:00:00Z");
            for (let i = 0; i < offline.MAX_WAITING_REFUSALS + 5; i += 1) {
                await offline.recordOfflineRefusal({
                    nonce: `r${i}`,
                    refusalOf: event,
                    code: "forged",
                    at: new Date(start + i * 1000).toISOString(),
                    result: "invalid",
                    device: "Side door",
                });
            }
            const waiting = await offline.pendingRefusals(event);
            return { max: offline.MAX_WAITING_REFUSALS, nonces: waiting.map((r) => r.nonce) };
        }""",
        page.locator("[data-door]").get_attribute("data-event"),
    )

    assert len(kept["nonces"]) == kept["max"]
    assert "r0" not in kept["nonces"] and f"r{kept['max'] + 4}" in kept["nonces"]
