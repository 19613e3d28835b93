"""The door page in real Chromium, with a fake camera showing a real ticket's QR.

Chromium plays a Y4M file as the camera. The file is made here from the
ticket's own QR image: the code is held up for a few seconds, then taken
away, then shown again, in a loop, like a guest at the door.
"""

import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from PIL import Image

from core.models import ScanLog, Ticket
from core.services.checkin import redeem_ticket
from core.services.staff import update_staff_member
from core.tickets.qr import qr_png
from core.tickets.signing import sign_ticket
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT, FPS = 480, 360, 5


def write_y4m(
    path, png: bytes, *, shown_frames: int, blank_frames: int, blank_first=False
) -> None:
    """A 4:2:0 Y4M video: the QR centred on white, and white frames."""
    qr = Image.open(io.BytesIO(png)).convert("L")
    # About as big as a phone screen held up to the door's camera.
    side = int(min(WIDTH, HEIGHT) * 0.7)
    frame = Image.new("L", (WIDTH, HEIGHT), 255)
    frame.paste(
        qr.resize((side, side), Image.NEAREST),
        ((WIDTH - side) // 2, (HEIGHT - side) // 2),
    )
    shown = frame.tobytes()
    blank = bytes([255]) * (WIDTH * HEIGHT)
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2) * 2)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        frames = [shown] * shown_frames + [blank] * blank_frames
        for luma in reversed(frames) if blank_first else frames:
            out.write(b"FRAME\n" + luma + chroma)


@pytest.fixture
def camera_browser(browser):
    """Launch Chromium whose camera plays a given video; closes it afterwards.

    It uses the session's Playwright (one per thread is all Playwright allows),
    through the shared browser's type, with the fake-camera switches added.
    """
    launched = []

    def launch(video_path=None, *, prompt_answer="allow"):
        """`prompt_answer` "deny": the camera prompt is refused, as staff may."""
        camera = browser.browser_type.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                *CHROMIUM_ARGS,
                # Headless Chromium refuses a prompt nobody grants.
                *(
                    ["--use-fake-ui-for-media-stream"]
                    if prompt_answer == "allow"
                    else []
                ),
                "--use-fake-device-for-media-stream",
                *(
                    [f"--use-file-for-fake-video-capture={video_path}"]
                    if video_path
                    else []
                ),
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        launched.append(camera)
        return camera

    yield launch
    for camera in launched:
        camera.close()


@pytest.fixture
def door_ticket(db):
    now = timezone.now()
    event = EventFactory(
        name="Camera Night",
        starts_at=now + timedelta(hours=2),
        doors_at=now + timedelta(hours=1),
        time_zone="Europe/Madrid",
    )
    ticket_type = TicketTypeFactory(event=event, name="General", capacity=20)
    make_paid_order(ticket_type, name="Someone Else")
    order = make_paid_order(ticket_type, name="Ana García", email="ana@example.com")
    return order.tickets.get()


def sign_in_door_staff(context, base_url: str, *, username: str) -> None:
    """Give the browser context a new door person's session on `base_url`."""
    client = Client()
    client.force_login(make_staff("door", username=username))
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base_url,
            }
        ]
    )


