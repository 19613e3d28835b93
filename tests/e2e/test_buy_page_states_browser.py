"""The buy page on a phone when the event is not simply on sale: taken off
sale while a buyer fills the form, not on sale yet, every seat held."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


def test_an_event_taken_off_sale_says_so_and_stops_the_form_keeping_what_was_typed(
    open_page, asgi_server
):
    event = EventFactory(name="Pulled Night")
    TicketTypeFactory(event=event, name="GA", capacity=20)
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    form = page.locator("[data-buy-form]")
    notice = page.get_by_text("This event is no longer on sale")
    expect(notice).to_be_hidden()
    page.get_by_label("How many GA tickets").select_option("2")
    form.get_by_label("Your name").fill("Ana García")

    event.is_active = False
    event.save(update_fields=["is_active"])
    asgi_server.run(
        "announce_event_changed", event_id=str(event.id), change="deactivated"
    )

    expect(notice).to_be_visible()
    expect(form.get_by_label("Your name")).to_be_disabled()
    expect(form.get_by_label("Your name")).to_have_value("Ana García")
    expect(form.get_by_label("Email")).to_be_disabled()
    expect(page.get_by_label("How many GA tickets")).to_be_disabled()
    expect(page.get_by_role("button", name="Continue to payment")).to_be_disabled()
    assert page.evaluate("window.notReloaded === true")

    # Back on sale: the form works again, what was typed still there.
    event.is_active = True
    event.save(update_fields=["is_active"])
    asgi_server.run(
        "announce_event_changed", event_id=str(event.id), change="activated"
    )
    expect(notice).to_be_hidden()
    expect(form.get_by_label("Your name")).to_be_enabled()
    expect(form.get_by_label("Your name")).to_have_value("Ana García")
    expect(page.get_by_label("How many GA tickets")).to_be_enabled()
    expect(page.get_by_role("button", name="Continue to payment")).to_be_enabled()


def listen_for_next_update(page) -> None:
    """From now, window.nextUpdate resolves at live.js's next availability update."""
    page.evaluate(
        """() => { window.nextUpdate = new Promise((resolve) => document.addEventListener(
            "availability:update", () => resolve(true), { once: true })); }"""
    )


def test_before_sales_open_the_buy_page_says_when_and_asks_for_nothing(
    open_page, asgi_server
):
    opens = timezone.now() + timedelta(days=3)
    event = EventFactory(
        name="Not Yet", time_zone="Europe/London", sales_start_at=opens
    )
    TicketTypeFactory(event=event, name="GA", capacity=20)
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    form = page.locator("[data-buy-form]")

    listen_for_next_update(page)
    asgi_server.run("announce_event_changed", event_id=str(event.id), change="updated")
    assert page.evaluate("window.nextUpdate")
    expect(
        page.get_by_text(re.compile(r"^On sale from \w{3} \d+ \w{3}, \d\d:\d\d"))
    ).to_be_visible()
    expect(form.get_by_label("Your name")).to_be_hidden()
    expect(form.get_by_label("Email")).to_be_hidden()
    expect(page.get_by_text("held for 15 minutes")).to_be_hidden()
    expect(page.get_by_role("button", name="Continue to payment")).to_be_hidden()
    expect(form.locator("[data-available]")).to_have_text("Not on sale yet")


def test_the_buy_page_opens_by_itself_when_sales_do(open_page, asgi_server):
    event = EventFactory(sales_start_at=timezone.now() + timedelta(seconds=4))
    TicketTypeFactory(event=event, name="GA", capacity=20)
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    form = page.locator("[data-buy-form]")
    expect(form.get_by_label("Your name")).to_be_hidden()
    expect(form.get_by_label("Your name")).to_be_visible()
    expect(form.locator("[data-available]")).to_have_text("20 left")
    expect(page.get_by_text("On sale from")).to_have_count(0)


def test_seats_held_by_checkouts_read_as_all_taken_for_now_then_sold_out(
    open_page, asgi_server, tmp_path
):
    event = EventFactory(name="Last Two", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="GA", capacity=2)
    order = place_order(
        event_id=event.id,
        quantities={seat.id: 2},
        customer_name="Holder",
        customer_email="holder@example.com",
    )
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    notice = page.locator("[data-event-sold-out]")
    expect(notice).to_contain_text("All taken for now")
    expect(notice).to_contain_text("may come back in a few minutes")
    expect(page.locator("[data-sold-out-badge]")).to_have_text("Taken for now")
    # A notice, centred: not a red bar that looks like a button turned off.
    assert notice.evaluate("(el) => getComputedStyle(el).textAlign") == "center"
    assert notice.evaluate("(el) => getComputedStyle(el).borderTopStyle") == "solid"
    page.screenshot(path=tmp_path / "held.png")

    listen_for_next_update(page)
    fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference=f"test-{order.code}",
        amount=order.total,
        currency=order.currency,
    )
    asgi_server.run("announce_event_changed", event_id=str(event.id), change="sold")
    assert page.evaluate("window.nextUpdate")
    expect(notice.locator("[data-sold-out-title]")).to_have_text("Sold out")
    expect(notice.get_by_text("may come back")).to_be_hidden()
    expect(page.locator("[data-sold-out-badge]")).to_have_text("Sold out")
    assert page.evaluate("window.notReloaded === true")
