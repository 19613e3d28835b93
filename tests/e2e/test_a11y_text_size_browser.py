"""Text follows the browser's font-size setting (WCAG 1.4.4 Resize text), and
bigger text does not make pages scroll sideways (1.4.10 Reflow).

Chromium is started with a profile whose default font size is 32 px (what
a low-vision reader sets under Settings > Appearance > Font size), as the
accessibility review did: every text on the page must grow with it, not
only the headings sized in rem.
"""

import json

import pytest
from django.urls import reverse

from core.services.waitlist import join_waitlist
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_paid_order,
    make_staff,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def big_text_context(browser, tmp_path):
    """A Chromium profile whose default font size is 32 px (twice the usual)."""
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    preferences = {"webkit": {"webprefs": {"default_font_size": 32}}}
    (profile / "Default" / "Preferences").write_text(json.dumps(preferences))
    # The session's Playwright (one per thread) starts the second Chromium.
    context = browser.browser_type.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 390, "height": 844},
        device_scale_factor=1,
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _sign_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/scanner/login/")
    page.get_by_label("Username or email").fill("boss")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/scanner/")


def _font_size(locator) -> float:
    return float(
        locator.evaluate("node => getComputedStyle(node).fontSize").removesuffix("px")
    )


def test_the_browsers_font_size_setting_doubles_labels_inputs_and_prices(
    live_server, big_text_context
):
    make_staff("owner", username="boss")
    event = EventFactory(name="Perreo Fridays")
    TicketTypeFactory(event=event, name="General Admission")
    page = big_text_context.new_page()

    page.goto(f"{live_server.url}/scanner/login/")
    assert _font_size(page.locator("html")) == 32  # the setting took
    assert _font_size(page.locator("label[for=id_username]")) == 32
    assert _font_size(page.locator("#id_username")) == 32
    assert _font_size(page.get_by_role("link", name="Forgot your password?")) == 32

    page.goto(f"{live_server.url}/buy/events/{event.slug}/")
    assert _font_size(page.locator(".price-name").first) == 32
    assert _font_size(page.locator(".price-amount").first) == 32

    _sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/scanner/events/{event.id}/")
    assert _font_size(page.locator("code", has_text=event.slug)) == 32


def test_at_the_usual_setting_text_stays_16px_code_included(live_server, page):
    make_staff("owner", username="boss")
    event = EventFactory(name="Perreo Fridays")
    TicketTypeFactory(event=event, name="General Admission")

    _sign_in(page, live_server.url)
    assert _font_size(page.locator("body")) == 16
    page.goto(f"{live_server.url}/scanner/events/{event.id}/")
    assert _font_size(page.locator("code", has_text=event.slug)) == 16


def test_console_tables_stack_rather_than_widen_a_1024px_window_at_double_text(
    live_server, big_text_context
):
    make_staff("owner", username="boss")
    event = EventFactory(name="Perreo Fridays", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="General Admission", capacity=2)
    make_paid_order(seat, 2, name="Ana Ruiz", email="ana.ruiz@example.com")
    for name in ("Luis Gomez", "Marta Sanz"):
        join_waitlist(
            event_id=event.id,
            ticket_type_id=None,
            name=name,
            email=f"{name.split()[0].lower()}@example.com",
            phone="+34600000000",
            quantity=1,
        )
    page = big_text_context.new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    _sign_in(page, live_server.url)

    for url in (
        reverse("scanner:event_waitlist", args=[event.id]),
        reverse("scanner:orders"),
        reverse("scanner:analytics"),
    ):
        page.goto(live_server.url + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 1024, url
        assert page.locator("table.stack thead").first.is_hidden(), url
    # Analytics' own stacked layout follows too: row headers on a line of
    # their own, as on a phone.
    page.goto(live_server.url + reverse("scanner:analytics_event", args=[event.id]))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    row_header = page.locator('table.stack th[scope="row"]').first
    assert row_header.evaluate("node => getComputedStyle(node).display") == "block"