def signed_in_door_context(browser, base_url: str, *, username: str, **options):
    """A phone's browser context with a door person's session on `base_url`."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=1, **options
    )
    context.set_default_timeout(20_000)
    sign_in_door_staff(context, base_url, username=username)
    return context


def open_door_page(
    browser, live_server, ticket, *, permissions=("camera",), init_script=None
):
    """`permissions` granted replace the browser's defaults, the screen wake
    lock's included; none: the defaults, as on a phone."""
    options = {"permissions": list(permissions)} if permissions else {}
    context = signed_in_door_context(
        browser, live_server.url, username="doorcam", **options
    )
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{live_server.url}/scanner/door/{ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true']")
    page.fill("[data-device-label]", "Door 7")
    page.click("[data-start]")
    page.wait_for_selector("[data-door][data-camera='on']")
    return context, page


def verdict_text(page) -> str:
    return page.locator("[data-verdict]").inner_text()


def test_a_real_tickets_qr_shown_to_the_camera_again_says_admitted_here_not_reject(
    door_ticket, camera_browser, live_server, tmp_path
):
    video = tmp_path / "ticket.y4m"
    # Held up for 3 s, away for 3 s: one admit, then the same guest's QR
    # again, which the server answers "already used" by this phone's admit.
    write_y4m(
        video,
        qr_png(door_ticket.qr_payload),
        shown_frames=3 * FPS,
        blank_frames=3 * FPS,
    )
    browser = camera_browser(video)
    context, page = open_door_page(browser, live_server, door_ticket)

    page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    text = verdict_text(page)
    assert "ADMIT" in text and "Ana García" in text and "General" in text
    assert page.locator("[data-verdict-undo]").is_visible()
    assert not page.locator("[data-verdict-admit-anyway]").is_visible()
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.USED
    assert door_ticket.scanned_device == "Door 7"

    # The guest let in 3 s ago is not met with a red REJECT and an alarm.
    page.wait_for_selector("[data-verdict][data-code='admitted_here']:not([hidden])")
    text = verdict_text(page)
    assert "ALREADY IN" in text and "Admitted here just now" in text
    assert "Ana García" in text and "REJECT" not in text
    assert page.locator("[data-verdict]").get_attribute("data-verdict") == "attention"
    # Held in front of the camera for seconds, the code was sent once per
    # showing: one admit and one "already used", not a loop of requests.
    results = list(ScanLog.objects.order_by("id").values_list("result", flat=True))
    assert results == ["ok", "already_used"]
    assert (
        page.locator("[data-type-counters] [data-checked-in]").first.inner_text() == "1"
    )
    context.close()


def test_offline_the_door_admits_on_the_phone_and_syncs_when_back_online(
    door_ticket, camera_browser, live_server, tmp_path
):
    video = tmp_path / "ticket.y4m"
    # The camera sees nothing for 8 s, time enough to cut the network; then
    # the guest holds up the ticket.
    write_y4m(
        video,
        qr_png(door_ticket.qr_payload),
        shown_frames=3 * FPS,
        blank_frames=8 * FPS,
        blank_first=True,
    )
    browser = camera_browser(video)
    context, page = open_door_page(browser, live_server, door_ticket)
    page.wait_for_selector("[data-door][data-states-ready='true']")

    context.set_offline(True)
    page.wait_for_selector("[data-network][data-state='offline']")
    assert "OFFLINE" in page.locator("[data-network]").inner_text()

    page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    text = verdict_text(page)
    assert "ADMIT" in text and "Ana García" in text and "offline" in text.lower()
    assert "1 offline admit waiting" in page.locator("[data-pending]").inner_text()
    assert page.locator("[data-total-checked-in]").first.inner_text() == "1"
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.ISSUED  # nothing reached the server
    assert not ScanLog.objects.exists()

    # Reloaded, the page still has its admit waiting (IndexedDB). Playwright's
    # offline mode does not reach the service worker, so this reload is served
    # by the server: the worker's part is test_a_door_page_opened_once_...
    page.reload()
    page.wait_for_selector("[data-door][data-ready='true']")
    assert "waiting to upload" in page.locator("[data-pending]").inner_text()

    context.set_offline(False)
    page.wait_for_selector("[data-network][data-state='online']")
    page.wait_for_selector("[data-pending]", state="hidden")
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.USED
    log = ScanLog.objects.get(result="ok")
    assert log.offline and log.ticket_id == door_ticket.pk
    assert log.device_label == "Door 7"
    page.wait_for_function(
        "document.querySelector('[data-total-checked-in]').textContent === '1'"
    )
    context.close()


def test_a_door_page_opened_once_reopens_with_no_network(
    browser, asgi_server_factory, door_ticket
):
    """The page the first visit loaded, before the door's service worker was in
    charge, is kept too. Playwright's offline mode does not reach service
    workers (microsoft/playwright#2311), so no network here is the context
    offline *and* the server stopped."""
    server = asgi_server_factory()
    context = signed_in_door_context(browser, server.url, username="doorfirst")
    page = context.new_page()
    url = f"{server.url}/scanner/door/{door_ticket.event_id}/"
    page.goto(url)
    page.wait_for_selector("[data-door][data-ready='true'][data-page-kept='true']")

    context.set_offline(True)
    server.stop()
    for reopen in (page.reload, lambda: page.goto(url)):
        reopen()
        page.wait_for_selector("[data-door][data-ready='true']")
        assert "Camera Night" in page.inner_text("body")
        assert "never opened" not in page.inner_text("body")
        page.wait_for_selector("[data-network][data-state='offline']")
    context.close()


@pytest.fixture
def door_page(page, live_server, door_ticket):
    """The door page for a signed-in door person, camera not started."""
    sign_in_door_staff(page.context, live_server.url, username="doorkeys")
    page.goto(f"{live_server.url}/scanner/door/{door_ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true']")
    page.fill("[data-device-label]", "Side door")
    page.dispatch_event("[data-device-label]", "change")
    return page


def test_a_keyboard_wedge_scanner_typing_anywhere_admits(door_page, door_ticket):
    door_page.locator("h2").first.click()  # focus on nothing in particular
    door_page.keyboard.type(door_ticket.qr_payload)
    door_page.keyboard.press("Enter")

    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    log = ScanLog.objects.get()
    assert log.detail["method"] == "keyboard" and log.device_label == "Side door"


# What a guest this phone let in moments ago, read again, sounds and buzzes
# like (door.js `signal("again")`): one soft tone, a short buzz, no alarm.
AGAIN_BEEPS = 1
AGAIN_BUZZ = [40, 60, 40]


def assert_soft_cue_only(page) -> None:
    """Since count_beeps_and_buzzes: the soft "again" cue, not an alarm, and
    not the admit's chime either."""
    assert page.evaluate("window.beeps") == AGAIN_BEEPS
    assert page.evaluate("window.buzzes") == [AGAIN_BUZZ]


def count_beeps_and_buzzes(page) -> None:
    """Count the page's tones and vibrations in window.beeps / window.buzzes."""
    page.evaluate(
        """() => {
        window.beeps = 0;
        window.buzzes = [];
        const make = AudioContext.prototype.createOscillator;
        AudioContext.prototype.createOscillator = function () {
          window.beeps += 1;
          return make.call(this);
        };
        navigator.vibrate = (pattern) => (window.buzzes.push(pattern), true);
      }"""
    )


def test_guest_list_admit_then_undo_with_a_reason(door_page, door_ticket):
    count_beeps_and_buzzes(door_page)
    door_page.fill("[data-guest-query]", "garcía")
    door_page.press("[data-guest-query]", "Enter")
    guest = door_page.locator(f"[data-guest='{door_ticket.code}']")
    guest.get_by_role("button", name="Admit").click()

    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert door_page.locator("[data-total-checked-in]").first.inner_text() == "1"
    door_page.click("[data-verdict-undo]")
    door_page.fill("[data-undo-reason]", "Admitted the wrong Ana")
    beeps = door_page.evaluate("window.beeps")
    assert beeps > 0 and door_page.evaluate("window.buzzes.length") == 1
    door_page.click("[data-undo-confirm]")

    door_page.wait_for_selector("[data-verdict][data-code='undone']:not([hidden])")
    # A calm confirmation: its own colour, the name once, no alarm.
    verdict = door_page.locator("[data-verdict]")
    assert verdict.get_attribute("data-verdict") == "undone"
    text = verdict_text(door_page)
    assert "ADMIT UNDONE" in text and "CHECK" not in text
    assert text.count("Ana García") == 1 and "Admitted the wrong Ana" in text
    assert door_page.evaluate("window.beeps") == beeps
    assert door_page.evaluate("window.buzzes.length") == 1
    assert door_page.locator("[data-total-checked-in]").first.inner_text() == "0"
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.ISSUED
    undone = ScanLog.objects.get(result="undone")
    assert undone.detail["info"]["reason"] == "Admitted the wrong Ana"
    # "Last scans" shows it as calmly as the screen did, labelled an undo...
    assert_listed_as_an_undo(door_page.locator("[data-recent] li").first)
    # ...and so does an undo made at another door, arriving live (logged, and
    # so pushed, with the verdict "attention").
    push_scans_from_another_door(
        door_page,
        scan_by_zed_at_door_3(
            door_ticket,
            id=777_777,
            code="undone",
            verdict="attention",
            message="Admit undone for Zed: wrong wristband",
            ticket_code="ZZZZZZ3333",
        ),
    )
    pushed = door_page.locator("[data-recent] li[data-scan='777777']")
    assert "Door 3" in pushed.inner_text()
    assert_listed_as_an_undo(pushed)


def scan_by_zed_at_door_3(door_ticket, **overrides) -> dict:
    """A scan as the door feed pushes it (core.realtime), made at another door."""
    return {
        "id": 999_999,
        "code": "ok",
        "verdict": "admit",
        "message": "Admit Zed · General",
        "ticket_code": "ZZZZZZ2222",
        "guest_name": "Zed",
        "ticket_type": "General",
        "ticket_type_id": door_ticket.ticket_type_id,
        "device": "Door 3",
        "staff": "sam",
        "at": timezone.now().isoformat(),
        "offline": False,
        **overrides,
    }


def push_scans_from_another_door(door_page, *scans: dict, omitted: int = 0) -> None:
    """Hand scans to the page as static/js/live.js does with a `door.scans` push."""
    door_page.evaluate(
        "([scans, omitted]) => document.dispatchEvent(new CustomEvent('door:message',"
        " {detail: {type: 'door.scans', scans, omitted}}))",
        [list(scans), omitted],
    )


# The feed's colours for admit (--ok), reject (--bad) and attention (--warn).
ALARM_COLOURS = {"rgb(15, 191, 97)", "rgb(228, 33, 51)", "rgb(255, 176, 32)"}


def assert_listed_as_an_undo(item) -> None:
    assert item.get_attribute("data-scan-verdict") == "undone"
    assert item.locator(".door-recent-what").inner_text().startswith("ADMIT UNDONE")
    border = item.evaluate("li => getComputedStyle(li).borderLeftColor")
    assert border not in ALARM_COLOURS


# A browser without WebCrypto Ed25519 (Chrome before 137, Safari before 17).
NO_ED25519 = """
const importKey = crypto.subtle.importKey.bind(crypto.subtle);
crypto.subtle.importKey = (format, key, algorithm, ...rest) =>
  (algorithm === "Ed25519" || algorithm?.name === "Ed25519")
    ? Promise.reject(new DOMException("Unrecognized name", "NotSupportedError"))
    : importKey(format, key, algorithm, ...rest);
"""


def test_offline_without_ed25519_a_ticket_on_the_phones_list_still_admits(
    door_page, door_ticket
):
    door_page.add_init_script(NO_ED25519)
    door_page.reload()
    door_page.wait_for_selector("[data-door][data-states-ready='true']")
    door_page.context.set_offline(True)
    door_page.wait_for_selector("[data-network][data-state='offline']")

    door_page.keyboard.type(door_ticket.qr_payload)
    door_page.keyboard.press("Enter")
    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert "Ana García" in verdict_text(door_page)
    door_page.click("[data-verdict-close]")

    # A well-formed code this phone cannot check and does not know: not admitted.
    unknown = sign_ticket(event_id=door_ticket.event_id, ticket_code="ZZZZZZ9999")
    door_page.keyboard.type(unknown)
    door_page.keyboard.press("Enter")
    door_page.wait_for_selector(
        "[data-verdict][data-code='unverifiable']:not([hidden])"
    )
    assert "not on this phone's list" in verdict_text(door_page)
    assert door_page.locator("[data-verdict-admit-anyway]").is_hidden()


def test_offline_the_guest_list_searches_the_phone_and_admits_for_upload(
    door_page, door_ticket
):
    void = make_paid_order(door_ticket.ticket_type, name="Luis Garcia").tickets.get()
    Ticket.objects.filter(pk=void.pk).update(status=Ticket.Status.VOID)
    door_page.reload()  # its ticket list now has the void ticket too
    door_page.wait_for_selector("[data-door][data-states-ready='true']")
    door_page.context.set_offline(True)
    door_page.wait_for_selector("[data-network][data-state='offline']")

    # Part of the name, other case, no accent: "Ana García" is found.
    door_page.fill("[data-guest-query]", "GARCIA")
    door_page.press("[data-guest-query]", "Enter")
    guest = door_page.locator(f"[data-guest='{door_ticket.code}']")
    assert "Ana García · General" in guest.inner_text()
    assert "Not in yet" in guest.inner_text()
    results = door_page.locator("[data-guest-results]")
    assert "by name or ticket code only" in results.inner_text()
    assert "Someone Else" not in results.inner_text()
    refunded = door_page.locator(f"[data-guest='{void.code}']")
    assert "Refunded / void" in refunded.inner_text()
    assert refunded.get_by_role("button").count() == 0

    guest.get_by_role("button", name="Admit").click()
    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    text = verdict_text(door_page)
    assert "ADMIT" in text and "Ana García" in text and "offline" in text.lower()
    assert "1 offline admit waiting" in door_page.locator("[data-pending]").inner_text()
    # The list now says she is in, with no second admit (and no undo offline).
    door_page.wait_for_selector(
        f"[data-guest='{door_ticket.code}'][data-status='used']"
    )
    assert "In at" in guest.inner_text() and "Side door" in guest.inner_text()
    assert guest.get_by_role("button").count() == 0
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.ISSUED  # nothing reached the server

    door_page.context.set_offline(False)
    door_page.wait_for_selector("[data-network][data-state='online']")
    door_page.wait_for_selector("[data-pending]", state="hidden")
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.USED
    log = ScanLog.objects.get(result="ok")
    assert log.offline and log.ticket_id == door_ticket.pk
    assert log.device_label == "Side door"


def test_a_typed_short_code_is_checked(door_page, door_ticket):
    door_page.fill("[data-manual-input]", door_ticket.code.lower())
    door_page.press("[data-manual-input]", "Enter")

    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert door_page.input_value("[data-manual-input]") == ""  # ready for the next


def test_a_code_typed_in_groups_with_dashes_and_lower_case_admits(
    door_page, door_ticket
):
    code = door_ticket.code
    door_page.fill(
        "[data-manual-input]", f" {code[:4].lower()} {code[4:7]}-{code[7:]} "
    )
    door_page.press("[data-manual-input]", "Enter")

    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert "Ana García" in verdict_text(door_page)
    assert door_page.input_value("[data-manual-input]") == ""
    log = ScanLog.objects.get()
    assert log.ticket_id == door_ticket.pk and log.detail["method"] == "manual"


def typo_of(code: str) -> str:
    """`code` with its last character wrong, shown in groups as staff type it."""
    wrong = "Z" if code[-1] != "Z" else "Y"
    return f"{code[:4]} {code[4:-1]}{wrong}"


def assert_typed_code_needs_checking(
    page, typed: str, *, shown: str | None = None, said: str | None = None
) -> None:
    """An amber CHECK that says what was typed (`shown`: as it was read and
    logged, if not as typed); the code stays in its box and is selected, to be
    put right, once the verdict is closed."""
    page.wait_for_selector("[data-verdict][data-verdict='attention']:not([hidden])")
    text = verdict_text(page)
    assert "CHECK" in text and "REJECT" not in text
    said = (
        said or f"No ticket with code {shown or typed} — check the code and try again."
    )
    assert said in text
    assert page.input_value("[data-manual-input]") == typed
    page.click("[data-verdict-close]")
    page.wait_for_selector("[data-verdict]", state="hidden")
    selected = page.evaluate(
        """() => {
          const input = document.querySelector('[data-manual-input]');
          return document.activeElement === input
            && input.value.slice(input.selectionStart, input.selectionEnd);
        }"""
    )
    assert selected == typed


def test_a_mistyped_code_asks_to_check_it_and_keeps_it_to_fix(door_page, door_ticket):
    count_beeps_and_buzzes(door_page)
    typed = typo_of(door_ticket.code)
    door_page.fill("[data-manual-input]", typed)
    door_page.press("[data-manual-input]", "Enter")

    # Said as read (and sent): the code without the space, as "Last scans" says.
    sent = typed.replace(" ", "")
    assert_typed_code_needs_checking(door_page, typed, shown=sent)
    assert door_page.evaluate("window.buzzes") == [[120, 60, 120, 60, 120]]
    # Still `invalid` (what analytics counts), logged as the door said it,
    # and amber in "Last scans" too.
    log = ScanLog.objects.get()
    assert log.result == "invalid" and log.detail["method"] == "manual"
    assert log.detail["message"] == f"No ticket with code {sent}."
    listed = door_page.locator("[data-recent] li").first
    assert listed.get_attribute("data-scan-verdict") == "attention"
    assert listed.locator(".door-recent-what").inner_text() == (
        f"No ticket with code {sent}"
    )
    assert "Not a valid ticket" not in listed.inner_text()
    assert listed.locator(".door-recent-why").inner_text() == "Side door"

    # Fixed in place (typing replaces the selection), it admits.
    door_page.keyboard.type(door_ticket.code)
    door_page.keyboard.press("Enter")
    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert door_page.input_value("[data-manual-input]") == ""


def test_typed_text_that_cannot_be_a_code_asks_to_check_it_too(door_page):
    door_page.fill("[data-manual-input]", "NOT-A-TICKET!")
    door_page.press("[data-manual-input]", "Enter")

    assert_typed_code_needs_checking(door_page, "NOT-A-TICKET!")


def test_offline_a_typed_code_is_read_as_online(door_page, door_ticket):
    door_page.wait_for_selector("[data-door][data-states-ready='true']")
    door_page.context.set_offline(True)
    door_page.wait_for_selector("[data-network][data-state='offline']")

    typed = typo_of(door_ticket.code)
    door_page.fill("[data-manual-input]", typed)
    door_page.press("[data-manual-input]", "Enter")
    # Not blamed on the typing: offline it may be a real code not listed here.
    shown = typed.replace(" ", "")
    assert_typed_code_needs_checking(
        door_page,
        typed,
        said=f"Can't check {shown} offline — it's not on this event's list.",
    )

    door_page.fill("[data-manual-input]", "hello!")
    door_page.press("[data-manual-input]", "Enter")
    assert_typed_code_needs_checking(door_page, "hello!")

    code = door_ticket.code
    door_page.fill("[data-manual-input]", f"{code[:5].lower()}-{code[5:]}")
    door_page.press("[data-manual-input]", "Enter")
    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert "Ana García" in verdict_text(door_page)
    assert "1 offline admit waiting" in door_page.locator("[data-pending]").inner_text()


def go_offline(page) -> None:
    page.wait_for_selector("[data-door][data-states-ready='true']")
    page.context.set_offline(True)
    page.wait_for_selector("[data-network][data-state='offline']")


def type_code(page, code: str, *, expect: str) -> str:
    page.fill("[data-manual-input]", code)
    page.press("[data-manual-input]", "Enter")
    page.wait_for_selector(f"[data-verdict][data-code='{expect}']:not([hidden])")
    return verdict_text(page)


def test_offline_a_refusal_names_the_guest_from_the_phones_copy(door_page, door_ticket):
    sam_lets_in_at_the_main_door(door_ticket)
    door_page.reload()  # its ticket list now has her in
    go_offline(door_page)

    text = type_code(door_page, door_ticket.code, expect="already_used")

    assert "REJECT" in text and "Ana García" in text and "General" in text
    assert "Already used at" in text and "at Main door by Sam Okafor." in text
    assert "Checked on this phone (offline)." in text


def test_offline_a_ticket_another_door_let_in_live_says_who(door_page, door_ticket):
    """Another door's admit, heard on the live feed just before the network
    dropped, is in the phone's copy with its door and staff member."""
    push_scans_from_another_door(
        door_page,
        scan_by_zed_at_door_3(
            door_ticket, ticket_code=door_ticket.code, staff="Sam Okafor"
        ),
    )
    go_offline(door_page)

    text = type_code(door_page, door_ticket.code, expect="already_used")

    assert "REJECT" in text and "at Door 3 by Sam Okafor." in text


def sam_lets_in_at_the_main_door(ticket):
    """Another door staff member admits the ticket, online, at another door."""
    sam = make_staff("door", username="sam", first_name="Sam", last_name="Okafor")
    return redeem_ticket(
        event=ticket.event, text=ticket.code, staff=sam, device_label="Main door"
    )


def test_an_offline_admit_of_a_guest_already_in_is_a_warning_not_an_all_clear(
    door_page, door_ticket
):
    go_offline(door_page)
    # Sam lets her in at the main door, which this phone does not hear of...
    first = sam_lets_in_at_the_main_door(door_ticket)
    # ...and then this phone lets her in again, offline.
    type_code(door_page, door_ticket.code, expect="ok")
    door_page.click("[data-verdict-close]")

    door_page.context.set_offline(False)
    alert = door_page.locator("[data-offline-alert]")
    alert.wait_for(state="visible")

    when = timezone.localtime(first.at, door_ticket.event.tz).strftime("%H:%M")
    assert alert.locator("[data-offline-alert-title]").inner_text() == (
        "1 offline admit needs checking"
    )
    assert (
        f"Ana García (General) was let in twice: first at {when} at Main door"
        " by Sam Okafor, then offline on this phone at "
    ) in alert.inner_text()
    assert alert.evaluate("el => getComputedStyle(el).backgroundColor") == (
        "rgb(255, 176, 32)"
    )
    # Still in view with the page scrolled to its end (a guest search, say).
    door_page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert door_page.evaluate("window.scrollY") > 200
    assert alert.evaluate(
        "el => el.getBoundingClientRect().top >= 0"
        " && el.getBoundingClientRect().bottom <= innerHeight"
    )
    network = door_page.locator("[data-network]").inner_text()
    assert "1 offline admit uploaded." in network
    assert "attention" not in network and "already admitted" not in network
    listed = door_page.locator("[data-recent] li[data-scan-verdict='attention']")
    assert "Ana García · General" in listed.inner_text()

    alert.get_by_role("button", name="Dismiss").click()
    alert.wait_for(state="hidden")


def pending_admits(page) -> list[dict]:
    """The admits this phone keeps for upload (IndexedDB), as door.js reads them."""
    return page.evaluate(
        """async (event) => {
            const offline = await import("/static/js/door-offline.js");
            return offline.pendingAdmits(event);
        }""",
        page.locator("[data-door]").get_attribute("data-event"),
    )


def age_offline_admits(page, minutes: int):
    """Make this phone's waiting offline admits `minutes` older (past the
    seconds in which one is "admitted here just now"); their new time."""
    at = timezone.now() - timedelta(minutes=minutes)
    page.evaluate(
        """async ([event, at]) => {
            const offline = await import("/static/js/door-offline.js");
            for (const admit of await offline.pendingAdmits(event)) {
                await offline.forgetPending([admit.nonce]);
                await offline.recordOfflineAdmit({ ...admit, at });
            }
        }""",
        [page.locator("[data-door]").get_attribute("data-event"), at.isoformat()],
    )
    return at


def test_an_answer_lost_on_the_way_back_is_uploaded_as_the_same_scan(
    door_page, door_ticket
):
    """The server got the scan, the phone never got its answer: the phone
    admits offline with the same scan id and uploads the same text, so the
    server knows it (the text trimmed was a different scan under that id)."""
    door_page.wait_for_selector("[data-door][data-states-ready='true']")
    sent = []

    def lose_the_answer(route):
        sent.append(json.loads(route.request.post_data)["code"])
        route.fetch()  # it reaches the server...
        route.abort()  # ...and its answer is lost

    door_page.route("**/api/v1/scan", lose_the_answer)
    door_page.locator("h2").first.click()
    door_page.keyboard.type(door_ticket.qr_payload + "  ")  # a wedge's padding
    door_page.keyboard.press("Enter")

    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    door_page.unroute("**/api/v1/scan")
    assert sent == [door_ticket.qr_payload + "  "]
    [admit] = pending_admits(door_page)
    assert admit["code"] == sent[0]
    # The network "comes back" (the next probe), the admit is uploaded.
    door_page.wait_for_selector("[data-pending]", state="hidden", timeout=20_000)
    assert door_page.locator("[data-offline-alert]").is_hidden()
    log = ScanLog.objects.get()
    assert log.result == "ok" and not log.offline


def test_an_offline_admit_the_server_cannot_record_does_not_hold_up_the_rest(
    door_page, door_ticket
):
    other = Ticket.objects.exclude(pk=door_ticket.pk).get(event=door_ticket.event)
    go_offline(door_page)
    type_code(door_page, door_ticket.code, expect="ok")
    door_page.click("[data-verdict-close]")
    type_code(door_page, other.code, expect="ok")
    door_page.click("[data-verdict-close]")
    [bad] = [
        a for a in pending_admits(door_page) if a["ticketCode"] == door_ticket.code
    ]
    # Its scan id reached the server before, with other text.
    redeem_ticket(
        event=door_ticket.event, text=door_ticket.code + " ", nonce=bad["nonce"]
    )

    door_page.context.set_offline(False)

    door_page.wait_for_selector("[data-pending]", state="hidden")
    assert pending_admits(door_page) == []
    other.refresh_from_db()
    assert other.status == Ticket.Status.USED
    alert = door_page.locator("[data-offline-alert]")
    alert.wait_for(state="visible")
    assert alert.locator("[data-offline-alert-title]").inner_text() == (
        "1 offline admit needs checking"
    )
    text = alert.inner_text()
    assert "Ana García (General), let in offline on this phone at " in text
    assert "Not recorded by the server: this scan id was already used" in text


def move_door_staff(*, username: str, to) -> None:
    """As the owner does it on the Staff page (which tells every server
    process that this person's door access changed)."""
    user = get_user_model().objects.get(username=username)
    update_staff_member(
        actor=make_staff("owner", username="the-owner"),
        user_id=user.pk,
        role="door",
        event_ids=[to.pk],
    )


def test_an_upload_refused_for_good_is_said_and_not_sent_again_and_again(
    door_page, door_ticket
):
    go_offline(door_page)
    type_code(door_page, door_ticket.code, expect="ok")
    door_page.click("[data-verdict-close]")
    # Meanwhile the owner moved this door person to another event.
    move_door_staff(username="doorkeys", to=EventFactory(name="Elsewhere"))
    uploads = []
    door_page.on(
        "request", lambda r: "/api/v1/scan/offline" in r.url and uploads.append(r.url)
    )

    door_page.context.set_offline(False)

    pending = door_page.locator("[data-pending]")
    door_page.wait_for_function(
        "el => el.textContent.includes('not uploaded')", arg=pending.element_handle()
    )
    assert pending.inner_text() == (
        "1 offline admit not uploaded:"
        " You're no longer on this event's door — ask the owner."
    )
    # The page tries every 10 s while admits wait: not this one, again.
    door_page.wait_for_timeout(11_000)
    assert len(uploads) == 1
    assert len(pending_admits(door_page)) == 1  # kept, not lost


def test_a_garbage_or_forged_code_shown_to_the_camera_is_still_a_red_reject(
    door_ticket, camera_browser, live_server, tmp_path
):
    flipped = "A" if door_ticket.qr_payload[-1] != "A" else "B"
    forged = door_ticket.qr_payload[:-1] + flipped
    video = tmp_path / "forged.y4m"
    write_y4m(video, qr_png(forged), shown_frames=3 * FPS, blank_frames=3 * FPS)
    context, page = open_door_page(camera_browser(video), live_server, door_ticket)

    page.wait_for_selector("[data-verdict][data-code='invalid']:not([hidden])")
    assert page.get_attribute("[data-verdict]", "data-verdict") == "reject"
    text = verdict_text(page)
    assert "REJECT" in text and "Not a valid ticket." in text
    assert "check the code" not in text
    context.close()


def test_scans_from_other_doors_arrive_live_and_a_resync_corrects_counters(
    door_page, door_ticket
):
    """The contract with static/js/live.js: `door:message` and `live:resync`."""
    push_scans_from_another_door(door_page, scan_by_zed_at_door_3(door_ticket))

    recent = door_page.locator("[data-recent] li").first
    assert "Zed" in recent.inner_text() and "Door 3" in recent.inner_text()
    assert door_page.locator("[data-total-checked-in]").first.inner_text() == "1"

    # The server never saw that scan: a resync puts the true count back.
    door_page.evaluate("document.dispatchEvent(new CustomEvent('live:resync'))")
    door_page.wait_for_function(
        "document.querySelector('[data-total-checked-in]').textContent === '0'"
    )


def test_last_scans_say_each_thing_once(door_page, door_ticket):
    push_scans_from_another_door(
        door_page,
        scan_by_zed_at_door_3(door_ticket),
        scan_by_zed_at_door_3(
            door_ticket,
            id=999_998,
            code="invalid",
            verdict="reject",
            message="Not a valid ticket.",
            guest_name="",
            ticket_type="",
        ),
    )

    forged, admit = door_page.locator("[data-recent] li").all()
    assert admit.locator(".door-recent-what").inner_text() == "Zed · General"
    assert admit.locator(".door-recent-why").inner_text() == "Admitted — Door 3"
    assert forged.get_attribute("data-scan-verdict") == "reject"
    assert forged.locator(".door-recent-what").inner_text() == "Not a valid ticket"
    assert forged.locator(".door-recent-why").inner_text() == "Door 3"


def test_refusals_left_out_of_a_flood_push_are_counted_not_hidden(
    door_page, door_ticket
):
    """realtime.py sends at most 20 refusals per push and counts the rest."""
    refusal = {
        "id": 888_888,
        "code": "invalid",
        "verdict": "reject",
        "message": "Not a valid ticket.",
        "device": "Door 9",
        "at": timezone.now().isoformat(),
        "offline": False,
    }
    push_scans_from_another_door(door_page, refusal, omitted=37)

    items = door_page.locator("[data-recent] li")
    assert "Door 9" in items.nth(0).inner_text()  # the newest, on top
    assert (
        "Not a valid ticket" in items.nth(0).locator(".door-recent-what").inner_text()
    )
    assert "+37 more refused scans" in items.nth(1).inner_text()
    assert items.nth(1).get_attribute("data-scan-verdict") == "reject"


def test_a_scan_at_one_door_appears_live_at_the_other(
    browser, asgi_server, door_ticket
):
    """Two phones on one event, through the real websocket feed (live.js)."""
    client = Client()
    client.force_login(make_staff("door", username="twodoors"))
    cookie = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": asgi_server.url,
    }
    contexts, pages = [], {}
    try:
        for label in ("Door A", "Door B"):
            context = browser.new_context(viewport={"width": 390, "height": 844})
            context.set_default_timeout(20_000)
            context.add_cookies([cookie])
            contexts.append(context)
            page = context.new_page()
            page.goto(f"{asgi_server.url}/scanner/door/{door_ticket.event_id}/")
            page.wait_for_selector("[data-door][data-ready='true']")
            page.fill("[data-device-label]", label)
            page.dispatch_event("[data-device-label]", "change")
            page.wait_for_selector(
                "[data-live-indicator][data-state='live']", state="attached"
            )
            pages[label] = page
        pages["Door B"].evaluate(
            "window.doorMessages = [];"
            "document.addEventListener('door:message', e => doorMessages.push(e.detail))"
        )

        door_a = pages["Door A"]
        door_a.fill("[data-manual-input]", door_ticket.code)
        door_a.press("[data-manual-input]", "Enter")
        door_a.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")

        door_b = pages["Door B"]
        door_b.wait_for_function(
            "window.doorMessages.some(m => m.type === 'door.scans'"
            " && m.scans.some(s => s.code === 'ok'))"
        )
        latest = door_b.locator("[data-recent] li").first.inner_text()
        assert "Ana García" in latest and "Door A" in latest
        assert door_b.locator("[data-total-checked-in]").first.inner_text() == "1"
    finally:
        for context in contexts:
            context.close()


