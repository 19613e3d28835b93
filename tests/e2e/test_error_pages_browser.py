"""Error pages on a phone (390 px): in their site's layout, nothing wider than
the screen, and the way back works. Screenshots go to the test's tmp_path."""

import pytest

from tests.factories import EventFactory, TicketTypeFactory, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fits_the_phone(page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def _sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/scanner/login/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def _fill_the_buy_form(page) -> None:
    page.get_by_label("How many GA tickets").select_option("2")
    form = page.locator("[data-buy-form]")
    form.get_by_label("Your name").fill("Ana García")
    form.get_by_label("Email").fill("ana@example.com")


def test_a_buyer_whose_cookies_were_cleared_gets_back_to_the_event_and_buys(
    live_server, page, tmp_path
):
    event = EventFactory(name="Cookie Night")
    TicketTypeFactory(event=event, name="GA", capacity=50)
    page.goto(f"{live_server.url}/buy/events/{event.slug}/")
    _fill_the_buy_form(page)
    page.context.clear_cookies()

    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="Continue to payment").click()
    assert refused.value.status == 403
    page.get_by_role("heading", name="Please try again").wait_for()
    assert page.get_by_text("your browser blocked cookies").is_visible()
    assert page.get_by_role("link", name="Buy tickets").is_visible()  # customer menu
    assert _fits_the_phone(page)
    page.screenshot(path=tmp_path / "csrf-buy-form.png", full_page=True)

    page.get_by_role("link", name="Back to the event").click()
    page.wait_for_url(f"**/buy/events/{event.slug}/")
    _fill_the_buy_form(page)
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url("**/test-payment/")


def test_door_staff_refused_analytics_see_the_staff_page_and_go_to_the_door(
    live_server, page, tmp_path
):
    make_staff("door", username="doorkeeper")
    _sign_in(page, live_server.url, "doorkeeper")

    response = page.goto(f"{live_server.url}/scanner/analytics/")
    assert response.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Door").is_visible()
    assert nav.get_by_role("link", name="Buy tickets").count() == 0
    assert page.get_by_text("Tickets are delivered by email").count() == 0
    assert _fits_the_phone(page)
    page.screenshot(path=tmp_path / "staff-403.png", full_page=True)

    response = page.goto(f"{live_server.url}/scanner/no-such-page/")
    assert response.status == 404
    assert page.get_by_role("heading", name="We can't find that page").is_visible()
    assert _fits_the_phone(page)
    page.screenshot(path=tmp_path / "staff-404.png", full_page=True)

    page.get_by_role("link", name="Go to the Door").click()
    page.wait_for_url("**/scanner/door/**")


def test_customer_404_and_500_pages_fit_a_phone(live_server, page, settings, tmp_path):
    response = page.goto(f"{live_server.url}/buy/events/no-such-event/")
    assert response.status == 404
    assert page.get_by_role("heading", name="This event isn't on sale").is_visible()
    assert _fits_the_phone(page)
    page.screenshot(path=tmp_path / "event-404.png", full_page=True)

    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response.status == 404
    assert page.get_by_role("heading", name="We can't find that page").is_visible()
    page.screenshot(path=tmp_path / "customer-404.png", full_page=True)

    settings.ROOT_URLCONF = "tests.test_error_pages"  # adds views that raise
    response = page.goto(f"{live_server.url}/buy/boom/")
    assert response.status == 500
    assert page.get_by_role("heading", name="Something went wrong").is_visible()
    assert _fits_the_phone(page)
    page.screenshot(path=tmp_path / "customer-500.png", full_page=True)
    page.get_by_role("link", name="Go to the home page").click()
    page.wait_for_url(f"{live_server.url}/buy/")
