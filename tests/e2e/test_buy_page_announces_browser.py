"""A keyboard or screen-reader buyer is told what changed under them: a
sell-out or a lowered choice is announced, focus never drops to the page,
and what was typed goes over to the waitlist form."""

import pytest
from playwright.sync_api import expect

from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


def focused(page) -> str:
    """What has focus: its tag and its data- attributes."""
    return page.evaluate(
        """() => { const el = document.activeElement;
            return [el.tagName.toLowerCase(), ...Object.keys(el.dataset)].join(" "); }"""
    )


def sold(server, seat, quantity) -> None:
    make_paid_order(seat, quantity)
    server.run(
        "announce_availability_changed", event_id=str(seat.event_id), reason="sale"
    )


def test_a_sell_out_while_typing_is_announced_and_keeps_focus_and_what_was_typed(
    open_page, asgi_server
):
    event = EventFactory(name="Last Two", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="GA", capacity=2)
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    form = page.locator("[data-buy-form]")
    page.get_by_label("How many GA tickets").select_option("1")
    form.get_by_label("Your name").fill("Ana García")
    form.get_by_label("Email").click()
    page.keyboard.type("ana@exa")

    sold(asgi_server, seat, 2)

    notice = page.locator("[data-event-sold-out]")
    expect(notice).to_be_visible()
    expect(notice).to_be_focused()
    expect(notice).to_contain_text("You can join the waitlist below")
    assert focused(page) != "body"
    waitlist = page.locator("[data-waitlist-form]")
    expect(waitlist.get_by_label("Your name")).to_have_value("Ana García")
    expect(waitlist.get_by_label("Email")).to_have_value("ana@exa")
    assert page.evaluate("window.notReloaded === true")


def test_a_lowered_choice_is_announced_and_a_select_turned_off_hands_focus_on(
    open_page, asgi_server
):
    event = EventFactory(name="Going Fast", venue_capacity=100)
    seat = TicketTypeFactory(event=event, name="GA", capacity=5)
    vip = TicketTypeFactory(event=event, name="VIP", capacity=2)
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    form = page.locator("[data-buy-form]")
    page.get_by_label("How many GA tickets").select_option("4")
    page.get_by_label("How many VIP tickets").select_option("1")
    form.get_by_label("Email").click()

    sold(asgi_server, seat, 3)

    announcer = page.locator("[data-announce]")
    expect(announcer).to_have_text("GA: only 2 left now; your choice was lowered to 2.")
    expect(form.get_by_label("Email")).to_be_focused()

    page.get_by_label("How many VIP tickets").focus()
    sold(asgi_server, vip, 2)
    note = form.locator(f'[data-ticket-type="{vip.id}"] [data-limit-note]')
    expect(note).to_have_text("These just sold out.")
    expect(note).to_be_focused()
    assert page.evaluate("window.notReloaded === true")