def pixel(page, selector, x=3, y=3) -> tuple:
    """The colour actually painted at (x, y) inside the element."""
    box = page.locator(selector).first.bounding_box()
    png = page.screenshot(
        clip={"x": box["x"] + x, "y": box["y"] + y, "width": 1, "height": 1}
    )
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0))


def test_the_viewfinders_dimming_stays_inside_the_camera_box(door_page):
    """The aim's shadow dims the video around it, never the bar above it."""
    door_page.evaluate("document.querySelector('[data-door]').dataset.camera = 'on'")
    assert door_page.locator(".door-aim").is_visible()
    assert (
        door_page.eval_on_selector(
            ".door-camera", "el => getComputedStyle(el).overflow"
        )
        == "hidden"
    )
    # The online bar's own green (#123d27), not a quarter darker.
    assert pixel(door_page, "[data-network]") == pytest.approx((18, 61, 39), abs=2)


def test_a_wedge_typing_into_the_door_name_field_scans_and_keeps_the_name(
    door_page, door_ticket
):
    door_page.click("[data-device-label]")  # focus left on the door's name
    door_page.keyboard.type(door_ticket.qr_payload)
    door_page.keyboard.press("Enter")

    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert door_page.input_value("[data-device-label]") == "Side door"
    # The bar at the top, which follows the typing, is put back too.
    assert door_page.inner_text("[data-door-name]") == "Side door"
    assert door_page.get_attribute("[data-door]", "data-door-named") == "true"
    door_page.locator("[data-device-label]").blur()
    assert door_page.evaluate("localStorage.getItem('door.device')") == "Side door"
    log = ScanLog.objects.get()
    assert log.device_label == "Side door" and log.detail["method"] == "keyboard"


