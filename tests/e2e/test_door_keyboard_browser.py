"""The door page for a keyboard and screen-reader user, in real Chromium: a
verdict takes the focus and the page behind it cannot be reached (Tab never
lands on the Check button hidden under it), focus comes back to the code box
for the next code, the counters do not chatter, the event's name is the
page's heading, and the fields' only visible words are legible."""

import pytest

from tests.e2e import test_door_browser as door

door_ticket = door.door_ticket
door_page = door.door_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED = "() => document.activeElement.closest('[data-verdict]') ? 'verdict' : (document.activeElement.dataset.manualInput !== undefined ? 'code box' : document.activeElement.outerHTML.slice(0, 80))"


def test_a_verdict_takes_the_focus_and_gives_it_back_to_the_code_box(
    door_page, door_ticket
):
    page = door_page
    page.focus("[data-manual-input]")
    page.keyboard.type(door.typo_of(door_ticket.code))
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-verdict]:not([hidden])")

    assert page.evaluate(FOCUSED) == "verdict"
    check = page.locator("[data-manual] [type=submit]")
    assert check.evaluate("el => Boolean(el.closest('[inert]'))")
    for _ in range(6):  # round the verdict's own buttons, never behind it
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUSED) == "verdict"

    page.click("[data-verdict-close]")
    page.wait_for_selector("[data-verdict]", state="hidden")
    assert page.evaluate(FOCUSED) == "code box"
    assert not check.evaluate("el => Boolean(el.closest('[inert]'))")

    # A good code: the ADMIT screen goes by itself, and the focus comes back.
    page.fill("[data-manual-input]", door_ticket.code)
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-verdict][data-code='ok']:not([hidden])")
    assert page.evaluate(FOCUSED) == "verdict"
    page.wait_for_selector("[data-verdict]", state="hidden")
    assert page.evaluate(FOCUSED) == "code box"
