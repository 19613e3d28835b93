import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from core.models import Event
from tests.factories import EventFactory, TicketTypeFactory, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _poster() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 675), (124, 92, 255)).save(buffer, format="PNG")
    return buffer.getvalue()


def sign_in_as_owner(page, base_url: str, path: str = "/scanner/") -> None:
    """Through the sign-in form, as the owner `boss` made by make_staff."""
    page.goto(base_url + path)
    page.get_by_label("Username or email").fill("boss")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()


def test_owner_creates_an_event_with_two_types_and_it_is_on_the_website(
    live_server, page
):
    make_staff("owner", username="boss")
    day = (timezone.now() + timedelta(days=14)).date().isoformat()

    sign_in_as_owner(page, live_server.url)
    page.get_by_role("heading", name="Events").wait_for()

    page.get_by_role("link", name="+ New event").click()
    page.get_by_label("Event name").fill("Cumbia Under The Stars")
    page.get_by_label("Date").fill(day)
    page.get_by_label("Starts at").fill("21:30")
    page.get_by_label("Doors open").fill("20:30")
    page.get_by_label("Time zone").select_option("Europe/Madrid")
    page.get_by_label("Venue (optional)").fill("Parc de la Ciutadella")
    page.get_by_label("Venue capacity").fill("300")
    page.get_by_label("Currency").select_option("eur")
    page.get_by_label("Picture").set_input_files(
        {"name": "poster.png", "mimeType": "image/png", "buffer": _poster()}
    )
    page.locator("#id_types-0-name").fill("Early Bird")
    page.locator("#id_types-0-price").fill("12")
    page.locator("#id_types-0-capacity").fill("100")
    page.locator("#id_types-1-name").fill("Standard")
    page.locator("#id_types-1-price").fill("18.50")
    page.locator("#id_types-1-capacity").fill("250")
    page.get_by_role("button", name="Create event").click()

    page.get_by_role("heading", name="Cumbia Under The Stars").wait_for()
    assert page.get_by_text("is created").is_visible()
    event = Event.objects.get(name="Cumbia Under The Stars")
    assert event.ticket_types.count() == 2 and event.image

    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Cumbia Under The Stars").click()
    page.wait_for_url(f"**/events/{event.slug}/")
    assert page.get_by_text("€12.00").is_visible()
    assert page.get_by_text("€18.50").is_visible()
    assert page.get_by_text("Parc de la Ciutadella").is_visible()
    assert page.get_by_text("21:30").first.is_visible()


def test_owner_adds_a_third_type_with_the_button_and_sees_errors_in_place(
    live_server, page
):
    make_staff("owner", username="boss")
    sign_in_as_owner(page, live_server.url, "/scanner/login/")
    page.goto(live_server.url + "/scanner/events/new/")
    page.get_by_role("button", name="+ Add another ticket type").click()
    third = page.locator("#id_types-2-name")
    assert third.is_visible()
    assert page.evaluate("document.activeElement.id") == "id_types-2-name"
    third.fill("Student")
    page.locator("#id_types-2-price").fill("-1")
    page.get_by_role("button", name="Create event").click()
    summary = page.get_by_role("alert").first
    assert "Please fix" in summary.inner_text()
    assert (
        page.locator("#id_types-2-price_error").inner_text().endswith("Use 0 or more.")
    )
    assert page.locator("#id_types-2-price").get_attribute("aria-invalid") == "true"
    assert not Event.objects.exists()


def test_owner_finds_a_customers_order_on_a_phone_and_refunds_it(live_server, browser):
    """ "I can't come": the owner finds the order by email and refunds it."""
    from core.models import Order, Ticket
    from tests.factories import TicketTypeFactory, make_paid_order

    make_staff("owner", username="boss")
    paid = make_paid_order(
        TicketTypeFactory(name="Standing", price="25.00"), 2, email="rosa@example.com"
    )
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in_as_owner(page, live_server.url)
        page.get_by_role("link", name="Orders").click()
        page.get_by_label("Find an order").fill("rosa@")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name=paid.code).click()
        page.get_by_role("heading", name=f"Order {paid.code}").wait_for()

        # The whole-order refund's card (the ticket list has its own form).
        whole = page.locator("[data-refund]")
        whole.get_by_label("Reason").fill("Can't come")
        page.get_by_role("button", name="Refund order").click()
        # Without the box ticked the browser does not send the form.
        assert page.get_by_text(f"Order {paid.code} refunded").count() == 0
        assert Order.objects.get(pk=paid.pk).status == Order.Status.PAID
        whole.get_by_label("Yes, refund").check()
        page.get_by_role("button", name="Refund order").click()
        page.get_by_text(f"Order {paid.code} refunded").wait_for()
    finally:
        context.close()

    paid.refresh_from_db()
    assert paid.status == Order.Status.REFUNDED
    assert set(paid.tickets.values_list("status", flat=True)) == {Ticket.Status.VOID}