def test_a_wedge_typing_into_the_guest_search_scans_instead_of_searching(
    door_page, door_ticket
):
    door_page.fill("[data-guest-query]", "ana")
    door_page.keyboard.type(door_ticket.qr_payload)
    door_page.keyboard.press("Enter")

    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert door_page.input_value("[data-guest-query]") == "ana"
    assert ScanLog.objects.get().result == "ok"


def test_undo_stays_reachable_after_the_admit_screen_has_gone(door_page, door_ticket):
    door_page.fill("[data-manual-input]", door_ticket.code)
    door_page.press("[data-manual-input]", "Enter")
    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    # The ADMIT screen closes by itself, quickly, for the next guest...
    door_page.wait_for_selector("[data-verdict]", state="hidden")

    # ...and the undo waits at the bottom of the page.
    undo = door_page.locator("[data-undo-last]")
    assert undo.is_visible() and "Ana García" in undo.inner_text()
    undo.click()
    door_page.fill("[data-undo-reason]", "Wrong wristband")
    door_page.click("[data-undo-confirm]")

    door_page.wait_for_selector("[data-verdict][data-code='undone']:not([hidden])")
    assert not undo.is_visible()  # nothing left to undo
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.ISSUED


def test_a_scan_after_the_session_expired_says_so_and_leads_back_here(
    door_page, door_ticket, live_server
):
    door_url = door_page.url
    door_page.context.clear_cookies()  # the session has expired
    door_page.fill("[data-manual-input]", door_ticket.code)
    door_page.press("[data-manual-input]", "Enter")

    door_page.wait_for_selector(
        "[data-verdict][data-code='not_authenticated']:not([hidden])"
    )
    text = verdict_text(door_page)
    assert "You are signed out. Sign in again to keep scanning." in text
    assert "credentials" not in text
    door_page.click("[data-verdict-signin]")
    door_page.wait_for_url("**/scanner/login/**")
    door_page.fill("#id_username", "doorkeys")
    door_page.fill("#id_password", "correct-horse-battery")
    door_page.click("button[type=submit]")
    door_page.wait_for_url(door_url)
    door_page.wait_for_selector("[data-door][data-ready='true']")
    assert not ScanLog.objects.exists()


