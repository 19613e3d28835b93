"""A code typed by hand offline that this phone cannot find, in real Chromium:
said as what it is (not on this event's list, or no list on the phone yet),
not as a typo to fix, which staff would retype in vain."""

import pytest

from tests.e2e import test_door_browser as door
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

door_ticket = door.door_ticket
door_page = door.door_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLEAR_THE_LIST = """async () => {
    const db = await new Promise((resolve, reject) => {
        const request = indexedDB.open("nightpass-door");
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    await new Promise((resolve) => {
        const tx = db.transaction("tickets", "readwrite");
        tx.objectStore("tickets").clear();
        tx.oncomplete = resolve;
    });
    db.close();
}"""


def test_offline_another_events_real_code_is_not_blamed_on_the_typing(
    door_page, door_ticket
):
    elsewhere = TicketTypeFactory(event=EventFactory(name="Other Night"))
    other = make_paid_order(elsewhere).tickets.get()
    door.go_offline(door_page)

    text = door.type_code(door_page, other.code, expect="unknown")

    assert f"Can't check {other.code} offline — it's not on this event's list." in text
    assert "check the code" not in text and "No ticket with code" not in text


def test_offline_with_no_list_on_the_phone_a_typed_code_says_so(door_page, door_ticket):
    door.go_offline(door_page)
    door_page.evaluate(CLEAR_THE_LIST)

    text = door.type_code(door_page, door_ticket.code, expect="unknown")

    assert (
        f"This phone has no ticket list yet, so {door_ticket.code} can't be checked"
        " offline — wait for the network." in text
    )
    assert "check the code" not in text and "No ticket with code" not in text