def test_owner_refunds_one_ticket_of_an_order_on_a_phone(live_server, browser):
    """ "One of us can't come": the owner ticks that ticket and refunds it."""
    from core.models import Order, Ticket
    from tests.factories import TicketTypeFactory, make_paid_order

    make_staff("owner", username="boss")
    paid = make_paid_order(
        TicketTypeFactory(name="Standing", price="25.00"), 2, email="rosa@example.com"
    )
    one, other = paid.tickets.order_by("code")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(live_server.url + f"/scanner/orders/{paid.id}/")
        page.get_by_label("Username or email").fill("boss")
        page.get_by_label("Password").fill("correct-horse-battery")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name=f"Order {paid.code}").wait_for()

        page.get_by_label(f"Choose ticket {one.code}").check()
        chosen = page.locator("[data-refund-tickets]")
        chosen.get_by_label("Yes, refund").check()
        page.get_by_role("button", name="Refund ticked tickets").click()
        page.get_by_text("Refunded $25.00 for 1 ticket").wait_for()
    finally:
        context.close()

    one.refresh_from_db()
    other.refresh_from_db()
    assert (one.status, other.status) == (Ticket.Status.VOID, Ticket.Status.ISSUED)
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID


@pytest.mark.parametrize("width", [390, 320])
def test_every_console_nav_link_fits_a_phone_screen_and_a_finger(
    live_server, browser, width
):
    """On a phone every link (Messages and Staff too) is on screen without
    sideways scrolling, at least 44 px each way, and nothing covers it: on
    the pages with stylesheets of their own (analytics, the door's event
    list) as on the others."""
    make_staff("owner", username="boss")
    event = EventFactory(name="Menu Night")
    TicketTypeFactory(event=event)
    context = browser.new_context(viewport={"width": width, "height": 700})
    page = context.new_page()
    try:
        sign_in_as_owner(page, live_server.url, "/scanner/login/")
        page.get_by_role("heading", name="Events").wait_for()
        for path in (
            "/scanner/orders/",
            "/scanner/analytics/",
            f"/scanner/analytics/events/{event.id}/",
            "/scanner/door/",
        ):
            page.goto(live_server.url + path)
            _assert_nav_fits(page, width, path)
        page.get_by_role("link", name="Messages").click()
        page.get_by_role("heading", name="Messages").wait_for()
    finally:
        context.close()