def test_door_staff_taken_off_the_event_are_told_so_and_led_to_their_events(
    door_page, door_ticket, live_server
):
    """Signed in, with a door account: signing in again cannot help them."""
    move_door_staff(username="doorkeys", to=EventFactory(name="Another Night"))
    door_page.fill("[data-manual-input]", door_ticket.code)
    door_page.press("[data-manual-input]", "Enter")

    door_page.wait_for_selector("[data-verdict][data-code='forbidden']:not([hidden])")
    text = verdict_text(door_page)
    assert "You're no longer on this event's door — ask the owner." in text
    assert "Sign in" not in text
    door_page.click("[data-verdict-signin]")
    door_page.wait_for_url(f"{live_server.url}/scanner/door/")
    assert "Another Night" in door_page.inner_text("body")
    assert not ScanLog.objects.exists()


def test_the_network_bar_stays_in_view_down_at_the_guest_list(door_page):
    door_page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert door_page.evaluate("window.scrollY") > 200
    assert door_page.locator("[data-network]").bounding_box()["y"] == 0


def test_on_a_320px_phone_the_camera_buttons_leave_the_aim_clear(door_page):
    door_page.set_viewport_size({"width": 320, "height": 568})
    door_page.evaluate(
        "document.querySelector('[data-door]').dataset.camera = 'on';"
        "document.querySelector('[data-start-panel]').hidden = true;"
        "document.querySelector('[data-stop]').hidden = false;"
    )
    aim = door_page.locator(".door-aim").bounding_box()
    stop = door_page.locator("[data-stop]").bounding_box()
    assert stop["y"] >= aim["y"] + aim["height"] or (
        stop["x"] >= aim["x"] + aim["width"]
    )
    assert placeholder_fits(door_page, "[data-manual-input]")
    assert placeholder_fits(door_page, "[data-guest-query]")


