"""The door page stays as wide as the phone, whatever its text.

A pasted link in an undo reason, a guest's long work email or Android's
large text setting once made the page wider than the screen. A mobile
browser then lays the full-screen verdict out over the wider page: ADMIT,
the guest's name and the buttons land off the screen, which shows a plain
green or red, and the guest list's Admit button sits past the right edge.
"""

import pytest

from core.services.checkin import redeem_ticket, undo_admit
from tests.e2e import test_door_browser as door
from tests.e2e.test_door_browser import sign_in_door_staff, verdict_layout
from tests.factories import TicketTypeFactory, make_paid_order, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

door_ticket = door.door_ticket

LONG_EMAIL = "operations.department.manager@internationalconferencecentre.com"
PASTED_LINK = "see https://support.example.com/tickets/" + "x" * 160
PHONES = {
    "390x844": {"width": 390, "height": 844},
    "360x740": {"width": 360, "height": 740},
    "landscape": {"width": 844, "height": 390},
}
# Android Chrome's text scaling: the browser's default font size grows.
TEXT_SIZES = {"100%": 16, "150%": 24, "175%": 28}


@pytest.fixture
def busy_night(door_ticket):
    """The door's event after a while: a guest with a long email still to
    come, an undo whose reason is one long pasted link, a long type name,
    and Ana already let in at Door 1."""
    event = door_ticket.event
    TicketTypeFactory(event=event, name="Early Bird Standing with Cloakroom")
    guest = make_paid_order(
        door_ticket.ticket_type, name="Alexandra Konstantinopoulou", email=LONG_EMAIL
    ).tickets.get()
    other = make_paid_order(door_ticket.ticket_type, name="Bo Lind").tickets.get()
    redeem_ticket(event=event, text=other.code, device_label="Side door")
    undo_admit(event=event, ticket_code=other.code, reason=PASTED_LINK)
    sam = make_staff("door", username="samokafor", first_name="Sam", last_name="Okafor")
    redeem_ticket(event=event, text=door_ticket.code, staff=sam, device_label="Door 1")
    return {"guest": guest, "used": door_ticket}


def open_phone(browser, live_server, event_id, *, viewport, font_size):
    context = browser.new_context(
        viewport=viewport, device_scale_factor=1, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send(
        "Page.setFontSizes",
        {"fontSizes": {"standard": font_size, "fixed": font_size}},
    )
    # Kept while the page is used: a session let go may take its sizes with it.
    page.text_size_session = cdp
    sign_in_door_staff(context, live_server.url, username="doorphone")
    page.goto(f"{live_server.url}/scanner/door/{event_id}/")
    page.wait_for_selector("[data-door][data-ready='true']")
    # The recent scans are listed once the page has its snapshot.
    page.wait_for_selector("[data-recent] li[data-scan-verdict='undone']")
    return context, page


def page_width(page) -> dict:
    return page.evaluate(
        "({scroll: document.documentElement.scrollWidth, viewport: innerWidth})"
    )


def assert_inside(page, selector, where) -> None:
    """The element's box lies wholly on the screen (scrolled into view)."""
    element = page.locator(selector).first
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    size = page.viewport_size
    assert box is not None, (selector, where)
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5, (
        selector,
        box,
        where,
    )
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5, (
        selector,
        box,
        where,
    )


def assert_verdict_fits(page, code, where) -> dict:
    page.wait_for_selector(f"[data-verdict][data-code='{code}']:not([hidden])")
    layout = verdict_layout(page)
    assert layout["overflowing"] == [], (where, layout)
    return layout


def assert_wraps_within(page, selector, where) -> None:
    """The text wraps inside its own box, and the box inside the phone's width:
    not cut off by the page's clip."""
    element = page.locator(selector).first
    box = element.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"], (
        selector,
        box,
        where,
    )
    assert element.evaluate("e => e.scrollWidth <= e.clientWidth"), (selector, where)


