"""Ticket and order pages kept on the phone, for a venue with no signal.

The purchase service worker needs a real origin: a server on 127.0.0.1,
which browsers treat as secure. Playwright's offline mode does not reach
service workers (microsoft/playwright#2311: the worker's own requests still
go out), so losing signal here is the context going offline *and* the
server going away; regaining it starts the server again on the same port.
"""

import pytest

from core.models import Ticket
from core.services.orders import void_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QR_DRAWN = """() => {
  const path = document.querySelector("[data-ticket-qr] svg path");
  return path ? path.getBBox().width * path.getBoundingClientRect().width : 0;
}"""


@pytest.fixture
def standing(db):
    event = EventFactory(name="Basement Show", time_zone="Europe/Madrid")
    return TicketTypeFactory(event=event, name="Standing", capacity=50)


@pytest.fixture
def signal(asgi_server_factory):
    """A purchase site the phone can lose: `.url`, `.lose(page)`, `.regain(page)`."""

    class Signal:
        server = asgi_server_factory()

        @property
        def url(self) -> str:
            return self.server.url

        def lose(self, page) -> None:
            page.context.set_offline(True)
            self.server.stop()

        def regain(self, page) -> None:
            self.server = asgi_server_factory(port=self.server.port)
            page.context.set_offline(False)

    return Signal()


def open_and_keep(page, url):
    """Open a page online and wait until the phone has kept it."""
    page.goto(url)
    page.wait_for_selector("[data-saved-page][data-saved-offline='true']")


def test_a_ticket_opened_once_shows_offline_and_its_fresh_status_online(
    page, signal, standing
):
    ticket = make_paid_order(standing, 1, name="Ana García").tickets.get()
    someone_else = make_paid_order(standing, 1, name="Bo Other").tickets.get()
    url = f"{signal.url}/buy/t/{ticket.token}/"

    open_and_keep(page, url)
    assert page.locator("[data-saved-offline-line]").is_visible()
    assert page.locator("[data-saved-copy-note]").is_hidden()

    signal.lose(page)
    for reopen in (page.reload, lambda: page.goto(url)):
        reopen()
        note = page.locator("[data-saved-copy-note]")
        note.wait_for()
        assert note.inner_text().startswith(
            "Offline: showing this ticket as it was at "
        )
        assert note.inner_text().endswith("Its status may have changed.")
        assert page.get_by_text(ticket.code).is_visible()
        assert page.get_by_text("Ana García").is_visible()
        assert page.evaluate(QR_DRAWN) > 0, "the QR must be drawn offline"
        assert page.locator("[data-ticket-qr]").bounding_box()["width"] >= 300
        # Its stylesheet came from the phone too: the ticket's white page.
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(255, 255, 255)"

    # A ticket never opened on this phone: no copy, and never another's.
    page.goto(f"{signal.url}/buy/t/{someone_else.token}/")
    body = page.inner_text("body")
    assert "You're offline" in body and "no saved copy" in body
    assert ticket.code not in page.content()
    assert someone_else.code not in page.content()

    # Back online, the network comes first: the ticket was refunded since.
    signal.regain(page)
    void_order(order_id=ticket.order_id)
    page.goto(url)
    page.wait_for_selector("[data-ticket-status='void']")
    assert page.get_by_text("Void", exact=True).is_visible()
    assert page.locator("[data-saved-copy-note]").is_hidden()
    assert page.evaluate(QR_DRAWN) == 0

    # And that is the copy kept now.
    page.wait_for_selector("[data-saved-offline='true']")
    signal.lose(page)
    page.reload()
    page.locator("[data-saved-copy-note]").wait_for()
    assert page.locator("[data-ticket-status='void']").count() == 1


def test_an_order_page_opened_once_shows_offline_with_its_tickets(
    page, signal, standing
):
    order = make_paid_order(standing, 2, name="Ana García")
    url = f"{signal.url}/buy/o/{order.token}/"
    open_and_keep(page, url)

    signal.lose(page)
    page.reload()
    note = page.locator("[data-saved-copy-note]")
    note.wait_for()
    assert note.inner_text().startswith("Offline: showing this order as it was at ")
    assert page.locator(".ticket-item .qr-small svg").count() == 2
    for ticket in order.tickets.all():
        assert page.get_by_text(ticket.code).is_visible()


def test_a_paid_order_opened_once_keeps_its_tickets_too(page, signal, standing):
    """The order page says it is saved on this device: so are the tickets it
    links to, though none was opened."""
    order = make_paid_order(standing, 2, name="Ana García")
    second = order.tickets.order_by("created_at")[1]
    open_and_keep(page, f"{signal.url}/buy/o/{order.token}/")
    assert page.locator("[data-saved-offline-line]").is_visible()

    signal.lose(page)
    page.goto(f"{signal.url}/buy/t/{second.token}/")
    page.locator("[data-saved-copy-note]").wait_for()
    assert page.get_by_text(second.code).is_visible()
    assert page.evaluate(QR_DRAWN) > 0, "the QR must be drawn offline"


def test_a_ticket_that_is_gone_loses_its_copy(page, signal, standing):
    ticket = make_paid_order(standing, 1).tickets.get()
    url = f"{signal.url}/buy/t/{ticket.token}/"
    open_and_keep(page, url)

    Ticket.objects.filter(pk=ticket.pk).delete()
    assert page.goto(url).status == 404

    signal.lose(page)
    page.reload()
    assert "You're offline" in page.inner_text("body")
    assert ticket.code not in page.content()


def test_only_the_latest_twenty_pages_are_kept(page, live_server, standing):
    standing.max_per_order = 22
    standing.save(update_fields=["max_per_order"])
    tickets = list(make_paid_order(standing, 22).tickets.order_by("created_at"))
    open_and_keep(page, f"{live_server.url}/buy/t/{tickets[0].token}/")
    for ticket in tickets[1:]:
        saved = page.evaluate(
            """(url) => new Promise((resolve) => {
                const channel = new MessageChannel();
                channel.port1.onmessage = (event) => resolve(event.data.saved);
                navigator.serviceWorker.controller.postMessage(
                    {type: "save-page", url}, [channel.port2]);
            })""",
            f"/buy/t/{ticket.token}/",
        )
        assert saved
    kept = page.evaluate(
        """async () => {
            const pages = await caches.open("nightpass-saved-pages");
            return (await pages.keys()).map((request) => new URL(request.url).pathname);
        }"""
    )
    assert sorted(kept) == sorted(f"/buy/t/{t.token}/" for t in tickets[2:])
    # Nothing but these pages and the files they use is kept.
    names = page.evaluate("caches.keys()")
    assert sorted(names) == ["nightpass-saved-assets", "nightpass-saved-pages"]