def test_on_a_320px_phone_a_long_verdict_fits_and_a_short_one_stays_huge(
    door_page, door_ticket
):
    event = door_ticket.event
    long_type = TicketTypeFactory(event=event, name="General admission + backstage")
    guest = make_paid_order(
        long_type, name="Maximiliana Alexandra Konstantinopoulou-Wolfeschlegelstein"
    ).tickets.get()
    elsewhere = TicketTypeFactory(
        event=EventFactory(
            name="The Extraordinarily Long Annual Midsummer Festival of"
            " Independent Music, Film and the Arts"
        )
    )
    other_event = make_paid_order(elsewhere, name="Someone").tickets.get()
    get_user_model().objects.filter(username="doorkeys").update(
        first_name="Bartholomew", last_name="Montgomery-Fitzwilliam"
    )
    door_page.set_viewport_size({"width": 320, "height": 568})
    door_page.fill("[data-device-label]", "Main entrance, north gate by the cloakroom")
    door_page.dispatch_event("[data-device-label]", "change")

    def check(code: str, expected: str) -> dict:
        door_page.fill("[data-manual-input]", code)
        door_page.press("[data-manual-input]", "Enter")
        door_page.wait_for_selector(
            f"[data-verdict][data-code='{expected}']:not([hidden])"
        )
        layout = verdict_layout(door_page)
        assert layout["shown"], "measured after the verdict had gone"
        # Tapping it closes it, if its timer has not already.
        door_page.evaluate("document.querySelector('[data-verdict]').click()")
        door_page.wait_for_selector("[data-verdict]", state="hidden")
        return layout

    admitted = check(guest.code, "ok")
    # Let in a while ago (this phone's admit a moment ago is no REJECT).
    namesake = make_paid_order(long_type, name=guest.guest_name).tickets.get()
    redeem_ticket(
        event=event,
        text=namesake.code,
        staff=get_user_model().objects.get(username="doorkeys"),
        device_label="Main entrance, north gate by the cloakroom",
    )
    used = check(namesake.code, "already_used")
    wrong = check(other_event.code, "wrong_event")
    short = check(door_ticket.code, "ok")

    assert "by Bartholomew Montgomery-Fitzwilliam" in used["text"]
    assert "Independent Music, Film and the Arts" in wrong["text"]
    for layout in (admitted, used, wrong, short):
        assert layout["overflowing"] == [], layout["text"]
    # Short text keeps the full size: ADMIT across the phone, the name big.
    assert short["sizes"]["word"] >= 64 and short["sizes"]["name"] >= 28


