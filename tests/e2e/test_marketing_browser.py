import pytest

from tests.factories import EventFactory, TicketTypeFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_browses_events_and_opens_one(live_server, page):
    event = EventFactory(name="Browser Night", venue="Club X", currency="eur")
    TicketTypeFactory(event=event, name="GA", price="15.00")

    page.goto(live_server.url + "/")
    assert page.get_by_role("heading", name="Upcoming events").is_visible()
    page.get_by_role("link", name="Browser Night").click()
    page.wait_for_url(f"**/events/{event.slug}/")
    assert page.get_by_role("heading", name="Browser Night").is_visible()
    assert page.get_by_text("€15.00").is_visible()
    buy = page.get_by_role("link", name="Buy tickets").last
    assert buy.get_attribute("href") == f"/buy/events/{event.slug}/"
