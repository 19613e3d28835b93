import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Order, Ticket
from core.services.checkout import place_order
from core.services.counters import count_check_ins
from core.services.orders import void_order
from core.templatetags.ticketing import money
from core.templatetags.zones import zone_abbreviation
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_held_order,
    make_paid_order,
    make_staff,
    pay_simulated,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def show(db):
    event = EventFactory(name="Live Show", venue_capacity=20, currency="eur")
    vip = TicketTypeFactory(
        event=event, name="VIP", price=Decimal("50.00"), capacity=5, max_per_order=4
    )
    ga = TicketTypeFactory(
        event=event, name="GA", price=Decimal("20.00"), capacity=15, max_per_order=6
    )
    return event, vip, ga


def _buy(client, event, quantities, **fields):
    data = {"name": "Ana García", "email": "ana@example.com", "phone": ""} | fields
    data |= {f"qty_{type_id}": n for type_id, n in quantities.items()}
    return client.post(f"/buy/events/{event.slug}/", data)


def test_event_page_offers_each_type_within_its_limits(client, show):
    event, vip, ga = show
    make_paid_order(vip, 3)  # 2 VIP left, below VIP's max of 4
    response = client.get(f"/buy/events/{event.slug}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-live-event="{event.id}"' in html
    assert f'data-availability-url="/api/v1/events/{event.slug}/availability"' in html
    assert f'data-ticket-type="{vip.id}"' in html
    assert "data-available" in html and "data-sold-out-badge" in html
    rows = {item["row"].id: item for item in response.context["rows"]}
    assert list(rows[vip.id]["choices"]) == [0, 1, 2]
    assert list(rows[ga.id]["choices"]) == list(range(7))
    assert "js/purchase.js" in html


def test_a_form_sent_after_the_event_went_off_sale_says_so(client, show):
    """The buyer was on the page a moment ago: "not found" would be untrue.
    (An event never on sale stays not found: test_an_inactive_event_has_no_page.)"""
    from core.services.events import set_event_active

    event, _vip, ga = show
    set_event_active(actor=make_staff("owner"), event_id=event.id, active=False)

    response = _buy(client, event, {ga.id: 2})
    html = response.content.decode()

    assert response.status_code == 409
    assert "no longer on sale" in html and "Nothing was reserved" in html
    assert event.name in html
    assert not Order.objects.exists()
    # Never on sale to the public meanwhile: a GET still finds nothing.
    assert client.get(f"/buy/events/{event.slug}/").status_code == 404


def test_buying_holds_then_sends_the_buyer_to_pay(client, show):
    event, vip, ga = show
    response = _buy(client, event, {vip.id: 1, ga.id: 2}, phone="+34 600 000 000")
    order = Order.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/buy/o/{order.token}/test-payment/"
    assert order.status == Order.Status.PENDING
    assert order.total == Decimal("90.00")
    # Kept in E.164, the only form Twilio sends to.
    assert order.customer_phone == "+34600000000"


def test_the_simulated_payment_issues_tickets_and_shows_them(client, show):
    event, _vip, ga = show
    _buy(client, event, {ga.id: 2})
    order = Order.objects.get()
    page = client.get(f"/buy/o/{order.token}/test-payment/")
    assert "TEST PAYMENT" in page.content.decode()
    response = client.post(f"/buy/o/{order.token}/test-payment/", {"action": "pay"})
    assert response.status_code == 303
    assert response["Location"] == f"/buy/o/{order.token}/done/"
    done = client.get(response["Location"])
    html = done.content.decode()
    assert "You're in!" in html
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    for ticket in order.tickets.all():
        assert f"/buy/t/{ticket.token}/" in html
    assert html.count("<svg") >= 2


def test_cancel_on_the_payment_page_releases_the_hold(client, show):
    event, vip, _ga = show
    _buy(client, event, {vip.id: 4})
    order = Order.objects.get()
    response = client.post(
        f"/buy/o/{order.token}/test-payment/", {"action": "cancel"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/buy/events/{event.slug}/"
    assert "tickets released" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    rows = {item["row"].id: item for item in response.context["rows"]}
    assert list(rows[vip.id]["choices"]) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("quantities", "fields", "message"),
    [
        ("none", {}, "Choose at least one ticket."),
        ("zero", {}, "Choose at least one ticket."),
        ("negative", {}, "cannot be negative"),
        ("word", {}, "whole numbers"),
        ("above_max", {}, "at most 4 VIP"),
        ("above_left", {}, "Only 5 VIP tickets are left"),
        ("unknown_type", {}, "does not exist for this event"),
        ("one", {"email": "not-an-email"}, "valid email address"),
        ("one", {"name": "  "}, "enter your name"),
        ("one", {"phone": "call me"}, "valid phone number"),
    ],
)
def test_bad_input_gets_a_clear_message_and_holds_nothing(
    client, show, quantities, fields, message
):
    event, vip, _ga = show
    other_type = TicketTypeFactory()
    if quantities == "above_left":
        # 5 VIP exist; the per-order limit would allow more.
        vip.max_per_order = 10
        vip.save()
    chosen = {
        "none": {},
        "zero": {vip.id: 0},
        "negative": {vip.id: -1},
        "word": {vip.id: "two"},
        "above_max": {vip.id: 5},
        "above_left": {vip.id: 6},
        "unknown_type": {other_type.id: 1},
        "one": {vip.id: 1},
    }[quantities]
    before = Order.objects.count()
    response = _buy(client, event, chosen, **fields)
    assert response.status_code in (400, 409)
    assert message in response.content.decode()
    assert Order.objects.count() == before


@pytest.mark.parametrize(
    ("fields", "anchor"),
    [({"email": "ana@example"}, "#email"), ({"name": " "}, "#name")],
)
def test_a_refused_field_is_summarised_at_the_top_of_the_form(
    client, show, fields, anchor
):
    event, vip, _ga = show
    page = _buy(client, event, {vip.id: 1}, **fields).content.decode()
    form = page[page.index("data-buy-form") :]
    summary = form[form.index("data-error-summary") : form.index("ticket-choices")]
    assert f'<a href="{anchor}">' in summary


def test_closed_sales_window_is_refused(client):
    ticket_type = TicketTypeFactory(sales_end_at=timezone.now() - timedelta(hours=1))
    response = _buy(client, ticket_type.event, {ticket_type.id: 1})
    assert response.status_code == 409
    assert "not on sale" in response.content.decode()
    assert not Order.objects.exists()


def test_an_inactive_event_has_no_page(client):
    ticket_type = TicketTypeFactory(event__is_active=False)
    assert client.get(f"/buy/events/{ticket_type.event.slug}/").status_code == 404
    assert _buy(client, ticket_type.event, {ticket_type.id: 1}).status_code == 404
    assert not Order.objects.exists()


def test_sold_out_event_shows_it_and_cannot_submit(client):
    ticket_type = TicketTypeFactory(capacity=1)
    make_paid_order(ticket_type, 1)
    response = client.get(f"/buy/events/{ticket_type.event.slug}/")
    assert not response.context["can_buy"]
    assert "data-event-sold-out" in response.content.decode()
    # The contact fields step aside for the waitlist form.
    assert "data-buy-details hidden" in response.content.decode()


@pytest.mark.parametrize("cache_seconds", [0, 300], ids=["uncached", "cached"])
def test_a_refused_buyer_sees_the_figures_of_the_refusal_not_hidden_types(
    client, settings, cache_seconds
):
    """In a burst the page of a refusal is built from the read that refused."""
    settings.LIVE_CACHE_SECONDS = cache_seconds
    ticket_type = TicketTypeFactory(name="Early bird", capacity=1)
    TicketTypeFactory(event=ticket_type.event, name="Old tier", is_active=False)
    make_paid_order(ticket_type, 1)
    client.get(f"/buy/events/{ticket_type.event.slug}/")  # warms the cache if on

    with CaptureQueriesContext(connection) as queries:
        response = _buy(client, ticket_type.event, {ticket_type.id: 1})

    html = response.content.decode()
    assert response.status_code == 409
    assert "Early bird is sold out." in html and "data-event-sold-out" in html
    assert "Old tier" not in html
    # Uncached: the event with its types, then the seats taken; nothing read twice.
    assert len(queries) == (0 if cache_seconds else 2)
    assert not Order.objects.filter(status=Order.Status.PENDING).exists()


def test_an_event_not_on_sale_yet_says_so_rather_than_sold_out(client):
    ticket_type = TicketTypeFactory(sales_start_at=timezone.now() + timedelta(days=1))
    response = client.get(f"/buy/events/{ticket_type.event.slug}/")
    html = response.content.decode()
    assert not response.context["can_buy"]
    assert "not on sale right now" in html
    # The notice is there for purchase.js to show, hidden.
    assert "data-event-sold-out hidden" in html


def test_ticket_page_shows_a_large_qr_and_status(client, ticket_type):
    order = make_paid_order(ticket_type, 1, name="Guest One")
    ticket = order.tickets.get()
    response = client.get(f"/buy/t/{ticket.token}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "qr-large" in html and "<svg" in html
    assert "Valid" in html and "Guest One" in html and ticket.code in html
    assert response["Cache-Control"] == "private, no-store"

    Ticket.objects.filter(pk=ticket.pk).update(
        status=Ticket.Status.USED, scanned_at=timezone.now()
    )
    count_check_ins(
        event_id=ticket.event_id, tickets=[(ticket.ticket_type_id, ticket.code)], by=1
    )
    assert "badge-used" in client.get(f"/buy/t/{ticket.token}/").content.decode()

    void_order(order_id=order.id)
    html = client.get(f"/buy/t/{ticket.token}/").content.decode()
    assert "Void" in html and "<svg" not in html


@pytest.mark.parametrize("page", ["order", "done", "ticket"])
def test_personal_pages_stay_out_of_shared_caches_and_search_engines(
    client, ticket_type, page
):
    order = make_paid_order(ticket_type, 1, name="Guest One")
    url = {
        "order": f"/buy/o/{order.token}/",
        "done": f"/buy/o/{order.token}/done/",
        "ticket": f"/buy/t/{order.tickets.get().token}/",
    }[page]
    response = client.get(url)
    assert response.status_code == 200
    cache_control = {d.strip() for d in response["Cache-Control"].split(",")}
    # A proxy or CDN never keeps a name, an email or a QR for the next caller.
    assert {"private", "no-store"} <= cache_control
    assert not cache_control & {"public", "s-maxage"}
    assert response["X-Robots-Tag"] == "noindex"
    assert '<meta name="robots" content="noindex">' in response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer"


def test_on_their_way_is_said_only_shortly_after_payment(client, ticket_type):
    order = make_paid_order(ticket_type, 1, email="ana@example.com")
    Order.objects.filter(pk=order.pk).update(customer_phone="+34 600 000 000")
    for url in (f"/buy/o/{order.token}/", f"/buy/o/{order.token}/done/"):
        html = client.get(url).content.decode()
        # Written the international way, as the buyer reads it.
        assert "on their way to" in html and "+34 600 00 00 00" in html

    # Reopened the next day, from the email or a bookmark.
    Order.objects.filter(pk=order.pk).update(
        paid_at=timezone.now() - timedelta(minutes=15, seconds=1)
    )
    for url in (f"/buy/o/{order.token}/", f"/buy/o/{order.token}/done/"):
        html = client.get(url).content.decode()
        assert "on their way" not in html
        assert "Your tickets are below." in html


def test_youre_in_greets_only_a_buyer_just_back_from_paying(client, ticket_type):
    order = make_paid_order(ticket_type, 2)
    done, page = f"/buy/o/{order.token}/done/", f"/buy/o/{order.token}/"
    html = client.get(done).content.decode()
    assert "<h1>You're in!</h1>" in html and "Payment received." in html
    html = client.get(page).content.decode()
    assert "<h1>Your tickets</h1>" in html and "You're in!" not in html


@pytest.mark.parametrize("later", ["reopened", "refunded", "every_ticket_void"])
def test_the_page_paying_returns_to_reopened_later_says_what_is_true(
    client, ticket_type, later
):
    order = make_paid_order(ticket_type, 2)
    if later == "reopened":
        # From the history or a bookmark, past the on-their-way window.
        Order.objects.filter(pk=order.pk).update(
            paid_at=timezone.now() - timedelta(minutes=15, seconds=1)
        )
    elif later == "refunded":
        void_order(order_id=order.id)
    else:
        # Still paid, but nothing left that admits.
        order.tickets.update(status=Ticket.Status.VOID)

    html = client.get(f"/buy/o/{order.token}/done/").content.decode()
    assert "You're in!" not in html and "Payment received." not in html
    heading = "Order refunded" if later == "refunded" else "Your tickets"
    assert f"<h1>{heading}</h1>" in html


def test_an_order_page_lists_a_void_ticket_its_lines_still_count(client, ticket_type):
    order = make_paid_order(ticket_type, 3)
    void, *live = order.tickets.order_by("created_at", "code")
    # No service voids one ticket of an order today (a refund voids them all);
    # the page must still add up if one ever is.
    Ticket.objects.filter(pk=void.pk).update(status=Ticket.Status.VOID)

    html = client.get(f"/buy/o/{order.token}/").content.decode()
    assert f"3 × {ticket_type.name}" in html
    assert html.count('class="ticket-item card"') == 3
    assert html.count('data-ticket-status="void"') == 1
    assert void.code in html and "will not be admitted" in html
    assert f"/buy/t/{void.token}/" not in html
    assert html.count("<svg") == 2
    for ticket in live:
        assert f"/buy/t/{ticket.token}/" in html


def test_a_refunded_order_page_marks_every_ticket_void(client, ticket_type):
    order = make_paid_order(ticket_type, 2)
    void_order(order_id=order.id)
    html = client.get(f"/buy/o/{order.token}/").content.decode()
    assert "Order refunded" in html
    assert html.count('data-ticket-status="void"') == 2
    assert "<svg" not in html and "at the door" not in html


def test_a_paid_order_can_be_added_to_a_calendar_from_its_pages(client, settings):
    settings.PUBLIC_BASE_URL = "https://tickets.example.com"
    event = EventFactory(name="Rock, Paper; Live", venue="Sala Apolo, Barcelona")
    order = make_paid_order(TicketTypeFactory(event=event), 1)
    ticket = order.tickets.get()
    url = f"/buy/o/{order.token}/calendar.ics"
    assert f'href="{url}"' in client.get(f"/buy/o/{order.token}/").content.decode()
    assert f'href="{url}"' in client.get(f"/buy/t/{ticket.token}/").content.decode()

    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{event.slug}.ics"'
    assert response["Cache-Control"] == "private, no-store"
    ics = response.content.decode()
    assert ics.startswith("BEGIN:VCALENDAR\r\n") and ics.endswith("END:VCALENDAR\r\n")
    assert "SUMMARY:Rock\\, Paper\\; Live\r\n" in ics
    assert f"URL:https://tickets.example.com/buy/o/{order.token}/" in ics
    # The same event as the email's file, so adding both makes one entry.
    assert f"UID:{order.code}-{event.id}@nightpass" in ics


def test_an_unpaid_or_refunded_order_offers_no_calendar(client, ticket_type):
    pending = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Pat",
        customer_email="pat@example.com",
    )
    assert client.get(f"/buy/o/{pending.token}/calendar.ics").status_code == 404
    assert "calendar.ics" not in client.get(f"/buy/o/{pending.token}/").content.decode()
    order = make_paid_order(ticket_type, 1)
    void_order(order_id=order.id)
    ticket = order.tickets.get()
    assert "calendar.ics" not in client.get(f"/buy/t/{ticket.token}/").content.decode()
    assert client.get("/buy/o/nope/calendar.ics").status_code == 404


def test_unknown_tokens_are_not_found(client):
    assert client.get("/buy/t/nope/").status_code == 404
    assert client.get("/buy/o/nope/").status_code == 404


def test_simulated_page_does_not_exist_when_stripe_is_on(client, show, settings):
    event, vip, _ga = show
    order = place_order(
        event_id=event.id,
        quantities={vip.id: 1},
        customer_name="A",
        customer_email="a@example.com",
    )
    settings.PAYMENT_PROVIDER = "stripe"
    assert client.get(f"/buy/o/{order.token}/test-payment/").status_code == 404
    assert client.post(f"/buy/o/{order.token}/test-payment/").status_code == 404
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_pay_order_starts_payment_for_a_held_order(client, show):
    event, vip, _ga = show
    order = place_order(
        event_id=event.id,
        quantities={vip.id: 2},
        customer_name="A",
        customer_email="a@example.com",
        hold_minutes=60,
    )
    page = client.get(f"/buy/o/{order.token}/pay/")
    assert page.status_code == 200
    assert "€100.00" in page.content.decode()
    response = client.post(f"/buy/o/{order.token}/pay/")
    assert response.status_code == 303
    assert response["Location"].endswith("/test-payment/")


def test_pay_order_refuses_an_order_that_can_no_longer_be_paid(client, show):
    event, vip, _ga = show
    order = place_order(
        event_id=event.id,
        quantities={vip.id: 2},
        customer_name="A",
        customer_email="a@example.com",
        hold_minutes=0,
    )
    response = client.post(f"/buy/o/{order.token}/pay/")
    assert response.status_code == 409
    assert "can no longer be paid" in response.content.decode()


def test_stripe_checkout_round_trip(client, show, stripe_stub):
    event, vip, _ga = show
    response = _buy(client, event, {vip.id: 2})
    order = Order.objects.get()
    session_id = order.stripe_checkout_session_id
    assert response.status_code == 303
    assert response["Location"] == stripe_stub.sessions[session_id]["url"]
    success = stripe_stub.sessions[session_id]["success_url"]
    assert success.startswith(f"http://testserver/buy/o/{order.token}/done/")
    assert success.endswith("session_id={CHECKOUT_SESSION_ID}")

    # Back from Stripe before the webhook: the return page asks Stripe.
    stripe_stub.complete(session_id)
    page = client.get(f"/buy/o/{order.token}/done/?session_id={session_id}")
    assert "You're in!" in page.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.count() == 2


def test_a_payment_outage_releases_the_hold_and_says_so(client, show, stripe_stub):
    event, vip, _ga = show
    stripe_stub.fail_status = 500
    response = _buy(client, event, {vip.id: 2})
    assert response.status_code == 502
    assert "payment service is not answering" in response.content.decode()
    assert Order.objects.get().status == Order.Status.CANCELLED


# --- The event page served from a shell (purchase/shells.py, ADR 9) is the
# page in full.

CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def _rendered_in_full(client, request):
    """The same request with a session cookie, which makes the view render."""
    client.cookies[settings.SESSION_COOKIE_NAME] = "no-such-session"
    try:
        return request()
    finally:
        del client.cookies[settings.SESSION_COOKIE_NAME]


def _same_page(shell_response, full_response) -> None:
    assert shell_response.status_code == full_response.status_code
    assert full_response.templates, "the comparison page was not rendered"
    shell_html = CSRF_VALUE.sub("CSRF", shell_response.content.decode())
    full_html = CSRF_VALUE.sub("CSRF", full_response.content.decode())
    assert shell_html == full_html


def test_the_page_as_loaded_is_rendered_once_then_filled_in(client, show):
    event, _vip, _ga = show
    url = f"/buy/events/{event.slug}/"

    first = client.get(url)
    second = client.get(url)

    assert first.templates, "the first visitor's page is rendered"
    assert not second.templates, "the second one comes from the shell"
    _same_page(second, _rendered_in_full(client, lambda: client.get(url)))
    tokens = CSRF_VALUE.findall(second.content.decode())
    assert len(tokens) == 2 and "hole" not in tokens[0]


def test_a_sold_out_refusal_keeps_what_was_typed_escaped(client, show):
    event, vip, _ga = show
    make_paid_order(vip, 4)
    make_paid_order(vip, 1)  # VIP sold out
    typed = {
        "name": '<b>"Ana" & co</b>',
        "email": "a'b@example.com",
        "phone": "+14155550123",
    }

    def refuse():
        return _buy(client, event, {vip.id: 2}, **typed)

    refuse()
    refused = refuse()

    assert refused.status_code == 409
    assert not refused.templates
    html = refused.content.decode()
    assert 'value="&lt;b&gt;&quot;Ana&quot; &amp; co&lt;/b&gt;"' in html
    assert 'value="a&#x27;b@example.com"' in html
    assert "<b>" not in html
    _same_page(refused, _rendered_in_full(client, refuse))


def test_a_refusal_for_more_than_is_left_keeps_the_choice(client, show):
    event, _vip, ga = show
    make_paid_order(ga, 6)
    make_paid_order(ga, 6)  # 3 GA left

    def refuse():
        return _buy(client, event, {ga.id: 5})

    refused = refuse()

    assert refused.status_code == 409
    assert '<option value="0">0</option>' in refused.content.decode()
    _same_page(refused, _rendered_in_full(client, refuse))


def test_a_sale_shows_at_once(client, show):
    event, _vip, ga = show
    url = f"/buy/events/{event.slug}/"
    assert "15 left" in client.get(url).content.decode()

    place_order(
        event_id=event.id,
        quantities={ga.id: 2},
        customer_name="Bo",
        customer_email="bo@example.com",
    )

    assert "13 left" in client.get(url).content.decode()


def test_a_payment_that_changes_nothing_shown_keeps_the_page(client, show):
    # At the end of a sell-out each payment moves held seats to sold while
    # the page says the same: it is not rendered again for each.
    event, vip, _ga = show
    url = f"/buy/events/{event.slug}/"
    held = make_held_order(vip, 2)
    client.get(url)

    pay_simulated(held)
    page = client.get(url)

    assert not page.templates, "the page's shell from before the payment"
    assert "3 left" in page.content.decode()
    _same_page(page, _rendered_in_full(client, lambda: client.get(url)))


def test_a_waiting_message_is_shown(client, show):
    event, _vip, ga = show
    _buy(client, event, {ga.id: 1})
    client.get(f"/buy/events/{event.slug}/")  # a shell for this page exists
    order = event.orders.get()

    left = client.post(f"/buy/o/{order.token}/test-payment/", {"action": "cancel"})
    page = client.get(left["Location"])

    assert page.templates, "rendered in full, for the message"
    assert 'class="message message-info"' in page.content.decode()


def test_a_pending_order_says_in_which_zone_it_is_held(client, show):
    event, vip, _ga = show
    event.time_zone = "Europe/London"
    event.save()
    _buy(client, event, {vip.id: 1})
    order = Order.objects.get()
    page = client.get(f"/buy/o/{order.token}/").content.decode()
    assert "Your tickets are held" in page
    # The zone's short name customers know (GMT, BST), never its tz database id.
    abbreviation = zone_abbreviation(order.hold_expires_at, "Europe/London")
    assert f">{abbreviation}</abbr></time>" in page
    assert "Europe/London" not in page


def test_a_sold_out_row_says_so_once(client, show):
    event, vip, _ga = show
    make_paid_order(vip, 4)
    make_paid_order(vip, 1)
    page = client.get(f"/buy/events/{event.slug}/").content.decode()
    start = page.index(f'data-ticket-type="{vip.id}"')
    row = page[start : page.index("</select>", start)]
    assert row.count("Sold out") == 1


def test_a_partly_refunded_order_page_says_what_was_refunded_and_paid_in_the_end(
    client, ticket_type
):
    from core.services.orders import refund_tickets

    order = make_paid_order(ticket_type, 3)
    kept = client.get(f"/buy/o/{order.token}/").content.decode()
    assert "Refunded" not in kept and "You paid in the end" not in kept

    one = order.tickets.first()
    refund_tickets(order_id=order.id, ticket_ids=[one.pk])
    html = client.get(f"/buy/o/{order.token}/").content.decode()

    price, total = one.price_paid, order.total
    assert "Partly refunded" in html
    assert f"{money(price, order.currency)} went back to your card" in html
    assert "Paid" in html and "Refunded" in html
    assert f"−{money(price, order.currency)}" in html
    assert "You paid in the end" in html
    assert money(total - price, order.currency) in html
