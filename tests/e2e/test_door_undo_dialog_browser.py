"""The undo dialog with no reason given, in real Chromium: the page's own
message ("Say why the admit is undone."), tied to the field for screen
readers, not the browser's "Please fill out this field." bubble."""

import pytest

from core.models import Ticket
from tests.e2e import test_door_browser as door

door_ticket = door.door_ticket
door_page = door.door_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_undo_without_a_reason_says_why_in_the_pages_words(door_page, door_ticket):
    door.type_code(door_page, door_ticket.code, expect="ok")
    door_page.click("[data-verdict-undo]")
    dialog = door_page.locator("[data-undo-dialog]")
    dialog.wait_for(state="visible")

    door_page.click("[data-undo-confirm]")

    error = door_page.locator("[data-undo-error]")
    error.wait_for(state="visible")
    assert error.inner_text() == "Say why the admit is undone."
    reason = door_page.locator("[data-undo-reason]")
    assert reason.get_attribute("aria-invalid") == "true"
    assert error.get_attribute("id") in reason.get_attribute("aria-describedby")
    assert reason.evaluate("el => el === document.activeElement")
    assert dialog.is_visible()
    door_ticket.refresh_from_db()
    assert door_ticket.status == Ticket.Status.USED

    door_page.fill("[data-undo-reason]", "Wrong wristband")
    door_page.click("[data-undo-confirm]")
    door_page.wait_for_selector("[data-verdict][data-code='undone']:not([hidden])")
    assert reason.get_attribute("aria-invalid") is None
