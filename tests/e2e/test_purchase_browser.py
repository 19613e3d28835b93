import re
from decimal import Decimal

import pytest
from django.core import mail

from core.models import Order
from core.notify.delivery import send_due_messages
from core.services.checkout import place_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_buyer_pays_opens_the_email_and_shows_a_ticket(live_server, page, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    event = EventFactory(name="Browser Rush", venue="Club X", currency="eur")
    TicketTypeFactory(event=event, name="GA", price=Decimal("15.00"), capacity=50)

    page.goto(f"{live_server.url}/buy/events/{event.slug}/")
    page.get_by_label("How many GA tickets").select_option("2")
    assert page.locator("[data-order-total]").inner_text() == "€30.00"
    buy_form = page.locator("[data-buy-form]")
    buy_form.get_by_label("Your name").fill("Ana García")
    buy_form.get_by_label("Email").fill("ana@example.com")
    page.get_by_role("button", name="Continue to payment").click()

    page.wait_for_url("**/test-payment/")
    assert page.get_by_text("TEST PAYMENT").is_visible()
    page.get_by_role("button", name=re.compile(r"Pay .* \(simulated\)")).click()
    page.wait_for_url("**/done/")
    assert page.get_by_role("heading", name="You're in!").is_visible()

    # The worker's send function, run here; the locmem mailbox is the inbox.
    assert send_due_messages().sent == 1
    (email,) = mail.outbox
    assert email.to == ["ana@example.com"]
    links = re.findall(rf"{re.escape(live_server.url)}/buy/t/[\w-]+/", email.body)
    order = Order.objects.get()
    assert len(links) == 2 == order.tickets.count()

    page.goto(links[0])
    qr = page.locator("[data-ticket-qr] svg")
    qr.wait_for()
    box = qr.bounding_box()
    assert box["width"] >= 300, "the QR must be large on a phone"
    assert page.get_by_text("Valid", exact=True).is_visible()
    assert page.get_by_role("heading", name="Browser Rush").is_visible()
    assert page.get_by_text("Ana García").is_visible()


def test_quantity_limits_follow_live_availability(live_server, page):
    event = EventFactory(name="Live Limits")
    ga = TicketTypeFactory(event=event, name="GA", capacity=8, max_per_order=6)
    page.goto(f"{live_server.url}/buy/events/{event.slug}/")
    select = page.get_by_label("How many GA tickets")
    select.select_option("5")
    # What live.js dispatches after a push: only 3 are left now.
    page.evaluate(
        """(id) => document.dispatchEvent(new CustomEvent("availability:update", {
            detail: {availability: [{id, available: 3, max_per_order: 6, on_sale: true}]}
        }))""",
        ga.id,
    )
    assert select.input_value() == "3"
    assert select.locator("option").count() == 4
    assert page.locator("[data-limit-note]", has_text="Only 3 left now").is_visible()
    page.evaluate(
        """(id) => document.dispatchEvent(new CustomEvent("availability:update", {
            detail: {availability: [{id, available: 0, max_per_order: 6, on_sale: true}]}
        }))""",
        ga.id,
    )
    assert select.is_disabled()
    assert page.get_by_role("button", name="Continue to payment").is_disabled()


LIVE_UPDATE = """([id, available]) => document.dispatchEvent(
    new CustomEvent("availability:update", {detail: {availability: [
        {id, available, max_per_order: 6, on_sale: true, sold_out: available <= 0}
    ]}}))"""


def test_lowered_choice_note_stays_until_the_customer_changes_it(live_server, page):
    event = EventFactory(name="Note Stays")
    ga = TicketTypeFactory(event=event, name="GA", capacity=8, max_per_order=6)
    page.goto(f"{live_server.url}/buy/events/{event.slug}/")
    select = page.get_by_label("How many GA tickets")
    select.select_option("5")
    note = page.locator(f'[data-ticket-type="{ga.id}"] [data-limit-note]')

    page.evaluate(LIVE_UPDATE, [ga.id, 2])
    assert note.inner_text() == "Only 2 left now; your choice was lowered to 2."
    # The next push changes nothing for this row: the note must still be read.
    page.evaluate(LIVE_UPDATE, [ga.id, 2])
    page.evaluate(LIVE_UPDATE, [ga.id, 3])
    assert note.is_visible()
    assert "Only 2 left now" in note.inner_text()

    select.select_option("1")
    assert note.is_hidden()

    page.evaluate(LIVE_UPDATE, [ga.id, 0])
    assert note.inner_text() == "These just sold out."
    page.evaluate(LIVE_UPDATE, [ga.id, 0])
    assert note.is_visible()
    assert note.inner_text() == "These just sold out."


def test_refused_details_are_summarised_in_view_at_the_top_of_the_form(
    live_server, page
):
    page.set_viewport_size({"width": 390, "height": 844})
    event = EventFactory(name="Long Read", description="A night to remember.\n" * 40)
    TicketTypeFactory(event=event, name="GA", capacity=50)
    page.goto(f"{live_server.url}/buy/events/{event.slug}/")
    page.get_by_label("How many GA tickets").select_option("1")
    buy_form = page.locator("[data-buy-form]")
    buy_form.get_by_label("Your name").fill("Ana")
    # Passes the browser's check, not the server's.
    buy_form.get_by_label("Email").fill("ana@example")
    page.get_by_role("button", name="Continue to payment").click()

    summary = page.locator("[data-error-summary]")
    summary.wait_for()
    assert page.evaluate("document.activeElement.matches('[data-error-summary]')")
    box = summary.bounding_box()
    assert box["y"] >= 0, box
    assert box["y"] + box["height"] <= 844, box
    # It comes before the ticket choices, and its link leads to the field.
    assert page.evaluate(
        """() => {
            const summary = document.querySelector("[data-error-summary]");
            const tickets = document.querySelector(".ticket-choices");
            return Boolean(summary.compareDocumentPosition(tickets)
                & Node.DOCUMENT_POSITION_FOLLOWING);
        }"""
    )
    summary.get_by_role("link", name="Please enter a valid email address.").click()
    email = buy_form.get_by_label("Email")
    assert email.get_attribute("aria-invalid") == "true"
    assert email.evaluate("(el) => el === document.activeElement")


def test_pay_page_fits_a_small_phone_and_its_links_are_tappable(live_server, page):
    page.set_viewport_size({"width": 320, "height": 640})
    ga = TicketTypeFactory(event=EventFactory(name="Narrow"), name="GA", capacity=5)
    order = place_order(
        event_id=ga.event_id,
        quantities={ga.id: 1},
        customer_name="Ana",
        customer_email="a.very.long.address.for.tickets.please@subdomain.example.com",
    )
    for path in (f"/buy/o/{order.token}/pay/", f"/buy/o/{order.token}/"):
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, path
    page.goto(f"{live_server.url}/buy/o/{order.token}/pay/")
    cancel = page.get_by_role("link", name="Cancel and release the tickets")
    assert cancel.bounding_box()["height"] >= 44


def test_cancelling_is_asked_on_a_phone_and_done_by_its_button(live_server, page):
    """The cancel link opens a question (a link prefetcher cancels nothing);
    its button cancels."""
    page.set_viewport_size({"width": 320, "height": 640})
    ga = TicketTypeFactory(event=EventFactory(name="Second Thoughts"), name="GA")
    order = place_order(
        event_id=ga.event_id,
        quantities={ga.id: 2},
        customer_name="Ana",
        customer_email="ana@example.com",
    )
    page.goto(f"{live_server.url}/buy/o/{order.token}/")
    page.get_by_role("link", name="Cancel order").click()
    page.get_by_role("heading", name="Cancel this order?").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    confirm = page.get_by_role("button", name="Yes, cancel order")
    keep = page.get_by_role("link", name="Pay now")
    for target in (confirm, keep):
        assert target.bounding_box()["height"] >= 44
    confirm.click()
    page.get_by_text("Your order was cancelled").wait_for()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED


def _line_count(locator) -> int:
    return locator.evaluate(
        """(el) => {
            const range = document.createRange();
            range.selectNodeContents(el);
            return new Set(Array.from(range.getClientRects(), (r) => r.top)).size;
        }"""
    )


def test_order_page_fits_a_small_phone_with_its_tickets(live_server, page):
    page.set_viewport_size({"width": 320, "height": 568})
    ga = TicketTypeFactory(event=EventFactory(name="Narrow Night"), name="Standing")
    order = make_paid_order(ga, 2, name="Chloé Martin")
    page.goto(f"{live_server.url}/buy/o/{order.token}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    buttons = page.get_by_role("link", name="Open ticket")
    assert buttons.count() == 2
    for i in range(2):
        assert _line_count(buttons.nth(i)) == 1, "the button's label wraps"
        assert buttons.nth(i).bounding_box()["height"] >= 44
    calendar = page.get_by_role("link", name="Add to calendar")
    assert calendar.bounding_box()["height"] >= 44


def test_going_back_from_payment_and_buying_again_keeps_one_order(live_server, page):
    event = EventFactory(name="Back Button", currency="eur")
    TicketTypeFactory(event=event, name="GA", price=Decimal("15.00"), capacity=50)

    page.goto(f"{live_server.url}/buy/events/{event.slug}/")
    page.get_by_label("How many GA tickets").select_option("2")
    buy_form = page.locator("[data-buy-form]")
    buy_form.get_by_label("Your name").fill("Ana García")
    buy_form.get_by_label("Email").fill("ana@example.com")
    key = page.locator("[data-checkout-key]").input_value()
    assert key, "the page's script gives the form its checkout key"
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url("**/test-payment/")
    order = Order.objects.get()
    payment_url = page.url

    page.go_back()
    page.wait_for_url(f"**/buy/events/{event.slug}/")
    assert page.locator("[data-checkout-key]").input_value() == key
    # Whatever the browser restored, the form says the same again.
    page.get_by_label("How many GA tickets").select_option("2")
    buy_form.get_by_label("Your name").fill("Ana García")
    buy_form.get_by_label("Email").fill("ana@example.com")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url("**/test-payment/")

    assert page.url == payment_url
    assert Order.objects.get().pk == order.pk
    assert page.get_by_text("TEST PAYMENT").is_visible()

    # A fresh load of the page is a new form with a new key.
    page.goto(f"{live_server.url}/buy/events/{event.slug}/")
    assert page.locator("[data-checkout-key]").input_value() not in ("", key)
