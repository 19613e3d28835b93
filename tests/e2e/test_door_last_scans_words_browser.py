"""What "Last scans" says of a scan that names no guest, in real Chromium: what
happened in plain words, never "Unknown code" for a real ticket's refusal
or "Not a valid ticket" for one the phone only could not check offline."""

import pytest

from tests.e2e import test_door_browser as door

door_ticket = door.door_ticket
door_page = door.door_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def nameless(door_ticket, **fields) -> dict:
    return door.scan_by_zed_at_door_3(
        door_ticket, ticket_code="", guest_name="", ticket_type="", **fields
    )


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        (
            {
                "code": "already_used",
                "verdict": "reject",
                "offline": True,
                "message": "This ticket was already used.",
            },
            "Ticket already used",
        ),
        (
            {
                "code": "void",
                "verdict": "reject",
                "message": "This ticket was refunded or cancelled.",
            },
            "Void ticket",
        ),
        (
            {
                "code": "invalid",
                "verdict": "attention",
                "offline": True,
                "message": "Not let in: the door phone could not check its"
                " signature offline.",
            },
            "Checked offline",
        ),
    ],
)
def test_a_scan_naming_no_guest_says_what_it_was(door_page, door_ticket, fields, label):
    door.push_scans_from_another_door(door_page, nameless(door_ticket, **fields))

    item = door_page.locator("[data-recent] li").first
    assert item.locator(".door-recent-what").inner_text() == label
    assert fields["message"] in item.inner_text()
    assert "Unknown code" not in item.inner_text()
