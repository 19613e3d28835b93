"""A "Continue to payment" button that cannot be pressed looks it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.browser


def button_look(page) -> dict:
    return page.get_by_role("button", name="Continue to payment").evaluate(
        """(el) => { const style = getComputedStyle(el);
            return {opacity: Number(style.opacity), cursor: style.cursor}; }"""
    )


def test_a_disabled_continue_button_looks_disabled(page, asgi_server, transactional_db):
    on_sale = EventFactory(name="On Sale")
    TicketTypeFactory(event=on_sale, name="GA")
    closed = EventFactory(name="Closed Early")
    TicketTypeFactory(
        event=closed, name="GA", sales_end_at=timezone.now() - timedelta(hours=1)
    )

    page.goto(f"{asgi_server.url}/buy/events/{on_sale.slug}/")
    expect(page.get_by_role("button", name="Continue to payment")).to_be_enabled()
    enabled = button_look(page)

    page.goto(f"{asgi_server.url}/buy/events/{closed.slug}/")
    expect(page.get_by_role("button", name="Continue to payment")).to_be_disabled()
    disabled = button_look(page)

    assert enabled == {"opacity": 1, "cursor": "pointer"}
    assert disabled["opacity"] <= 0.5
    assert disabled["cursor"] == "not-allowed"
