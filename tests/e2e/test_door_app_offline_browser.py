"""The installed door app reopened with no network, in real Chromium.

The app opens on the door's event list (the manifest's start_url): that page
is kept for offline use as the event pages are, and a door page this phone
never kept offers the ones it has instead of a dead end.

Playwright's offline mode does not reach service workers
(microsoft/playwright#2311), so no network here is the context offline *and*
the server stopped.
"""

import pytest

from tests.e2e import test_door_browser as door

door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEVER_KEPT = "/scanner/door/00000000-0000-4000-8000-000000000000/"


def test_the_door_app_opens_on_its_event_list_with_no_network(
    browser, asgi_server_factory, door_ticket
):
    server = asgi_server_factory()
    context = door.signed_in_door_context(browser, server.url, username="doorapp")
    page = context.new_page()
    page.goto(f"{server.url}/scanner/door/")
    page.wait_for_selector("html[data-page-kept='true']")
    page.click("text=Camera Night")
    page.wait_for_selector("[data-door][data-ready='true'][data-page-kept='true']")

    context.set_offline(True)
    server.stop()
    page.goto(f"{server.url}/scanner/door/")  # the app's start_url
    assert "Choose the event you are scanning for" in page.inner_text("body")
    assert (
        page.evaluate("getComputedStyle(document.body).backgroundColor")
        != "rgba(0, 0, 0, 0)"
    ), "the list keeps its styles offline"
    # The staff site's own styles too (console.css), not just the shared ones.
    assert page.evaluate(
        "getComputedStyle(document.querySelector("
        "'.site-nav a[aria-current=\"page\"]')).boxShadow"
    ) not in ("", "none")
    page.click("text=Camera Night")
    page.wait_for_selector("[data-door][data-ready='true']")
    page.wait_for_selector("[data-network][data-state='offline']")
    context.close()


def test_a_door_page_never_kept_offers_the_pages_this_phone_has(
    browser, asgi_server_factory, door_ticket
):
    server = asgi_server_factory()
    context = door.signed_in_door_context(browser, server.url, username="doorlost")
    page = context.new_page()
    page.goto(f"{server.url}/scanner/door/{door_ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true'][data-page-kept='true']")

    context.set_offline(True)
    server.stop()
    page.goto(f"{server.url}{NEVER_KEPT}")
    page.wait_for_selector("body[data-not-kept]")
    body = page.inner_text("body")
    assert "isn't saved on this phone" in body
    assert "never opened" not in body
    page.click("text=Door · Camera Night")
    page.wait_for_selector("[data-door][data-ready='true']")
    assert "Camera Night" in page.inner_text("body")
    context.close()
