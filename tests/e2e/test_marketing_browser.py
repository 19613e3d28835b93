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


@pytest.mark.parametrize("site", ["marketing", "purchase"])
def test_the_whole_event_card_opens_the_event(live_server, page, site):
    page.set_viewport_size({"width": 390, "height": 844})
    event = EventFactory(name="Card Night", venue="Club Y")
    TicketTypeFactory(event=event, name="GA", price="15.00")
    page.goto(live_server.url + ("/" if site == "marketing" else "/buy/"))
    card = page.locator(f'[data-event-card="{event.id}"]')
    # A tap on the picture, not the title (force: the link's overlay is
    # what takes the tap, which Playwright's own check would refuse).
    card.locator(".event-card-image").click(position={"x": 10, "y": 10}, force=True)
    page.wait_for_url(f"**/events/{event.slug}/")
    page.go_back()
    card.locator(".event-venue").click(force=True)
    page.wait_for_url(f"**/events/{event.slug}/")
