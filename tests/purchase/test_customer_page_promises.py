"""What the customer pages promise is true: replies only to an address that
reads them (SUPPORT_EMAIL), a text only when texts can be sent, offline
saving only of a ticket that still admits, a pay button only while the
hold lasts."""

import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from core.models import Order, Ticket
from core.services.checkout import place_order
from core.services.orders import void_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db

PROMISE = "Reply to your confirmation email"


@pytest.fixture
def ga():
    event = EventFactory(name="Promise Night", time_zone="Europe/Madrid")
    return TicketTypeFactory(event=event, name="General Admission")


def _event_page(client, ga, *, in_full: bool = False) -> str:
    url = f"/buy/events/{ga.event.slug}/"
    if in_full:  # a session cookie: rendered, not served from a shell
        client.cookies[django_settings.SESSION_COOKIE_NAME] = "no-such-session"
    try:
        return client.get(url).content.decode()
    finally:
        client.cookies.pop(django_settings.SESSION_COOKIE_NAME, None)


# --- The footer's "Questions?" -----------------------------------------------


def test_without_a_support_address_no_page_promises_replies(client, ga):
    order = make_paid_order(ga)
    ticket = order.tickets.get()
    for _ in range(2):  # rendered, then from the shell
        html = _event_page(client, ga)
        assert "Tickets are delivered by email with a QR code." in html
        assert PROMISE not in html and "mailto:" not in html
    for url in (f"/buy/o/{order.token}/", f"/buy/t/{ticket.token}/", "/buy/"):
        assert PROMISE not in client.get(url).content.decode()


def test_a_support_address_is_given_in_the_footer(client, ga, settings):
    settings.SUPPORT_EMAIL = "help@venue.example"
    link = 'href="mailto:help@venue.example" data-support-email>help@venue.example</a>'
    for _ in range(2):  # rendered, then from the shell
        html = _event_page(client, ga)
        assert f"Questions? {PROMISE}, or write to" in html and link in html
    assert link in client.get("/buy/").content.decode()
    assert link in client.get("/").content.decode()


# --- The phone field ---------------------------------------------------------


def test_without_texts_the_buy_form_asks_for_no_phone(client, ga, settings):
    settings.DEBUG = False
    settings.TWILIO_ACCOUNT_SID = ""
    for html in (
        _event_page(client, ga),
        _event_page(client, ga),  # from the shell
        _event_page(client, ga, in_full=True),
    ):
        # The buy form's field (the waitlist form's is its own: id_phone).
        assert 'id="phone"' not in html and "We text you" not in html
        assert 'id="email"' in html


@pytest.mark.parametrize("set_up", ["twilio", "debug"])
def test_with_texts_the_buy_form_asks_for_a_phone(client, ga, settings, set_up):
    settings.DEBUG = set_up == "debug"
    if set_up == "twilio":
        settings.TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000000"
        settings.TWILIO_AUTH_TOKEN = "token"
        settings.TWILIO_FROM_NUMBER = "+15005550006"
    for _ in range(2):  # rendered, then from the shell
        html = _event_page(client, ga)
        assert 'id="phone"' in html and "We text you a link" in html


def test_a_refused_number_keeps_its_field_even_without_texts(client, ga, settings):
    settings.DEBUG = False
    response = client.post(
        f"/buy/events/{ga.event.slug}/",
        {"name": "Ana", "email": "ana@example.com", "phone": "612", f"qty_{ga.id}": 1},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'href="#phone"' in html and 'id="phone"' in html


# --- Saved for offline -------------------------------------------------------


def test_a_void_ticket_does_not_claim_to_open_without_signal(client, ga):
    order = make_paid_order(ga, 2)
    valid, void = order.tickets.order_by("code")
    Ticket.objects.filter(pk=void.pk).update(status=Ticket.Status.VOID)

    valid_html = client.get(f"/buy/t/{valid.token}/").content.decode()
    void_html = client.get(f"/buy/t/{void.token}/").content.decode()

    assert "data-saved-offline-line" in valid_html
    assert "will not be admitted" in void_html
    assert "data-saved-offline-line" not in void_html
    assert "without signal" not in void_html


def test_a_refunded_order_does_not_claim_to_open_without_signal(client, ga):
    order = make_paid_order(ga, 2)
    assert (
        "data-saved-offline-line"
        in client.get(f"/buy/o/{order.token}/").content.decode()
    )
    void_order(order_id=order.id)
    html = client.get(f"/buy/o/{order.token}/").content.decode()
    assert "Order refunded" in html and "data-saved-offline-line" not in html


# --- Pay buttons and the hold ------------------------------------------------


def _pending(ga, **fields) -> Order:
    return place_order(
        event_id=ga.event_id,
        quantities={ga.id: 1},
        customer_name="Ana",
        customer_email="ana@example.com",
        **fields,
    )


def _pay_buttons(html: str) -> list[str]:
    return re.findall(r"<(?:button|a)\b[^>]*\bdata-hold-pay\b[^>]*>", html)


def test_every_pay_button_is_one_the_countdown_can_turn_off(client, ga):
    order = _pending(ga)
    for url in (
        f"/buy/o/{order.token}/test-payment/",
        f"/buy/o/{order.token}/pay/",
        f"/buy/o/{order.token}/",
    ):
        html = client.get(url).content.decode()
        assert "js/hold-countdown.js" in html, url
        (button,) = _pay_buttons(html)
        assert "disabled" not in button, url


def test_a_lapsed_hold_has_no_live_pay_button(client, ga):
    order = _pending(ga, now=timezone.now() - timedelta(hours=1))
    html = client.get(f"/buy/o/{order.token}/test-payment/").content.decode()
    (button,) = _pay_buttons(html)
    assert " disabled" in button
    assert "Choose your tickets again" in html


def test_the_hold_is_of_tickets_not_seats(client, ga):
    html = client.get(f"/buy/o/{_pending(ga).token}/test-payment/").content.decode()
    assert "Your tickets are held" in html and "seats" not in html


@pytest.mark.parametrize("texts", [False, True])
def test_the_waitlist_form_asks_for_a_phone_only_when_texts_can_be_sent(
    client, settings, texts
):
    settings.DEBUG = texts
    event = EventFactory(name="Full House", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=2, max_per_order=4)
    make_paid_order(seat, 2)
    pages = [
        _event_page(client, seat),
        _event_page(client, seat),  # from the shell
        client.get(f"/buy/events/{event.slug}/waitlist/").content.decode(),
    ]
    for html in pages:
        assert "data-waitlist-form" in html
        assert ('id="id_phone"' in html) is texts
