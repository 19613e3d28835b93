"""Signing out of a door phone forgets the door on it, in real Chromium.

A door phone is often a volunteer's own: once its staff member signs out, the
guest list (names of every ticket holder), the kept door pages and the door's
service worker must not stay behind. Offline admits not uploaded yet are the
night's record of who came in, so they are never dropped without asking, and
with no network the phone stays as it was (still signed in, still able to
scan offline).
"""

import pytest

from tests.e2e import test_door_browser as door

door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WHAT_THE_DOOR_KEEPS = """async () => {
    const names = (await indexedDB.databases()).map((db) => db.name);
    return {
        guestList: names.includes("nightpass-door"),
        pages: (await caches.keys()).filter((key) => key.startsWith("nightpass-door-")).length,
        workers: (await navigator.serviceWorker.getRegistrations())
            .map((registration) => new URL(registration.scope).pathname),
    };
}"""

NOTHING = {"guestList": False, "pages": 0, "workers": []}


def door_phone(browser, server, event_id, *, username: str):
    """A phone that opened the door page for `event_id`, back on the event list."""
    context = door.signed_in_door_context(browser, server.url, username=username)
    page = context.new_page()
    page.goto(f"{server.url}/scanner/door/{event_id}/")
    page.wait_for_selector(
        "[data-door][data-states-ready='true'][data-page-kept='true']"
    )
    page.goto(f"{server.url}/scanner/door/")
    kept = page.evaluate(WHAT_THE_DOOR_KEEPS)
    assert kept["guestList"] and kept["pages"] and kept["workers"] == ["/scanner/door/"]
    return page


def admit_offline_not_uploaded(page, ticket) -> None:
    """An offline admit waiting on this phone, as door.js records one."""
    page.evaluate(
        """async ([event, code]) => {
            const offline = await import("/static/js/door-offline.js");
            await offline.recordOfflineAdmit({
                nonce: "signout-test-admit", event, code, ticketCode: code,
                at: new Date().toISOString(), device: "Side door",
            });
        }""",
        [str(ticket.event_id), ticket.code],
    )


def signed_in(page, server) -> bool:
    response = page.request.get(f"{server.url}/scanner/door/", max_redirects=0)
    return response.status == 200


def test_signing_out_forgets_the_guest_list_and_kept_pages(
    browser, asgi_server_factory, door_ticket
):
    server = asgi_server_factory()
    page = door_phone(browser, server, door_ticket.event_id, username="doorleaves")

    page.click("text=Sign out")
    page.wait_for_url("**/scanner/login/**")
    assert page.evaluate(WHAT_THE_DOOR_KEEPS) == NOTHING
    assert not signed_in(page, server)
    page.context.close()


def test_offline_admits_not_uploaded_are_never_dropped_without_asking(
    browser, asgi_server_factory, door_ticket
):
    server = asgi_server_factory()
    page = door_phone(browser, server, door_ticket.event_id, username="doorasks")
    admit_offline_not_uploaded(page, door_ticket)
    asked = []

    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("text=Sign out")
    page.wait_for_function(
        "() => !document.querySelector('[data-sign-out][aria-busy]')"
    )
    assert len(asked) == 1
    assert "1 guest let in offline on this phone" in asked[0]
    assert "open the door page with network" in asked[0]
    assert signed_in(page, server), "cancelled: still signed in"
    assert page.evaluate(WHAT_THE_DOOR_KEEPS)["guestList"]
    assert "/scanner/door/" in page.url

    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("text=Sign out")
    page.wait_for_url("**/scanner/login/**")
    assert len(asked) == 2
    assert page.evaluate(WHAT_THE_DOOR_KEEPS) == NOTHING
    page.context.close()


def test_with_no_network_signing_out_keeps_the_phone_ready_to_scan_offline(
    browser, asgi_server_factory, door_ticket
):
    server = asgi_server_factory()
    page = door_phone(browser, server, door_ticket.event_id, username="doorstays")
    told = []
    page.context.set_offline(True)

    page.once("dialog", lambda dialog: (told.append(dialog.message), dialog.accept()))
    page.click("text=Sign out")
    page.wait_for_function(
        "() => !document.querySelector('[data-sign-out][aria-busy]')"
    )
    assert len(told) == 1 and "No network" in told[0]
    assert "still signed in" in told[0]
    kept = page.evaluate(WHAT_THE_DOOR_KEEPS)
    assert kept["guestList"] and kept["pages"] and kept["workers"]
    page.context.set_offline(False)
    assert signed_in(page, server)
    page.context.close()


def test_when_the_phone_cannot_tell_what_waits_it_asks_too(
    browser, asgi_server_factory, door_ticket
):
    server = asgi_server_factory()
    page = door_phone(browser, server, door_ticket.event_id, username="doorunsure")
    page.evaluate(
        "() => { indexedDB.databases = () => Promise.reject(new Error('busy')); }"
    )
    asked = []

    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("text=Sign out")
    page.wait_for_function(
        "() => !document.querySelector('[data-sign-out][aria-busy]')"
    )

    assert len(asked) == 1 and "could not check" in asked[0]
    assert signed_in(page, server)
    page.context.close()
