"""An open buy page (and the marketing event page) follows the owner's
edits: name, date and time, prices, ticket types added or taken off sale;
a price changed under the customer's choice is said next to the total."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.models import Role
from tests.factories import EventFactory, TicketTypeFactory, make_staff

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)

MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture
def open_mic(transactional_db):
    """Open Mic Tonight, tomorrow 22:00 in Madrid: Table €15, Standing €10."""
    tomorrow = (timezone.now() + timedelta(days=1)).astimezone(MADRID).date()
    starts = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 22, tzinfo=MADRID)
    event = EventFactory(
        name="Open Mic Tonight",
        slug="open-mic-tonight",
        time_zone="Europe/Madrid",
        currency="eur",
        starts_at=starts,
    )
    table = TicketTypeFactory(
        event=event, name="Table", price=Decimal("15.00"), capacity=60, sort_order=1
    )
    standing = TicketTypeFactory(
        event=event, name="Standing", price=Decimal("10.00"), capacity=53, sort_order=2
    )
    make_staff(Role.OWNER, username="owner")
    return event, table, standing


def edit(server, event, **changes) -> None:
    server.run("edit_event", event_id=str(event.id), actor="owner", **changes)


def rename_move_reprice_and_add_a_type(asgi_server, event, table, standing) -> None:
    """The owner's edit both pages must follow: renamed, an hour later, Table
    €15 → €20, Standing off sale, a new Balcony type."""
    edit(
        asgi_server,
        event,
        name="Open Mic Late",
        starts_at=(event.starts_at + timedelta(hours=1)).isoformat(),
        types=[
            {"id": table.id, "price": "20.00"},
            {"id": standing.id, "is_active": False},
            {"name": "Balcony", "price": "12.00", "capacity": 10, "sort_order": 3},
        ],
    )


def test_the_buy_page_follows_the_owners_edit_and_says_the_new_price(
    open_page, asgi_server, open_mic
):
    event, table, standing = open_mic
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    form = page.locator("[data-buy-form]")
    page.get_by_label("How many Table tickets").select_option("1")
    form.get_by_label("Your name").fill("Ana García")
    form.get_by_label("Email").fill("ana@example.com")
    expect(form.locator("[data-order-total]")).to_have_text("€15.00")

    rename_move_reprice_and_add_a_type(asgi_server, event, table, standing)

    expect(page.get_by_role("heading", level=1)).to_have_text("Open Mic Late")
    expect(page.locator(".event-date")).to_contain_text("23:00")
    expect(page).to_have_title(re.compile("Open Mic Late"))
    table_row = form.locator(f'[data-ticket-type="{table.id}"]')
    expect(table_row.locator(".price-amount")).to_have_text("€20.00")
    expect(form.locator("[data-order-total]")).to_have_text("€20.00")
    expect(form.locator("[data-price-change]")).to_have_text(
        "Table is now €20.00 (was €15.00)."
    )
    # Taken off sale: not selectable any more (here nothing was chosen, so gone).
    expect(form.locator(f'[data-ticket-type="{standing.id}"]')).to_have_count(0)
    # Added: there, and can be chosen.
    balcony = page.get_by_label("How many Balcony tickets")
    expect(balcony).to_be_enabled()
    expect(form.get_by_text("10 left")).to_be_visible()
    # The customer's choice and what they typed are kept.
    expect(page.get_by_label("How many Table tickets")).to_have_value("1")
    expect(form.get_by_label("Your name")).to_have_value("Ana García")
    assert page.evaluate("window.notReloaded === true")

    balcony.select_option("1")
    expect(form.locator("[data-order-total]")).to_have_text("€32.00")


def test_a_chosen_type_taken_off_sale_is_said_and_left_out(
    open_page, asgi_server, open_mic
):
    event, _table, standing = open_mic
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    form = page.locator("[data-buy-form]")
    page.get_by_label("How many Standing tickets").select_option("2")
    expect(form.locator("[data-order-total]")).to_have_text("€20.00")

    edit(asgi_server, event, types=[{"id": standing.id, "is_active": False}])

    row = form.locator(f'[data-ticket-type="{standing.id}"]')
    expect(row.locator("[data-limit-note]")).to_have_text(
        "Standing is no longer on sale: it was taken out of your choice."
    )
    expect(page.get_by_label("How many Standing tickets")).to_be_disabled()
    expect(page.get_by_label("How many Standing tickets")).to_have_value("0")
    expect(row.locator("[data-available]")).to_have_text("No longer on sale")
    expect(form.locator("[data-order-total]")).to_have_text("€0.00")
    assert page.evaluate("window.notReloaded === true")


def test_the_marketing_event_page_follows_the_owners_edit(
    open_page, asgi_server, open_mic
):
    event, table, standing = open_mic
    page = open_page(f"{asgi_server.url}/events/{event.slug}/")
    expect(page.get_by_text("€15.00")).to_be_visible()

    rename_move_reprice_and_add_a_type(asgi_server, event, table, standing)

    expect(page.get_by_role("heading", level=1)).to_have_text("Open Mic Late")
    expect(page.locator(".event-date")).to_contain_text("23:00")
    row = page.locator(f'[data-ticket-type="{table.id}"]')
    expect(row.locator(".price-amount")).to_have_text("€20.00")
    expect(page.get_by_text("Standing")).to_have_count(0)
    expect(page.get_by_text("Balcony")).to_be_visible()
    assert page.evaluate("window.notReloaded === true")