def check_the_door_fits(page, busy_night, *, phone, text_size, tmp_path) -> None:
    """The page, the guest list and the ADMIT and REJECT screens, each on the phone."""
    where = f"{phone} at {text_size} text"
    root_size = page.evaluate("getComputedStyle(document.documentElement).fontSize")
    assert root_size == f"{TEXT_SIZES[text_size]}px", where
    width = page_width(page)
    assert width["viewport"] == PHONES[phone]["width"], (where, width)
    assert width["scroll"] <= width["viewport"], (where, width)
    assert_wraps_within(
        page, "[data-recent] li[data-scan-verdict='undone'] .door-recent-why", where
    )
    assert_inside(page, ".door-counters", where)
    page.screenshot(path=tmp_path / "counters.png")
    # Each column heading whole, on one line ("CAPACI / TY" is no heading).
    assert (
        page.eval_on_selector_all(
            ".door-counters thead th",
            """ths => ths.filter((th) => {
          const range = document.createRange();
          range.selectNodeContents(th);
          return range.getClientRects().length !== 1;
        }).map((th) => th.textContent)""",
        )
        == []
    ), where
    # The date stops short of the "N / M in" total beside it.
    date = page.locator(".door-title .door-sub")
    date_end = date.evaluate("e => e.getBoundingClientRect().x + e.scrollWidth")
    assert date_end <= page.locator(".door-total").bounding_box()["x"], where

    page.fill("[data-guest-query]", "konstantin")
    page.click(".door-search button[type=submit]")
    admit = "[data-guest-results] li[data-status=issued] button"
    page.wait_for_selector(admit)
    assert page_width(page)["scroll"] <= width["viewport"], where
    assert_inside(page, admit, where)
    assert_wraps_within(page, "[data-guest-results] .door-guest-email", where)
    # Not full_page: that resizes the page and drops the text size set above.
    page.screenshot(path=tmp_path / "guest.png")

    page.click(admit)
    admitted = assert_verdict_fits(page, "ok", where)
    assert "ADMIT" in admitted["text"] and "Alexandra" in admitted["text"], where
    for part in ("[data-verdict-word]", "[data-verdict-name]", "[data-verdict-undo]"):
        assert_inside(page, part, where)
    page.screenshot(path=tmp_path / "admit.png")
    page.click("[data-verdict-close]")
    page.wait_for_selector("[data-verdict]", state="hidden")

    page.fill("[data-manual-input]", busy_night["used"].code)
    page.press("[data-manual-input]", "Enter")
    refused = assert_verdict_fits(page, "already_used", where)
    assert "REJECT" in refused["text"] and "Sam Okafor" in refused["text"], where
    for part in (
        "[data-verdict-word]",
        "[data-verdict-reason]",
        "[data-verdict-close]",
    ):
        assert_inside(page, part, where)
    page.screenshot(path=tmp_path / "reject.png")
    root_now = page.evaluate("getComputedStyle(document.documentElement).fontSize")
    assert root_now == root_size, where


@pytest.mark.parametrize("phone", PHONES)
def test_a_long_email_or_pasted_link_leaves_the_page_and_verdicts_on_the_phone(
    browser, live_server, busy_night, phone, tmp_path
):
    context, page = open_phone(
        browser,
        live_server,
        busy_night["used"].event_id,
        viewport=PHONES[phone],
        font_size=TEXT_SIZES["100%"],
    )
    check_the_door_fits(
        page, busy_night, phone=phone, text_size="100%", tmp_path=tmp_path
    )
    context.close()


@pytest.mark.parametrize("text_size", ["150%", "175%"])
@pytest.mark.parametrize("phone", PHONES)
def test_large_text_leaves_the_counters_header_and_verdicts_whole_on_the_phone(
    browser, live_server, busy_night, phone, text_size, tmp_path
):
    context, page = open_phone(
        browser,
        live_server,
        busy_night["used"].event_id,
        viewport=PHONES[phone],
        font_size=TEXT_SIZES[text_size],
    )
    check_the_door_fits(
        page, busy_night, phone=phone, text_size=text_size, tmp_path=tmp_path
    )
    context.close()
