"""A ticket this door phone let in, seen again, and a code typed by hand that
names no ticket, in real Chromium.

Online or offline, uploaded or not yet: a guest this phone admitted is never
admitted again by it, and seconds later is the same calm amber "ALREADY IN"
wherever the answer comes from. What the verdict says was typed is what
"Last scans" (the server's log) says.
"""

import pytest
from django.utils import timezone

from core.models import ScanLog, Ticket
from core.services import scan_log_writer
from tests.e2e import test_door_browser as door
from tests.e2e.test_door_offline_copy_browser import (
    UPLOAD_URL,
    admit_offline_with_uploads_failing,
    close_verdict,
)

# The door page's fixtures, shared with its own tests.
door_page = door.door_page
door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What navigator.vibrate gets for a red REJECT (door.js `signal`).
REJECT_BUZZ = [260, 90, 260]


def results() -> list[str]:
    return list(ScanLog.objects.order_by("id").values_list("result", flat=True))


def wedge_scan(page, payload: str, *, expect: str) -> str:
    """The ticket's QR read by a handheld scanner (as a camera would read it)."""
    page.locator("h2").first.click()  # focus on nothing in particular
    page.keyboard.type(payload)
    page.keyboard.press("Enter")
    page.wait_for_selector(f"[data-verdict][data-code='{expect}']:not([hidden])")
    return door.verdict_text(page)


def assert_already_in(page, text: str) -> None:
    """Amber, a soft cue and no alarm: the guest this phone let in seconds ago."""
    assert page.locator("[data-verdict]").get_attribute("data-verdict") == "attention"
    assert "ALREADY IN" in text and "Admitted here just now, at " in text
    assert "The same guest? If not, don't let them in." in text
    assert "Ana García" in text and "General" in text
    assert "REJECT" not in text and "Already used" not in text
    door.assert_soft_cue_only(page)


# --- Online again, with this phone's offline admit still to upload ----------


def test_a_ticket_admitted_offline_is_not_admitted_again_online_before_its_upload(
    door_page, door_ticket
):
    """The network is back, the upload has not gone yet (flaky Wi-Fi), and
    the same ticket comes again: the server has not heard of this phone's
    admit, so the phone answers from it rather than let the server admit."""
    page = door_page
    admit_offline_with_uploads_failing(page, door_ticket)
    page.wait_for_selector("[data-network][data-state='online']")
    door.count_beeps_and_buzzes(page)

    # Seconds later: the guest just let in, as online.
    text = wedge_scan(page, door_ticket.qr_payload, expect="admitted_here")
    assert_already_in(page, text)
    assert results() == []  # the server admitted nobody
    close_verdict(page)

    # A minute later: a red "already used", saying when and where.
    door.count_beeps_and_buzzes(page)
    at = door.age_offline_admits(page, minutes=1)
    text = door.type_code(page, door_ticket.code, expect="already_used")
    when = timezone.localtime(at, door_ticket.event.tz).strftime("%H:%M")
    assert page.locator("[data-verdict]").get_attribute("data-verdict") == "reject"
    assert f"Already used at {when} on this phone (Side door)." in text
    assert "Ana García" in text
    assert page.evaluate("window.buzzes") == [REJECT_BUZZ]
    assert results() == []
    close_verdict(page)

    # The upload goes at last: one admit, no conflict, and the two answers
    # the phone gave on its own logged after it, as refusals.
    page.unroute(UPLOAD_URL)
    page.wait_for_selector("[data-pending]", state="hidden", timeout=20_000)
    assert results() == ["ok", "already_used", "already_used"]
    assert not ScanLog.objects.filter(offline=False).exists()
    log = ScanLog.objects.get(result="ok")
    assert log.offline and log.device_label == "Side door"
    assert page.locator("[data-offline-alert]").is_hidden()


def test_a_ticket_admitted_offline_and_uploaded_seconds_ago_is_already_in_online(
    door_page, door_ticket
):
    """Once uploaded, the server answers "already used" by this phone's own
    offline admit: seconds after it, that is the guest just let in."""
    page = door_page
    door.go_offline(page)
    door.type_code(page, door_ticket.code, expect="ok")
    close_verdict(page)
    page.context.set_offline(False)
    page.wait_for_selector("[data-pending]", state="hidden")
    door.count_beeps_and_buzzes(page)

    text = wedge_scan(page, door_ticket.qr_payload, expect="admitted_here")

    assert_already_in(page, text)
    assert results() == ["ok", "already_used"]  # logged by the server


# A phone whose clock runs this far ahead of the server's.
PHONE_AHEAD_MS = 2 * 60 * 1000
PHONE_CLOCK_SCRIPT = """(() => {
  const RealDate = Date;
  class PhoneDate extends RealDate {
    constructor(...args) {
      if (args.length) super(...args);
      else super(RealDate.now() + %d);
    }
    static now() {
      return RealDate.now() + %d;
    }
  }
  window.Date = PhoneDate;
})();"""


