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


def test_the_counters_are_not_read_out_at_every_admit(door_page):
    """Bare numbers ("4", "11") at any door's every admit: the verdict is
    the announcement."""
    live = door_page.evaluate(
        "() => [...document.querySelectorAll('[data-total-checked-in]')]"
        ".map(el => el.closest('[aria-live]')?.getAttribute('aria-live') || 'off')"
    )
    assert live and set(live) == {"off"}


def test_the_events_name_is_the_pages_heading(door_page, door_ticket):
    headings = door_page.locator("h1")
    assert headings.count() == 1
    assert headings.inner_text() == "Camera Night"
    assert headings.is_visible()


def contrast(one: str, other: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours (opaque)."""

    def luminance(colour: str) -> float:
        parts = colour[colour.index("(") + 1 : colour.index(")")].split(",")
        channels = [int(float(p)) / 255 for p in parts[:3]]
        linear = [
            c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
            for c in channels
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize(
    "field", ["[data-manual-input]", "[data-guest-query]", "[data-device-label]"]
)
def test_placeholders_are_legible_on_their_fields(door_page, field):
    """A placeholder is the code box's and the search's only visible words."""
    colours = door_page.locator(field).evaluate(
        "el => [getComputedStyle(el, '::placeholder').color,"
        " getComputedStyle(el).backgroundColor]"
    )
    assert contrast(*colours) >= 4.5, colours
