"""A buy page whose event is off sale, or cancelled, says which, keeps
listening and comes back when the event does."""

import pytest
from django.db import transaction
from playwright.sync_api import expect

from core import realtime
from core.models import Role
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_paid_order,
    make_staff,
)

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


def set_on_sale(event, on_sale: bool) -> None:
    with transaction.atomic():
        event.is_active = on_sale
        event.save(update_fields=["is_active"])
        transaction.on_commit(realtime.bump_catalogue_version)


def test_a_page_reconnecting_while_its_event_is_off_sale_comes_back_with_it(
    open_page, asgi_server_factory
):
    event = EventFactory(name="Back Soon")
    TicketTypeFactory(event=event, name="GA", capacity=20)
    server = asgi_server_factory()
    page = open_page(f"{server.url}/buy/events/{event.slug}/")
    indicator = page.locator("[data-live-indicator]")
    notice = page.get_by_text("This event is no longer on sale")
    form = page.locator("[data-buy-form]")
    form.get_by_label("Your name").fill("Ana García")

    set_on_sale(event, False)
    server.run("announce_event_changed", event_id=str(event.id), change="deactivated")
    expect(notice).to_be_visible()

    # A dropped connection (a server restart, a phone changing networks).
    server.stop()
    expect(indicator).to_have_text("Reconnecting…")
    server = asgi_server_factory(port=server.port)
    expect(indicator).to_have_text("Live")
    expect(notice).to_be_visible()

    set_on_sale(event, True)
    server.run("announce_event_changed", event_id=str(event.id), change="activated")
    expect(notice).to_be_hidden()
    expect(form.get_by_label("Your name")).to_be_enabled()
    expect(form.get_by_label("Your name")).to_have_value("Ana García")
    expect(page.get_by_label("How many GA tickets")).to_be_enabled()
    expect(indicator).to_have_text("Live")
    assert page.evaluate("window.notReloaded === true")


def test_a_cancellation_is_called_one_live_with_its_reason(open_page, asgi_server):
    make_staff(Role.OWNER, username="owner")
    event = EventFactory(name="Storm Night")
    ga = TicketTypeFactory(event=event, name="GA", capacity=20)
    make_paid_order(TicketTypeFactory(event=event, name="Front row", capacity=1))
    buying = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    detail = open_page(f"{asgi_server.url}/events/{event.slug}/")
    buying.locator("[data-buy-form]").get_by_label("Your name").fill("Ana García")
    expect(buying.locator("[data-sold-out-badge]").filter(visible=True)).to_have_count(
        1
    )

    asgi_server.run(
        "cancel_event",
        event_id=str(event.id),
        actor="owner",
        reason="The storm closed the venue",
    )

    for page in (buying, detail):
        cancelled = page.locator("[data-when-cancelled]")
        expect(cancelled).to_be_visible()
        expect(cancelled).to_contain_text("Storm Night is cancelled")
        expect(cancelled).to_contain_text("The storm closed the venue")
        expect(page.get_by_text("This event is no longer on sale")).to_be_hidden()
        expect(
            page.get_by_text("Sold out", exact=True).filter(visible=True)
        ).to_have_count(0)
        assert page.evaluate("window.notReloaded === true")
    # Neither sold out nor with seats left: not on sale at all.
    row = buying.locator(f'[data-ticket-type="{ga.id}"]')
    expect(row.locator("[data-available]")).to_have_text("Not on sale")
    expect(buying.get_by_role("button", name="Continue to payment")).to_be_disabled()
    expect(
        detail.locator("main").get_by_role("link", name="Buy tickets")
    ).to_be_hidden()


def test_the_event_page_hides_buy_tickets_once_off_sale(open_page, asgi_server):
    event = EventFactory(name="Pulled Night")
    TicketTypeFactory(event=event, name="GA", capacity=20)
    page = open_page(f"{asgi_server.url}/events/{event.slug}/")
    buy = page.locator("main").get_by_role("link", name="Buy tickets")
    expect(buy).to_be_visible()

    set_on_sale(event, False)
    asgi_server.run(
        "announce_event_changed", event_id=str(event.id), change="deactivated"
    )
    expect(page.get_by_text("This event is no longer on sale")).to_be_visible()
    expect(buy).to_be_hidden()

    set_on_sale(event, True)
    asgi_server.run(
        "announce_event_changed", event_id=str(event.id), change="activated"
    )
    expect(buy).to_be_visible()
    expect(page.get_by_text("This event is no longer on sale")).to_be_hidden()
