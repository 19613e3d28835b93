"""The payment page counts the hold down in a real browser, and says when it lapses."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Order
from core.services.checkout import place_order
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _pending_order() -> Order:
    event = EventFactory(name="Countdown Night", time_zone="Europe/Madrid")
    ga = TicketTypeFactory(event=event, name="GA")
    return place_order(
        event_id=event.id,
        quantities={ga.id: 1},
        customer_name="Ana",
        customer_email="ana@example.com",
    )


def test_the_payment_page_counts_the_hold_down(live_server, page, settings):
    order = _pending_order()
    page.goto(f"{live_server.url}/buy/o/{order.token}/test-payment/")
    clock = page.locator("[data-hold-clock]")
    clock.wait_for()
    assert re.fullmatch(r"1[45]:\d\d", clock.inner_text())
    sentence = page.locator("[data-hold-left]").inner_text()
    assert re.fullmatch(
        r"Your tickets are held for 1[45]:\d\d, until \d\d:\d\d\xa0CES?T\.", sentence
    )
    first = clock.inner_text()
    page.wait_for_function(
        "(first) => document.querySelector('[data-hold-clock]').textContent !== first",
        arg=first,
    )


def test_at_zero_the_page_says_the_hold_has_lapsed(live_server, page):
    order = _pending_order()
    Order.objects.filter(pk=order.pk).update(
        hold_expires_at=timezone.now() + timedelta(seconds=3)
    )
    page.goto(f"{live_server.url}/buy/o/{order.token}/test-payment/")
    lapsed = page.locator("[data-hold-lapsed]")
    assert page.locator("[data-hold-left]").is_visible()
    lapsed.wait_for(state="visible", timeout=8_000)
    assert not page.locator("[data-hold-left]").is_visible()
    assert "Your hold has ended" in lapsed.inner_text()
    assert page.get_by_role("link", name="Choose your tickets again").is_visible()
    announced = page.locator("[data-hold-announce]").inner_text()
    assert announced.startswith("Your hold has ended")


def test_a_page_reopened_offline_counts_on_the_phones_clock_and_ends_once(
    live_server, page
):
    """Offline, the page may be the saved copy, whose server time is that of
    the save: the phone's clock decides. A hold over at the first tick says
    so once, not again every second."""
    order = _pending_order()
    page.clock.install(time=timezone.now() + timedelta(minutes=20))
    page.add_init_script(
        """
        Object.defineProperty(navigator, "onLine", { get: () => false });
        window.announcements = 0;
        new MutationObserver((changes) => {
          const node = document.querySelector("[data-hold-announce]");
          if (node && changes.some((c) => node.contains(c.target))) window.announcements++;
        }).observe(document, { subtree: true, childList: true, characterData: true });
        """
    )
    page.goto(f"{live_server.url}/buy/o/{order.token}/test-payment/")
    page.locator("[data-hold-lapsed]").wait_for(state="visible")
    page.clock.run_for(5_000)
    assert page.evaluate("window.announcements") == 1


def test_the_saved_copy_served_online_counts_on_the_phones_clock(live_server, page):
    """The service worker also serves the saved copy on a slow or failing
    network, online: its note shown, the saved server time is not trusted."""
    order = _pending_order()
    url = f"{live_server.url}/buy/o/{order.token}/"

    def as_the_service_worker_serves_it(route):
        html = route.fetch().text()
        assert "data-saved-copy-note hidden" in html
        html = html.replace("data-saved-copy-note hidden", "data-saved-copy-note")
        route.fulfill(body=html, content_type="text/html; charset=utf-8")

    page.route(url, as_the_service_worker_serves_it)
    page.clock.install(time=timezone.now() + timedelta(minutes=20))
    page.goto(url)
    page.locator("[data-hold-lapsed]").wait_for(state="visible")


def _lapse_in_three_seconds(order: Order) -> None:
    Order.objects.filter(pk=order.pk).update(
        hold_expires_at=timezone.now() + timedelta(seconds=3)
    )


def test_at_zero_the_pay_button_turns_off(live_server, page):
    """Paying after the hold only gets "This hold has expired": the button
    goes off with the countdown, and the way back to the event is shown."""
    order = _pending_order()
    _lapse_in_three_seconds(order)
    page.goto(f"{live_server.url}/buy/o/{order.token}/test-payment/")
    pay = page.get_by_role("button", name=re.compile(r"^Pay .* \(simulated\)$"))
    assert pay.is_enabled()
    page.locator("[data-hold-lapsed]").wait_for(state="visible", timeout=8_000)
    assert pay.is_disabled()
    assert page.get_by_role("button", name="Cancel").is_enabled()
    assert page.get_by_role("link", name="Choose your tickets again").is_visible()


def test_at_zero_the_pending_orders_pay_link_turns_off(live_server, page):
    order = _pending_order()
    _lapse_in_three_seconds(order)
    page.goto(f"{live_server.url}/buy/o/{order.token}/")
    pay = page.locator("[data-hold-pay]")
    assert pay.get_attribute("href", timeout=2_000)
    page.locator("[data-hold-lapsed]").wait_for(state="visible", timeout=8_000)
    assert pay.get_attribute("href") is None
    assert pay.get_attribute("aria-disabled") == "true"
    pay.click(force=True)
    assert page.url == f"{live_server.url}/buy/o/{order.token}/"
