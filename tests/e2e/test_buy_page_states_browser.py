"""The buy page on a phone when the event is not simply on sale: taken off
sale while a buyer fills the form, not on sale yet, every seat held."""

import pytest
from playwright.sync_api import expect

from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


@pytest.fixture
def open_page(browser, transactional_db):
    """`open_page(url)`: a phone-sized page in its own context, live already.

    Contexts close before the test's database is emptied (set up after
    transactional_db, so torn down before it).
    """
    contexts = []

    def open_(url):
        context = browser.new_context(viewport={"width": 390, "height": 844})
        contexts.append(context)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        page.goto(url)
        expect(page.locator("[data-live-indicator]")).to_have_attribute(
            "data-state", "live"
        )
        page.evaluate("window.notReloaded = true")
        return page

    yield open_
    for context in contexts:
        context.close()


def test_an_event_taken_off_sale_says_so_and_stops_the_form_keeping_what_was_typed(
    open_page, asgi_server
):
    event = EventFactory(name="Pulled Night")
    TicketTypeFactory(event=event, name="GA", capacity=20)
    page = open_page(f"{asgi_server.url}/buy/events/{event.slug}/")
    form = page.locator("[data-buy-form]")
    notice = page.get_by_text("This event is no longer on sale")
    expect(notice).to_be_hidden()
    page.get_by_label("How many GA tickets").select_option("2")
    form.get_by_label("Your name").fill("Ana García")

    event.is_active = False
    event.save(update_fields=["is_active"])
    asgi_server.run(
        "announce_event_changed", event_id=str(event.id), change="deactivated"
    )

    expect(notice).to_be_visible()
    expect(form.get_by_label("Your name")).to_be_disabled()
    expect(form.get_by_label("Your name")).to_have_value("Ana García")
    expect(form.get_by_label("Email")).to_be_disabled()
    expect(page.get_by_label("How many GA tickets")).to_be_disabled()
    expect(page.get_by_role("button", name="Continue to payment")).to_be_disabled()
    assert page.evaluate("window.notReloaded === true")

    # Back on sale: the form works again, what was typed still there.
    event.is_active = True
    event.save(update_fields=["is_active"])
    asgi_server.run(
        "announce_event_changed", event_id=str(event.id), change="activated"
    )
    expect(notice).to_be_hidden()
    expect(form.get_by_label("Your name")).to_be_enabled()
    expect(form.get_by_label("Your name")).to_have_value("Ana García")
    expect(page.get_by_label("How many GA tickets")).to_be_enabled()
    expect(page.get_by_role("button", name="Continue to payment")).to_be_enabled()
