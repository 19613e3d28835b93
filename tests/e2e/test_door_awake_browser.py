"""The door phone's screen stays on while it scans, in real Chromium.

A phone left on a lull dims and locks after its timeout: the next guest then
waits while staff unlock it and the camera starts again. The page holds a
screen wake lock while the camera is on, or once a keyboard-wedge scanner is
in use, asks for it again when the page is shown again (browsers drop it when
a page is hidden), and lets go when staff pause the camera.
"""

import pytest

from tests.e2e import test_door_browser as door

camera_browser = door.camera_browser
door_ticket = door.door_ticket
door_page = door.door_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AWAKE = "[data-door][data-awake='true']"
MAY_SLEEP = "[data-door][data-awake='false']"


# The sentinels the page is given, for the test to drop as a browser does when
# the page is hidden (headless Chromium never hides a page).
KEEP_SENTINELS = """
    const request = WakeLock.prototype.request;
    WakeLock.prototype.request = async function (...args) {
        const sentinel = await request.apply(this, args);
        (window.testSentinels ||= []).push(sentinel);
        return sentinel;
    };
"""

BROWSER_HIDES_AND_SHOWS_THE_PAGE = """async () => {
    await Promise.all(window.testSentinels.map((sentinel) => sentinel.release()));
    document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_the_screen_stays_on_while_the_camera_is_on(
    camera_browser, live_server, door_ticket
):
    context, page = door.open_door_page(
        camera_browser(),
        live_server,
        door_ticket,
        permissions=(),
        init_script=KEEP_SENTINELS,
    )
    page.wait_for_selector(AWAKE)
    assert page.evaluate("window.testSentinels.filter((s) => !s.released).length") == 1

    page.click("[data-stop]")  # Pause camera
    page.wait_for_selector(MAY_SLEEP)
    page.click("[data-stop]")  # Resume camera
    page.wait_for_selector(AWAKE)

    # The browser drops the lock while the page is hidden; shown: asked again.
    page.evaluate(BROWSER_HIDES_AND_SHOWS_THE_PAGE)
    page.wait_for_selector(AWAKE)
    assert page.evaluate("window.testSentinels.filter((s) => !s.released).length") == 1
    context.close()


def test_a_keyboard_wedge_scanner_keeps_the_screen_on_too(door_page, door_ticket):
    assert door_page.locator("[data-door]").get_attribute("data-awake") != "true"
    door_page.locator("h2").first.click()
    door_page.keyboard.type(door_ticket.qr_payload)
    door_page.keyboard.press("Enter")
    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    door_page.wait_for_selector(AWAKE)


def test_typing_a_code_by_hand_leaves_the_screen_as_set(door_page, door_ticket):
    door_page.fill("[data-manual-input]", door_ticket.code)
    door_page.press("[data-manual-input]", "Enter")
    door_page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert door_page.locator("[data-door]").get_attribute("data-awake") != "true"