def _assert_nav_fits(page, width: int, path: str) -> None:
    targets = page.locator("nav.site-nav a, nav.site-nav button")
    names = [name.strip() for name in targets.all_inner_texts()]
    assert names == [
        "Events",
        "Door",
        "Analytics",
        "Orders",
        "Messages",
        "Staff",
        "Sign out",
    ], path
    for index, name in enumerate(names):
        target = targets.nth(index)
        assert target.is_visible(), (path, name)
        box = target.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (path, name, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= 700, (path, name, box)
        assert box["height"] >= 44 and box["width"] >= 44, (path, name, box)
        # Nothing (a fade, the live dot) sits on top of it.
        on_top = target.evaluate(
            """el => {
              const r = el.getBoundingClientRect();
              const hit = document.elementFromPoint(
                r.left + r.width / 2, r.top + r.height / 2);
              return el === hit || el.contains(hit);
            }"""
        )
        assert on_top, (path, name)
    assert page.evaluate("document.documentElement.scrollWidth") <= width, path


def _figures(page, ticket_type) -> str:
    """A type row's figures line as a reader sees it (hidden parts left out)."""
    row = page.locator(f'[data-ticket-type="{ticket_type.id}"] .type-row-figures')
    return " ".join(row.inner_text().split())


def _issue_free_tickets(page, base_url, event, ticket_type, quantity) -> None:
    page.goto(f"{base_url}/scanner/events/{event.id}/comps/")
    page.get_by_label("Ticket type").select_option(str(ticket_type.id))
    page.get_by_label("How many tickets").fill(str(quantity))
    page.get_by_label("Guest name").fill("Rosa Guest")
    page.get_by_label("Guest email").fill("rosa@example.com")
    page.get_by_role("button", name="Issue and email the tickets").click()
    page.get_by_text("issued to Rosa Guest").wait_for()


def test_an_off_sale_events_page_keeps_its_figures_live_in_plain_words(
    browser, asgi_server
):
    """Free tickets issued in another tab move the owner's page of an event
    off sale: free beside sold, left, the bar and the summary, each said
    once."""
    from playwright.sync_api import expect

    from tests.live import session_cookie

    owner = make_staff("owner", username="boss")
    event = EventFactory(name="Private Night", is_active=False, venue_capacity=1000)
    general = TicketTypeFactory(event=event, name="General", capacity=100)
    vip = TicketTypeFactory(event=event, name="VIP", capacity=2)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(30_000)
    name, value = session_cookie(owner).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": asgi_server.url}])
    public_fetches = []
    context.on(
        "request",
        lambda request: "/api/v1/events/" in request.url
        and public_fetches.append(request.url),
    )
    watching = context.new_page()
    try:
        watching.goto(f"{asgi_server.url}/scanner/events/{event.id}/")
        expect(watching.locator("[data-live-indicator]")).to_have_attribute(
            "data-state", "live"
        )
        watching.evaluate("window.notReloaded = true")
        assert _figures(watching, general) == "0 sold · 100 left · capacity 100"
        assert _figures(watching, vip) == "0 sold · 2 left · capacity 2"

        issuing = context.new_page()
        _issue_free_tickets(issuing, asgi_server.url, event, vip, 2)
        _issue_free_tickets(issuing, asgi_server.url, event, general, 3)

        vip_row = watching.locator(f'[data-ticket-type="{vip.id}"]')
        expect(vip_row.locator(".type-row-figures")).to_have_text(
            "0 sold + 2 free · 0 left · capacity 2", use_inner_text=True
        )
        expect(vip_row.locator("[data-sold-out-badge]")).to_be_visible()
        expect(vip_row.locator("[data-meter]")).to_have_attribute(
            "style", "width: 100%;"
        )
        general_row = watching.locator(f'[data-ticket-type="{general.id}"]')
        expect(general_row.locator(".type-row-figures")).to_have_text(
            "0 sold + 3 free · 97 left · capacity 100", use_inner_text=True
        )
        expect(general_row.locator("[data-meter]")).to_have_attribute(
            "style", "width: 3%;"
        )
        expect(watching.locator(".summary-line")).to_have_text(
            "0 sold + 5 free · 0 being paid for · 97 left · venue holds 1000",
            use_inner_text=True,
        )
        text = " ".join(watching.locator("main").inner_text().split())
        assert "left left" not in text and "Sold out left" not in text
        assert watching.evaluate("window.notReloaded === true")
        assert public_fetches == []
    finally:
        context.close()


def test_seats_being_paid_for_show_and_go_live_on_the_owners_page(browser, asgi_server):
    """A buyer on the payment page holds seats: the owner's page says so at
    once, and says nothing of it once they are paid for."""
    from playwright.sync_api import expect

    from tests.live import session_cookie

    owner = make_staff("owner", username="boss")
    event = EventFactory(name="Open Night", venue_capacity=1000)
    general = TicketTypeFactory(event=event, name="General", capacity=100)
    owner_context = browser.new_context(viewport={"width": 390, "height": 844})
    buyer_context = browser.new_context(viewport={"width": 390, "height": 844})
    for context in (owner_context, buyer_context):
        context.set_default_timeout(30_000)
    name, value = session_cookie(owner).split("=", 1)
    owner_context.add_cookies([{"name": name, "value": value, "url": asgi_server.url}])
    try:
        watching = owner_context.new_page()
        watching.goto(f"{asgi_server.url}/scanner/events/{event.id}/")
        expect(watching.locator("[data-live-indicator]")).to_have_attribute(
            "data-state", "live"
        )
        figures = watching.locator(
            f'[data-ticket-type="{general.id}"] .type-row-figures'
        )
        expect(figures).to_have_text(
            "0 sold · 100 left · capacity 100", use_inner_text=True
        )

        buying = buyer_context.new_page()
        buying.goto(f"{asgi_server.url}/buy/events/{event.slug}/")
        buying.get_by_label("How many General tickets").select_option("2")
        buy_form = buying.locator("[data-buy-form]")
        buy_form.get_by_label("Your name").fill("Ana Buyer")
        buy_form.get_by_label("Email").fill("ana@example.com")
        buying.get_by_role("button", name="Continue to payment").click()
        pay = buying.get_by_role("button", name=re.compile(r"^Pay "))
        pay.wait_for()

        expect(figures).to_have_text(
            "0 sold · 2 being paid for · 98 left · capacity 100", use_inner_text=True
        )
        expect(watching.locator(".summary-line")).to_have_text(
            "0 sold · 2 being paid for · 98 left · venue holds 1000",
            use_inner_text=True,
        )

        pay.click()
        expect(figures).to_have_text(
            "2 sold · 98 left · capacity 100", use_inner_text=True
        )
        expect(watching.locator(".summary-line")).to_have_text(
            "2 sold · 0 being paid for · 98 left · venue holds 1000",
            use_inner_text=True,
        )
    finally:
        owner_context.close()
        buyer_context.close()


def test_the_owners_event_list_keeps_every_rows_figures_live_on_one_socket(
    browser, asgi_server
):
    """A sale moves its event's row on the owner's list, without a reload,
    through one socket and one request for all the rows, however many."""
    from playwright.sync_api import expect

    from tests.live import session_cookie

    owner = make_staff("owner", username="boss")
    starts = timezone.now() + timedelta(days=5)
    events = [
        EventFactory(name=f"Night {n}", venue_capacity=100, starts_at=starts)
        for n in range(6)
    ]
    seats = [TicketTypeFactory(event=e, name="GA", capacity=100) for e in events]
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(30_000)
    name, value = session_cookie(owner).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": asgi_server.url}])
    sockets, figure_fetches = [], []
    try:
        page = context.new_page()
        page.on("websocket", lambda socket: sockets.append(socket.url))
        page.on(
            "request",
            lambda request: "/scanner/events/figures/" in request.url
            and figure_fetches.append(request.url),
        )
        page.goto(f"{asgi_server.url}/scanner/")
        expect(page.locator("[data-live-indicator]")).to_have_attribute(
            "data-state", "live"
        )
        page.evaluate("window.notReloaded = true")
        row = page.locator(f'[data-live-row="{events[3].id}"]')
        expect(row.locator(".event-row-meta")).to_contain_text("0 of 100 sold")

        asgi_server.run("sell", ticket_type_id=seats[3].id, quantity=7)

        expect(row.locator(".event-row-meta")).to_contain_text("7 of 100 sold")
        expect(row.locator("[data-summary-meter]")).to_have_attribute(
            "style", "width: 7%;"
        )
        other = page.locator(f'[data-live-row="{events[0].id}"]')
        expect(other.locator(".event-row-meta")).to_contain_text("0 of 100 sold")
        assert page.evaluate("window.notReloaded === true")
        assert len(sockets) == 1 and sockets[0].endswith("/ws/events/staff/")
        # One request for every row, never one per event.
        assert figure_fetches
        assert all(url.endswith("?show=upcoming") for url in figure_fetches)
    finally:
        context.close()


def test_owner_adds_a_door_device_on_a_phone_copies_its_token_once(
    live_server, browser
):
    """The token is shown once with a Copy button; reloading the page after
    adding shows it no more and adds no second device."""
    from core.models import ScannerDevice

    make_staff("owner", username="boss")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=live_server.url
    )
    page = context.new_page()
    try:
        sign_in_as_owner(page, live_server.url, "/scanner/login/")
        page.goto(live_server.url + "/scanner/staff/devices/")
        page.get_by_label("Device name").fill("Bar tablet")
        page.get_by_role("button", name="Add the device").click()
        page.get_by_role("heading", name="Bar tablet is ready").wait_for()
        token = page.locator("[data-device-token]").input_value()
        assert "shown this once only" in page.locator("[data-new-device]").inner_text()

        copy = page.get_by_role("button", name="Copy the token")
        box = copy.bounding_box()
        assert box["height"] >= 44 and box["x"] + box["width"] <= 390
        copy.click()
        page.get_by_text("Copied.").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == token

        page.reload()
        page.get_by_role("heading", name="Door devices").wait_for()
        assert page.locator("[data-device-token]").count() == 0
        assert ScannerDevice.objects.filter(label="Bar tablet").count() == 1
        changes = page.locator("[data-device-changes]").inner_text()
        assert "Added a door device" in changes and "Bar tablet" in changes
    finally:
        context.close()


