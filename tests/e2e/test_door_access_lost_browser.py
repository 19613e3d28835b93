"""Losing access at the door is said at once, in real Chromium: signed out in
another tab, or moved to another event by the owner, the door's bar says so
the moment the live feed closes for good, not at the next guest's scan."""

import pytest

from tests.e2e import test_door_browser as door
from tests.e2e.test_door_cancelled_browser import open_live_door_page
from tests.factories import EventFactory

door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def network_bar(page):
    return page.locator("[data-network]")


def test_signing_out_in_another_tab_is_said_in_the_bar_at_once(
    browser, asgi_server, door_ticket
):
    context, page = open_live_door_page(
        browser, asgi_server, door_ticket, username="doortabs"
    )
    assert network_bar(page).get_attribute("data-state") == "online"

    other_tab = context.new_page()
    other_tab.goto(f"{asgi_server.url}/scanner/door/")
    other_tab.click("text=Sign out")
    other_tab.wait_for_url("**/scanner/login/**")

    page.wait_for_selector("[data-network][data-state='signed-out']", timeout=8_000)
    assert "Signed out — sign in again" in network_bar(page).inner_text()
    assert "Online" not in network_bar(page).inner_text()
    link = page.locator("[data-network] a")
    assert link.inner_text() == "Sign in again"
    assert "/scanner/login/" in link.get_attribute("href")
    context.close()


def test_door_staff_moved_to_another_event_are_told_at_once(
    browser, asgi_server, door_ticket
):
    context, page = open_live_door_page(
        browser, asgi_server, door_ticket, username="doormoved"
    )
    elsewhere = EventFactory(name="Elsewhere")

    asgi_server.run("move_door_staff", username="doormoved", event_id=str(elsewhere.pk))

    page.wait_for_selector("[data-network][data-state='no-access']", timeout=8_000)
    text = network_bar(page).inner_text()
    assert "You're no longer on this event's door" in text
    assert "Online" not in text
    link = page.locator("[data-network] a")
    assert link.inner_text() == "Your events"
    link.click()
    page.wait_for_url(f"{asgi_server.url}/scanner/door/")
    assert "Elsewhere" in page.inner_text("body")
    context.close()