def verdict_layout(page) -> dict:
    """The verdict's text, font sizes, and any part of it that does not fit
    the viewport or its own box (once its opening animation has finished)."""
    return page.evaluate(
        """async () => {
          await Promise.all(document.getAnimations().map((a) => a.finished));
          const box = document.querySelector('[data-verdict]');
          const overflowing = [];
          if (box.scrollHeight > box.clientHeight || box.scrollWidth > box.clientWidth) {
            overflowing.push('the verdict scrolls');
          }
          for (const el of [box, ...box.querySelectorAll('*')]) {
            const r = el.getBoundingClientRect();
            if (!r.width && !r.height) continue; // hidden
            const name = el.className || el.tagName;
            if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight) {
              overflowing.push(`${name} leaves the viewport`);
            }
            if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).display !== 'inline') {
              overflowing.push(`${name} is wider than its box`);
            }
          }
          const size = (s) => parseFloat(getComputedStyle(box.querySelector(s)).fontSize);
          return {
            shown: !box.hidden,
            text: box.innerText,
            overflowing,
            sizes: { word: size('[data-verdict-word]'), name: size('[data-verdict-name]') },
          };
        }"""
    )


def placeholder_fits(page, selector) -> bool:
    return page.eval_on_selector(
        selector,
        """input => {
          const probe = document.createElement('span');
          probe.style.font = getComputedStyle(input).font;
          probe.textContent = input.placeholder;
          document.body.append(probe);
          const style = getComputedStyle(input);
          const room = input.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
          const fits = probe.getBoundingClientRect().width <= room;
          probe.remove();
          return fits;
        }""",
    )


