"""Door pages reopened with no network say they are old copies, in real
Chromium: the event list's and the door page's figures are "as of" when
they were last had, and the door page shows the last scans it had then.

Playwright's offline mode does not reach service workers
(microsoft/playwright#2311), so no network here is the context offline *and*
the server stopped.
"""

import re

import pytest

from tests.e2e import test_door_browser as door

door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AS_OF = re.compile(r"Offline — figures as of \d\d:\d\d")


def test_the_event_list_reopened_offline_says_its_figures_are_old(
    browser, asgi_server_factory, door_ticket
):
    server = asgi_server_factory()
    context = door.signed_in_door_context(browser, server.url, username="doorold")
    page = context.new_page()
    page.goto(f"{server.url}/scanner/door/")
    page.wait_for_selector("html[data-page-kept='true']")
    assert page.locator("[data-as-of]").is_hidden()

    context.set_offline(True)
    server.stop()
    page.goto(f"{server.url}/scanner/door/")

    note = page.locator("[data-as-of]")
    note.wait_for(state="visible")
    assert AS_OF.search(note.inner_text())
    assert "0 checked in" in page.inner_text("body")
    context.close()


def test_a_door_page_reopened_offline_shows_its_last_scans_as_of_then(
    browser, asgi_server_factory, door_ticket
):
    server = asgi_server_factory()
    context = door.signed_in_door_context(browser, server.url, username="doorlate")
    page = context.new_page()
    page.goto(f"{server.url}/scanner/door/{door_ticket.event_id}/")
    page.wait_for_selector("[data-door][data-ready='true'][data-page-kept='true']")
    door.type_code(page, door_ticket.code, expect="ok")
    page.wait_for_selector("[data-verdict]", state="hidden")
    page.wait_for_function(
        "() => document.querySelector('[data-total-checked-in]').textContent === '1'"
    )
    page.evaluate("() => document.dispatchEvent(new CustomEvent('live:resync'))")
    page.wait_for_timeout(500)  # the snapshot after the admit, kept

    context.set_offline(True)
    server.stop()
    page.reload()
    page.wait_for_selector("[data-door][data-ready='true']")

    page.wait_for_selector("[data-network][data-state='offline']")
    notes = page.locator("[data-as-of]")
    assert notes.count() >= 1
    for note in notes.all():
        assert note.is_visible() and AS_OF.search(note.inner_text())
    recent = page.locator("[data-recent] li")
    assert recent.count() == 1 and "Ana García" in recent.first.inner_text()
    assert page.locator("[data-total-checked-in]").first.inner_text() == "1"
    context.close()
