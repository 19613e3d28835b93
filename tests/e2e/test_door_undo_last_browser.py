"""The "Undo last admit" button after a guest with a long name, in real
Chromium on a narrow phone at 200% text: "Undo last admit" stays whole and
readable, the name is cut with an ellipsis (it was centred and cut at both
ends, the words too)."""

import pytest

from tests.e2e import test_door_browser as door
from tests.factories import make_paid_order

door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = "Maximiliana Concepción de los Ángeles Fernández-Villaverde y Castellanos"

# Where the words "Undo last admit" are painted, against the button's edges.
LABEL_PLACE = """(button) => {
    const walker = document.createTreeWalker(button, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode()) && !node.data.includes("Undo last admit")) {}
    const start = node.data.indexOf("Undo last admit");
    const range = document.createRange();
    range.setStart(node, start);
    range.setEnd(node, start + "Undo last admit".length);
    const words = range.getBoundingClientRect();
    const box = button.getBoundingClientRect();
    const cut = [...button.querySelectorAll("*")].filter(
        (el) => getComputedStyle(el).textOverflow === "ellipsis"
            && el.scrollWidth > el.clientWidth
            && el.textContent.includes("Maximiliana"));
    return {
        inside: words.left >= box.left - 0.5 && words.right <= box.right + 0.5,
        cutWithEllipsis: cut.length === 1,
        fitsThePhone: box.right <= window.innerWidth,
    };
}"""


@pytest.mark.parametrize("text_size", ["100%", "200%"])
def test_undo_last_admit_stays_readable_with_a_long_name(
    browser, live_server, door_ticket, text_size
):
    guest = make_paid_order(door_ticket.ticket_type, name=LONG_NAME).tickets.get()
    context = browser.new_context(viewport={"width": 320, "height": 640})
    context.set_default_timeout(20_000)
    door.sign_in_door_staff(context, live_server.url, username="doorlong")
    page = context.new_page()
    page.goto(f"{live_server.url}/scanner/door/{guest.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true']")
    page.add_style_tag(content=f"html {{ font-size: {text_size}; }}")

    door.type_code(page, guest.code, expect="ok")
    page.click("[data-verdict-close]")
    button = page.locator("[data-undo-last]")
    button.wait_for(state="visible")

    place = button.evaluate(LABEL_PLACE)
    assert place == {"inside": True, "cutWithEllipsis": True, "fitsThePhone": True}
    # Read whole by a screen reader, cut or not.
    assert page.get_by_role("button", name=f"Undo last admit ({LONG_NAME})").count()
    context.close()