def test_a_torch_that_will_not_turn_on_says_so_and_shows_off(
    door_ticket, camera_browser, live_server, tmp_path
):
    video = tmp_path / "blank.y4m"
    write_y4m(video, qr_png(door_ticket.qr_payload), shown_frames=0, blank_frames=5)
    context, page = open_door_page(camera_browser(video), live_server, door_ticket)
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    # The fake camera has no torch: offer it anyway, as a phone might.
    page.evaluate("document.querySelector('[data-torch]').hidden = false")
    page.click("[data-torch]")

    page.wait_for_selector("[data-camera-msg]:not([hidden])")
    assert "torch would not turn on" in page.inner_text("[data-camera-msg]")
    assert page.get_attribute("[data-torch]", "aria-pressed") == "false"
    assert errors == []
    page.click("[data-stop]")  # paused: the torch is off
    assert page.get_attribute("[data-torch]", "aria-pressed") == "false"
    context.close()


def start_camera_expecting_trouble(page, trouble: str) -> str:
    """Tap Start scanning; the camera stays off and the note says why."""
    page.click("[data-start]")
    page.wait_for_selector(
        f"[data-camera-note][data-trouble='{trouble}']:not([hidden])"
    )
    assert page.get_attribute("[data-door]", "data-camera") is None
    assert page.locator("[data-start]").is_visible()  # to try again once put right
    return page.inner_text("[data-camera-note]")


def assert_typing_still_admits(page, ticket) -> None:
    page.fill("[data-manual-input]", ticket.code)
    page.press("[data-manual-input]", "Enter")
    page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")


def test_a_refused_camera_says_how_to_allow_it_and_typing_still_works(
    door_ticket, camera_browser, live_server
):
    browser = camera_browser(prompt_answer="deny")
    context = signed_in_door_context(browser, live_server.url, username="doordeny")
    page = context.new_page()
    page.goto(f"{live_server.url}/scanner/door/{door_ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true']")

    note = start_camera_expecting_trouble(page, "denied")
    assert note == (
        "Camera access is blocked. Allow the camera for this site in your"
        " browser settings, then tap Start scanning."
    )
    assert "not found" not in note.lower()
    # Tapped again, still blocked: the same words, and no second prompt.
    assert start_camera_expecting_trouble(page, "denied") == note
    assert_typing_still_admits(page, door_ticket)
    context.close()


def test_a_phone_without_a_camera_says_to_type_codes(door_page, door_ticket):
    # The shared test browser has no camera at all.
    note = start_camera_expecting_trouble(door_page, "missing")
    assert note == "No camera found on this device. Type codes below instead."
    assert_typing_still_admits(door_page, door_ticket)


CAMERA_IN_USE = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Could not start video source", "NotReadableError"));
"""


def test_a_camera_in_use_by_another_app_says_so(door_page):
    door_page.context.grant_permissions(["camera"])
    door_page.add_init_script(CAMERA_IN_USE)
    door_page.reload()
    door_page.wait_for_selector("[data-door][data-ready='true']")

    note = start_camera_expecting_trouble(door_page, "busy")
    assert note == (
        "The camera is in use by another app. Close that app, then tap Start scanning."
    )


def test_an_http_page_says_the_camera_needs_https(door_page):
    # What a phone sees at http://<laptop's address>:8000 on the venue's Wi-Fi.
    door_page.add_init_script(
        "Object.defineProperty(window, 'isSecureContext', {value: false})"
    )
    door_page.reload()
    door_page.wait_for_selector("[data-door][data-ready='true']")

    note = start_camera_expecting_trouble(door_page, "insecure")
    assert "https://" in note and "type codes below" in note


def test_the_name_this_door_button_is_big_enough_and_whole_on_a_390px_phone(
    page, live_server, door_ticket
):
    sign_in_door_staff(page.context, live_server.url, username="doorsize")
    page.goto(f"{live_server.url}/scanner/door/{door_ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true']")

    button = page.locator("[data-rename-door]")
    box = button.bounding_box()
    assert box["height"] >= 44 and box["x"] + box["width"] <= 390
    label = page.locator("[data-door-name]")
    assert label.inner_text() == "Name this door"
    assert label.evaluate("el => el.scrollWidth <= el.clientWidth")
    size = button.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert size >= 16


def test_the_door_is_unnamed_until_staff_name_it_once(page, live_server, door_ticket):
    sign_in_door_staff(page.context, live_server.url, username="doorname")
    url = f"{live_server.url}/scanner/door/{door_ticket.event_id}/"
    # What this page saved before for a door left unnamed is no name.
    page.add_init_script(
        "if (!sessionStorage.getItem('ran')) {"
        " sessionStorage.setItem('ran', '1'); localStorage.setItem('door.device', 'Door'); }"
    )
    page.goto(url)
    page.wait_for_selector("[data-door][data-ready='true']")

    # Asked, but scanning goes on meanwhile, naming no door: a made-up name
    # on every unnamed phone would send staff to the wrong door.
    assert page.get_attribute("[data-door]", "data-door-named") == "false"
    assert page.input_value("[data-device-label]") == ""
    assert page.inner_text("[data-door-name]") == "Name this door"
    assert page.locator(".door-label-hint").is_visible()
    page.click("[data-start]")  # starting the camera names nothing
    assert page.get_attribute("[data-door]", "data-door-named") == "false"
    assert_typing_still_admits(page, door_ticket)
    assert ScanLog.objects.get().device_label == ""
    page.click("[data-verdict-close]")

    # Renamed from the bar at the top, once; the phone remembers it.
    page.click("[data-rename-door]")
    assert page.evaluate("document.activeElement.matches('[data-device-label]')")
    # At a person's pace (a wedge's typing there is a scan); it replaces the
    # selected name.
    page.keyboard.type("Side door", delay=60)
    page.keyboard.press("Enter")
    assert page.inner_text("[data-door-name]") == "Side door"
    page.reload()
    page.wait_for_selector("[data-door][data-ready='true']")
    assert page.get_attribute("[data-door]", "data-door-named") == "true"
    assert page.input_value("[data-device-label]") == "Side door"
    assert page.locator(".door-label-hint").is_hidden()