def _owners_list(browser, asgi_server, owner, path="/scanner/"):
    """The owner's event list, live, in a phone-sized page of its own."""
    from playwright.sync_api import expect

    from tests.live import session_cookie

    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(30_000)
    name, value = session_cookie(owner).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": asgi_server.url}])
    page = context.new_page()
    page.goto(asgi_server.url + path)
    expect(page.locator("[data-live-indicator]")).to_have_attribute(
        "data-state", "live"
    )
    page.evaluate("window.notReloaded = true")
    return context, page


def test_an_event_another_manager_puts_on_sale_joins_the_owners_list_live(
    browser, asgi_server
):
    """Put on sale elsewhere, an event appears on the "On sale" tab and the
    tab counts move, without a reload; taken off sale, it leaves."""
    from playwright.sync_api import expect

    owner = make_staff("owner", username="boss")
    starts = timezone.now() + timedelta(days=5)
    EventFactory(name="Already On", starts_at=starts)
    draft = EventFactory(name="Fresh Night", starts_at=starts, is_active=False)
    context, page = _owners_list(browser, asgi_server, owner)
    try:
        rows = page.locator("[data-live-row]")
        expect(rows).to_have_count(1)
        on_sale = page.locator("nav.tabs a", has_text="On sale")
        off_sale = page.locator("nav.tabs a", has_text="Off sale")
        expect(on_sale).to_contain_text("1")
        expect(off_sale).to_contain_text("1")

        Event.objects.filter(pk=draft.pk).update(is_active=True)
        asgi_server.run(
            "announce_event_changed", event_id=str(draft.pk), change="activated"
        )

        expect(page.locator(f'[data-live-row="{draft.pk}"]')).to_contain_text(
            "Fresh Night"
        )
        expect(rows).to_have_count(2)
        expect(on_sale.locator(".count")).to_have_text("2")
        expect(off_sale.locator(".count")).to_have_text("0")

        Event.objects.filter(pk=draft.pk).update(is_active=False)
        asgi_server.run(
            "announce_event_changed", event_id=str(draft.pk), change="deactivated"
        )

        expect(rows).to_have_count(1)
        expect(on_sale.locator(".count")).to_have_text("1")
        assert page.evaluate("window.notReloaded === true")
    finally:
        context.close()


