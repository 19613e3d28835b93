"""Find my tickets (/buy/find/): the same answer whoever asks, one email to
the address that bought, and limits per network and per address."""

import logging
import re
import uuid

import pytest
from django.test import Client

from core.models import OutboundMessage
from core.notify.rendering import build_email
from core.sites import site_url
from scanner import throttle
from tests.bursts import send_together
from tests.factories import make_paid_order

pytestmark = pytest.mark.django_db

URL = "/buy/find/"
NEUTRAL = "we've sent an email with links to them. It can take a minute; check spam."


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """A private in-memory cache per test, so counts never leak between tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"find-tickets-{uuid.uuid4()}",
        }
    }


def _find(client, email, ip="10.0.0.1"):
    return client.post(URL, {"email": email}, REMOTE_ADDR=ip)


def _lookups():
    return list(OutboundMessage.objects.filter(kind="tickets_lookup"))


def _answer(response) -> str:
    """The page's answer, without what differs by request (the CSRF token in
    the footer-less page, the address typed back)."""
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'<strong class="contact">[^<]*</strong>', "", html)


def test_the_page_asks_for_one_address_with_a_protected_form(client):
    response = client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Find your tickets</h1>" in html
    assert 'type="email" name="email"' in html and 'autocomplete="email"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "css/purchase.css" in html
    assert html.count("<input") == 2  # the address and the CSRF token


def test_a_post_without_the_csrf_token_is_refused():
    response = Client(enforce_csrf_checks=True).post(URL, {"email": "a@example.com"})
    assert response.status_code == 403
    assert not _lookups()


def test_known_and_unknown_addresses_get_the_same_answer(ticket_type):
    order = make_paid_order(ticket_type, 2, email="ana@example.com")
    known = _find(Client(), "ana@example.com")
    unknown = _find(Client(), "nobody@example.com")

    assert known.status_code == unknown.status_code == 200
    assert NEUTRAL in known.content.decode()
    assert _answer(known) == _answer(unknown)
    assert "nobody@example.com" in unknown.content.decode()  # to spot a typo
    # One email, to the buyer only, linking their order.
    [message] = _lookups()
    assert message.to == "ana@example.com"
    email = build_email(message)
    order_url = site_url("purchase", "purchase:order", order.token, absolute=True)
    assert order_url in email.body and "2 tickets" in email.body


def test_only_the_askers_orders_are_listed_whatever_the_case(ticket_type):
    mine = make_paid_order(ticket_type, 1, email="ana@example.com")
    theirs = make_paid_order(ticket_type, 1, email="bo@example.com")
    _find(Client(), "ANA@Example.com")
    [message] = _lookups()
    body = build_email(message).body
    assert mine.token in body and mine.code in body
    assert theirs.token not in body and theirs.code not in body


@pytest.mark.parametrize(
    ("email", "error"),
    [
        ("", "Please enter the email address you bought the tickets with."),
        ("ana@", "Please enter a valid email address, like name@example.com."),
        ("not an address", "Please enter a valid email address"),
    ],
)
def test_a_bad_address_is_explained_and_nothing_is_sent(ticket_type, email, error):
    make_paid_order(ticket_type, 1, email="ana@example.com")
    response = _find(Client(), email)
    html = response.content.decode()
    assert response.status_code == 400
    assert error in html
    assert 'aria-invalid="true"' in html and NEUTRAL not in html
    assert not _lookups()


def test_one_email_per_address_per_window_and_the_same_answer(ticket_type):
    make_paid_order(ticket_type, 1, email="ana@example.com")
    first = _find(Client(), "ana@example.com", ip="10.0.0.1")
    # Another network, another case: still the same address.
    again = _find(Client(), "Ana@Example.com", ip="10.0.0.2")
    assert first.status_code == again.status_code == 200
    assert NEUTRAL in again.content.decode()
    assert len(_lookups()) == 1
    # The window over, it may be sent again.
    throttle.reset(throttle.lookup_address_key("ana@example.com"))
    _find(Client(), "ana@example.com")
    assert len(_lookups()) == 2


def test_one_network_is_stopped_after_its_requests_for_the_hour(ticket_type):
    make_paid_order(ticket_type, 1, email="ana@example.com")
    client = Client()
    for n in range(throttle.LOOKUP_MAX_REQUESTS):
        assert _find(client, f"someone{n}@example.com").status_code == 200
    blocked = _find(client, "ana@example.com")
    html = blocked.content.decode()
    assert blocked.status_code == 429
    assert "Too many requests from this network. Try again in an hour." in html
    assert NEUTRAL not in html and not _lookups()
    # Another network is not held back.
    assert NEUTRAL in _find(Client(), "ana@example.com", ip="10.0.0.9").content.decode()
    assert len(_lookups()) == 1


def test_requests_sent_together_get_no_more_than_the_networks(ticket_type, monkeypatch):
    send_together(monkeypatch)
    answers = [
        _find(Client(), f"someone{n}@example.com").status_code
        for n in range(throttle.LOOKUP_MAX_REQUESTS + 2)
    ]
    assert answers.count(200) == throttle.LOOKUP_MAX_REQUESTS
    assert answers.count(429) == 2


def test_bad_addresses_do_not_use_up_the_networks_requests(ticket_type):
    make_paid_order(ticket_type, 1, email="ana@example.com")
    client = Client()
    for _ in range(throttle.LOOKUP_MAX_REQUESTS):
        _find(client, "typo@")
    assert _find(client, "ana@example.com").status_code == 200
    assert len(_lookups()) == 1


def test_the_address_is_never_logged_nor_kept_in_clear(ticket_type, caplog):
    from django.core.cache import cache

    make_paid_order(ticket_type, 1, email="ana@example.com")
    with caplog.at_level(logging.INFO):
        _find(Client(), "ana@example.com")
        _find(Client(), "ana@example.com")
    assert "Tickets lookup: message" in caplog.text
    assert "asked again" in caplog.text
    assert "ana@example.com" not in caplog.text
    keys = list(cache._cache)  # the test's private locmem cache
    assert keys and not any("ana" in key for key in keys)


def test_customer_pages_and_the_confirmation_lead_to_it(ticket_type):
    page = Client().get("/buy/").content.decode()
    assert f'href="{URL}"' in page  # on the event list, and in its footer
    assert "Lost your tickets?" in page
    assert "Lost your tickets?" in Client().get("/").content.decode()
    order = make_paid_order(ticket_type, 1, email="ana@example.com")
    confirmation = build_email(order.messages.get(kind="order_confirmation"))
    find_url = site_url("purchase", "purchase:find_tickets", absolute=True)
    assert f"Lost this email? Find your tickets at {find_url}\n" in confirmation.body
    html, _ = confirmation.alternatives[0]
    assert f'href="{find_url}"' in html


def test_with_its_own_host_the_footer_links_to_the_purchase_site(settings):
    settings.MARKETING_HOST = "www.example.com"
    settings.PURCHASE_HOST = "tickets.example.com"
    settings.ALLOWED_HOSTS = ["www.example.com", "tickets.example.com"]
    settings.SITE_SCHEME = "https"
    page = Client().get("/", HTTP_HOST="www.example.com").content.decode()
    assert 'href="https://tickets.example.com/find/"' in page
    response = Client().get("/find/", HTTP_HOST="tickets.example.com")
    assert response.status_code == 200
