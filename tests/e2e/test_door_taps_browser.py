"""Door staff's taps and scans as they come on the night, in real Chromium.

A slow venue network, a nervous double tap, a guest's QR read twice, a
handheld scanner firing while a dialog is open: none of it may turn the
guest just let in into a red REJECT, or lose a scan.
"""

import pytest

from core.models import ScanLog
from core.services.checkin import redeem_ticket
from tests.e2e import test_door_browser as door
from tests.factories import make_paid_order

# The door page's fixtures, shared with its own tests.
door_page = door.door_page
door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCAN_URL = "**/api/v1/scan"


class HeldScans:
    """Scan requests held on their way to the server, as on a slow venue
    network, until `release`: a tap meanwhile finds the first still in flight."""

    def __init__(self, page):
        self.page = page
        self.routes = []
        self.released = 0
        page.route(SCAN_URL, self.hold)

    def hold(self, route) -> None:
        self.routes.append(route)

    def wait_for(self, count: int) -> None:
        for _ in range(100):
            if len(self.routes) >= count:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"{len(self.routes)} scan requests, not {count}")

    def release(self) -> None:
        for route in self.routes[self.released :]:
            route.continue_()
        self.released = len(self.routes)


def results() -> list[str]:
    return list(ScanLog.objects.order_by("id").values_list("result", flat=True))


def assert_admitted_here_just_now(page) -> None:
    """No alarm for a guest this phone has just let in, but amber and a soft
    cue: it may be the screenshot passed back to a friend, so staff look."""
    page.wait_for_selector("[data-verdict][data-code='admitted_here']:not([hidden])")
    verdict = page.locator("[data-verdict]")
    assert verdict.get_attribute("data-verdict") == "attention"
    text = verdict.inner_text()
    assert "ALREADY IN" in text and "Ana García" in text and "General" in text
    assert "Admitted here just now, at " in text
    assert "REJECT" not in text and "Already used" not in text


def test_a_double_tap_on_check_sends_the_code_once(door_page, door_ticket):
    held = HeldScans(door_page)
    door_page.fill("[data-manual-input]", door_ticket.code)
    door_page.click(".door-manual button[type=submit]")
    held.wait_for(1)

    # Tapped again, Enter pressed, the form sent by script: the code is on its way.
    check = door_page.locator(".door-manual button[type=submit]")
    assert check.is_disabled()
    check.click(force=True)
    door_page.press("[data-manual-input]", "Enter")
    door_page.evaluate("document.querySelector('[data-manual]').requestSubmit()")
    door_page.wait_for_timeout(400)
    assert len(held.routes) == 1

    held.release()
    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    door_page.wait_for_timeout(600)
    assert door_page.locator("[data-verdict]").get_attribute("data-code") == "ok"
    assert len(held.routes) == 1 and results() == ["ok"]
    assert check.is_enabled()


def test_a_double_tap_on_a_guests_admit_admits_once(door_page, door_ticket):
    door_page.fill("[data-guest-query]", "ana")
    door_page.press("[data-guest-query]", "Enter")
    admit = door_page.locator(f"[data-guest='{door_ticket.code}'] button")
    admit.wait_for()
    held = HeldScans(door_page)
    admit.click()
    held.wait_for(1)
    assert admit.is_disabled()
    admit.click(force=True)
    door_page.wait_for_timeout(400)
    assert len(held.routes) == 1

    held.release()
    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    door_page.wait_for_timeout(600)
    assert door_page.locator("[data-verdict]").get_attribute("data-code") == "ok"
    assert results() == ["ok"]


def test_a_ticket_checked_again_just_after_its_admit_here_is_no_alarm(
    door_page, door_ticket
):
    """A tap that comes after the answer (or the QR read again): the server
    says "already used", by this phone's own admit a moment ago."""
    door.type_code(door_page, door_ticket.code, expect="ok")
    door_page.click("[data-verdict-close]")
    door.count_beeps_and_buzzes(door_page)

    door_page.fill("[data-manual-input]", door_ticket.code)
    door_page.press("[data-manual-input]", "Enter")

    assert_admitted_here_just_now(door_page)
    door.assert_soft_cue_only(door_page)
    assert results() == ["ok", "already_used"]  # the log says what happened


def test_a_ticket_let_in_at_another_door_is_still_a_red_reject(door_page, door_ticket):
    other = make_paid_order(door_ticket.ticket_type, name="Bo Lind").tickets.get()
    redeem_ticket(event=door_ticket.event, text=other.code, device_label="Main door")
    door.count_beeps_and_buzzes(door_page)

    text = door.type_code(door_page, other.code, expect="already_used")

    assert "REJECT" in text and "Already used at" in text and "Main door" in text
    assert door_page.evaluate("window.buzzes.length") == 1


def open_undo_for_ana(page, ticket) -> None:
    door.type_code(page, ticket.code, expect="ok")
    page.click("[data-verdict-undo]")
    page.wait_for_selector("[data-undo-dialog][open]")


def test_a_wedge_scan_while_the_undo_dialog_is_open_is_checked_not_lost(
    door_page, door_ticket
):
    other = make_paid_order(door_ticket.ticket_type, name="Bo Lind").tickets.get()
    open_undo_for_ana(door_page, door_ticket)
    door_page.keyboard.type("wrong ")  # a reason begun, then the next guest's QR
    door_page.keyboard.type(other.qr_payload)
    door_page.keyboard.press("Enter")

    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert "Bo Lind" in door.verdict_text(door_page)
    assert door_page.locator("[data-undo-dialog]").get_attribute("open") is None
    assert door_page.input_value("[data-undo-reason]") == "wrong "
    log = ScanLog.objects.order_by("id").last()
    assert log.ticket_id == other.pk and log.detail["method"] == "keyboard"
    assert results() == ["ok", "ok"]  # Ana's admit kept, Bo's scanned


def test_enter_after_the_undo_reason_undoes_rather_than_keeps_the_admit(
    door_page, door_ticket
):
    open_undo_for_ana(door_page, door_ticket)
    door_page.fill("[data-undo-reason]", "Wrong wristband")
    door_page.press("[data-undo-reason]", "Enter")

    door_page.wait_for_selector("[data-verdict][data-code='undone']:not([hidden])")
    assert results() == ["ok", "undone"]


def test_another_code_typed_during_a_slow_scan_is_sent_after_it(door_page, door_ticket):
    """Check is off while a code is in flight; typing the next guest's code
    turns it on again, so its Enter is not swallowed: it waits its turn."""
    other = make_paid_order(door_ticket.ticket_type, name="Bo Lind").tickets.get()
    held = HeldScans(door_page)
    door_page.fill("[data-manual-input]", door_ticket.code)
    door_page.press("[data-manual-input]", "Enter")
    held.wait_for(1)

    door_page.fill("[data-manual-input]", other.code)
    door_page.press("[data-manual-input]", "Enter")
    door_page.wait_for_timeout(300)
    held.release()
    held.wait_for(2)
    held.release()

    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    door_page.wait_for_function(
        "document.querySelector('[data-verdict]').innerText.includes('Bo Lind')"
    )
    assert results() == ["ok", "ok"]