@pytest.fixture
def fast_phone_door_page(page, live_server, door_ticket):
    """The door page on a phone whose clock runs two minutes fast."""
    page.add_init_script(PHONE_CLOCK_SCRIPT % (PHONE_AHEAD_MS, PHONE_AHEAD_MS))
    door.sign_in_door_staff(page.context, live_server.url, username="doorfast")
    page.goto(f"{live_server.url}/scanner/door/{door_ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true']")
    page.fill("[data-device-label]", "Side door")
    page.dispatch_event("[data-device-label]", "change")
    return page


def test_a_phone_running_fast_says_already_in_for_its_offline_admit_just_uploaded(
    fast_phone_door_page, door_ticket
):
    """The server takes no time from its future: an offline admit timed by
    a fast phone's clock was logged at the upload's time instead, and the
    guest just let in, read again, was a red "already used" (not this
    phone's admit, by its time). Timed by the server's clock, it is hers."""
    page = fast_phone_door_page
    door.go_offline(page)
    door.type_code(page, door_ticket.code, expect="ok")
    close_verdict(page)
    back_online = timezone.now()
    page.context.set_offline(False)
    page.wait_for_selector("[data-pending]", state="hidden", timeout=20_000)
    door.count_beeps_and_buzzes(page)

    text = wedge_scan(page, door_ticket.qr_payload, expect="admitted_here")

    assert_already_in(page, text)
    # Logged when she came in, by the server's clock, not at the upload.
    assert ScanLog.objects.get(result="ok").at <= back_online


# --- Offline, read again seconds after this phone let the guest in ----------


def test_offline_a_ticket_read_again_seconds_after_its_admit_here_is_already_in(
    door_page, door_ticket
):
    page = door_page
    door.go_offline(page)
    wedge_scan(page, door_ticket.qr_payload, expect="ok")
    close_verdict(page)
    door.count_beeps_and_buzzes(page)

    text = wedge_scan(page, door_ticket.qr_payload, expect="admitted_here")
    assert_already_in(page, text)
    assert "Checked on this phone (offline)." in text
    close_verdict(page)

    # Half a minute on, the same QR is a red REJECT, as online.
    door.count_beeps_and_buzzes(page)
    at = door.age_offline_admits(page, minutes=1)
    text = wedge_scan(page, door_ticket.qr_payload, expect="already_used")
    when = timezone.localtime(at, door_ticket.event.tz).strftime("%H:%M")
    assert "REJECT" in text
    assert f"Already used at {when} on this phone (Side door)." in text
    assert page.evaluate("window.buzzes") == [REJECT_BUZZ]
    assert len(door.pending_admits(page)) == 1


def test_offline_a_ticket_admitted_here_online_seconds_ago_is_already_in(
    door_page, door_ticket
):
    """Let in online, then the network drops and her QR is shown again."""
    page = door_page
    page.wait_for_selector("[data-door][data-states-ready='true']")
    wedge_scan(page, door_ticket.qr_payload, expect="ok")
    close_verdict(page)
    door.go_offline(page)
    door.count_beeps_and_buzzes(page)

    text = wedge_scan(page, door_ticket.qr_payload, expect="admitted_here")

    assert_already_in(page, text)
    assert door.pending_admits(page) == []
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.USED


# --- Typed by hand, no ticket: the verdict and Last scans say the same -----


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        # Could be a code once cleaned: sent, and said, as cleaned.
        ("hello world", "HELLOWORLD"),
        ("no such-ticket 12", "NOSUCHTICKET12"),
        # Cannot be a code: sent, and said, as typed (cut short when long).
        ("NOT-A-TICKET!", "NOT-A-TICKET!"),
        (
            "Guest says her code is in the email, she is Ana from Madrid",
            "Guest says her code is in the email, she\u2026",
        ),
    ],
)
def test_text_typed_by_hand_reads_the_same_on_the_verdict_and_in_last_scans(
    door_page, typed, shown
):
    page = door_page
    page.fill("[data-manual-input]", typed)
    page.press("[data-manual-input]", "Enter")
    page.wait_for_selector("[data-verdict][data-verdict='attention']:not([hidden])")
    said = f"No ticket with code {shown}"
    reason = page.locator("[data-verdict-reason]").inner_text()
    assert reason == f"{said} — check the code and try again."
    assert page.input_value("[data-manual-input]") == typed  # kept to fix

    listed = page.locator("[data-recent] li").first
    assert listed.locator(".door-recent-what").inner_text() == said
    # A miss refused on its text alone is logged in the next batch (ADR 8).
    scan_log_writer.flush()
    log = ScanLog.objects.get()
    assert log.result == "invalid" and log.detail["message"] == f"{said}."

    # Read again from the server (the feed after a reconnect): the same.
    page.reload()
    page.wait_for_selector("[data-door][data-ready='true']")
    listed = page.locator("[data-recent] li").first
    assert listed.locator(".door-recent-what").inner_text() == said