def test_an_event_new_on_the_tab_shows_even_when_its_news_came_with_a_sale(
    browser, asgi_server
):
    """The list feed folds a burst into its latest push: an event put on
    sale just before a sale elsewhere may come with the sale's news only.
    Its row shows all the same."""
    from playwright.sync_api import expect

    owner = make_staff("owner", username="boss")
    starts = timezone.now() + timedelta(days=5)
    selling = EventFactory(name="Selling", starts_at=starts)
    seat = TicketTypeFactory(event=selling, capacity=50)
    context, page = _owners_list(browser, asgi_server, owner)
    try:
        expect(page.locator("[data-live-row]")).to_have_count(1)

        new = EventFactory(name="Quiet Newcomer", starts_at=starts)
        asgi_server.run("sell", ticket_type_id=seat.id, quantity=1)

        expect(page.locator(f'[data-live-row="{new.pk}"]')).to_contain_text(
            "Quiet Newcomer"
        )
        expect(
            page.locator("nav.tabs a", has_text="On sale").locator(".count")
        ).to_have_text("2")
        assert page.evaluate("window.notReloaded === true")
    finally:
        context.close()


def test_a_draft_another_manager_creates_joins_the_off_sale_tab_live(
    browser, asgi_server
):
    """The public list's feed hears nothing of drafts; the console's list
    listens to its own, so a new event made off sale shows without a reload."""
    from playwright.sync_api import expect

    owner = make_staff("owner", username="boss")
    starts = timezone.now() + timedelta(days=5)
    EventFactory(name="Old Draft", starts_at=starts, is_active=False)
    context, page = _owners_list(browser, asgi_server, owner, "/scanner/?show=inactive")
    try:
        expect(page.locator("[data-live-row]")).to_have_count(1)

        draft = EventFactory(name="New Draft", starts_at=starts, is_active=False)
        asgi_server.run(
            "announce_event_changed", event_id=str(draft.pk), change="created"
        )

        expect(page.locator(f'[data-live-row="{draft.pk}"]')).to_contain_text(
            "New Draft"
        )
        expect(
            page.locator("nav.tabs a", has_text="Off sale").locator(".count")
        ).to_have_text("2")
        assert page.evaluate("window.notReloaded === true")
    finally:
        context.close()
