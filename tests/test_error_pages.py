"""Error pages (ticketing/errors.py): each in its site's layout, with plain
words and a way on; JSON for the APIs. Run with DEBUG off, as in production.

This module is also a URLconf (for the 500 tests): the combined one plus
views that raise, with the combined URLconf's own handlers.
"""

import logging

import pytest
from django.http import HttpRequest
from django.test import Client, override_settings
from django.urls import path

from ticketing import urls as combined_urls
from ticketing import urls_marketing, urls_purchase, urls_scanner

pytestmark = pytest.mark.django_db

HOSTS = {
    "MARKETING_HOST": "www.example.com",
    "PURCHASE_HOST": "tickets.example.com",
    "SCANNER_HOST": "door.example.com",
    "ALLOWED_HOSTS": ["www.example.com", "tickets.example.com", "door.example.com"],
    "SITE_SCHEME": "https",
}
CUSTOMER_MENU = '<a href="/buy/">Buy tickets</a>'
CUSTOMER_FOOTER = "Tickets are delivered by email with a QR code"
STAFF_BRAND = "Nightpass Staff"


def explode(request: HttpRequest):
    raise RuntimeError("a bug")


urlpatterns = [
    path("boom/", explode),
    path("buy/boom/", explode),
    path("scanner/boom/", explode),
    path("api/v1/boom", explode),
    *combined_urls.urlpatterns,
]
handler500 = combined_urls.handler500


@pytest.fixture(autouse=True)
def _debug_off(settings):
    settings.DEBUG = False


def _staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _is_staff_layout(html: str) -> bool:
    return (
        STAFF_BRAND in html
        and CUSTOMER_MENU not in html
        and CUSTOMER_FOOTER not in html
    )


def _is_customer_layout(html: str) -> bool:
    return STAFF_BRAND not in html and CUSTOMER_MENU in html and CUSTOMER_FOOTER in html


# --- Every site names the same handlers ---------------------------------------


@pytest.mark.parametrize(
    "urlconf", [combined_urls, urls_marketing, urls_purchase, urls_scanner]
)
def test_every_urlconf_uses_the_project_error_pages(urlconf):
    assert urlconf.handler403 == "ticketing.errors.permission_denied"
    assert urlconf.handler404 == "ticketing.errors.page_not_found"
    assert urlconf.handler500 == "ticketing.errors.server_error"


def test_a_refused_form_has_the_project_page(settings):
    assert settings.CSRF_FAILURE_VIEW == "ticketing.errors.csrf_failure"


# --- 404 ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/nope/", "/buy/nope/", "/buy/o/not-a-token/"])
def test_a_wrong_customer_address_says_the_page_is_not_found(client, url):
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 404
    assert "We can't find that page" in html
    assert "on sale" not in html
    assert _is_customer_layout(html)
    assert 'href="/">See upcoming events' in html or 'href="/buy/">See' in html


@pytest.mark.parametrize(
    "url", ["/events/{slug}/", "/buy/events/{slug}/", "/buy/events/nope/"]
)
def test_an_event_page_that_is_gone_says_it_is_not_on_sale(client, url):
    from tests.factories import EventFactory

    off_sale = EventFactory(name="Gone Night", is_active=False)
    response = client.get(url.format(slug=off_sale.slug))
    html = response.content.decode()
    assert response.status_code == 404
    assert "This event isn't on sale" in html
    assert "find that page" not in html
    assert _is_customer_layout(html)


def test_a_wrong_staff_address_has_the_staff_layout_and_sends_door_staff_to_the_door(
    door,
):
    response = _staff_client(door).get("/scanner/nope/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "We can't find that page" in html
    assert "on sale" not in html
    assert _is_staff_layout(html)
    assert 'href="/scanner/door/">Door</a>' in html  # the staff menu
    assert 'href="/scanner/door/">Go to the Door</a>' in html


def test_a_wrong_staff_address_sends_managers_to_the_console(manager):
    html = _staff_client(manager).get("/scanner/nope/").content.decode()
    assert _is_staff_layout(html)
    assert 'href="/scanner/">Back to the console</a>' in html


def test_a_wrong_staff_address_offers_sign_in_to_strangers(client):
    html = client.get("/scanner/nope/").content.decode()
    assert _is_staff_layout(html)
    assert 'href="/scanner/login/">Sign in as staff</a>' in html


@override_settings(**HOSTS)
def test_each_host_gets_its_own_sites_404(door):
    staff = _staff_client(door).get("/nope/", HTTP_HOST="door.example.com")
    assert staff.status_code == 404
    assert _is_staff_layout(staff.content.decode())
    assert "https://door.example.com/door/" in staff.content.decode()

    buyer = Client().get("/nope/", HTTP_HOST="tickets.example.com")
    html = buyer.content.decode()
    assert buyer.status_code == 404
    assert STAFF_BRAND not in html and CUSTOMER_FOOTER in html
    assert 'href="https://tickets.example.com/">See upcoming events' in html

    event_page = Client().get("/events/nope/", HTTP_HOST="www.example.com")
    assert "This event isn't on sale" in event_page.content.decode()


# --- 403 ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/scanner/analytics/", "/scanner/orders/"])
def test_door_staff_refused_a_console_page_see_the_staff_layout(door, url):
    response = _staff_client(door).get(url)
    html = response.content.decode()
    assert response.status_code == 403
    assert "Your role cannot open this page." in html
    assert _is_staff_layout(html)
    assert 'href="/scanner/door/">Go to the Door</a>' in html


def test_a_manager_refused_an_owners_page_goes_back_to_the_console(manager):
    response = _staff_client(manager).get("/scanner/staff/")
    html = response.content.decode()
    assert response.status_code == 403
    assert _is_staff_layout(html)
    assert 'href="/scanner/">Back to the console</a>' in html


# --- The APIs keep answering JSON -----------------------------------------------


@pytest.mark.parametrize(
    "url", ["/api/v1/nope", "/functions/v1/nope", "/api/v1/door/x/snapshot"]
)
def test_a_wrong_api_address_answers_json(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "Nothing is at this address.",
    }


def test_the_apis_own_errors_are_unchanged(client, door, event):
    unknown = client.get("/api/v1/events/nope/availability")
    assert unknown.status_code == 404
    assert unknown.json() == {"code": "event_not_found", "message": "No such event."}

    from tests.factories import UserFactory

    stranger = _staff_client(UserFactory())
    refused = stranger.get(f"/api/v1/door/{event.id}/snapshot")
    assert refused.status_code == 403
    assert set(refused.json()) == {"code", "message"}
    assert refused.json()["code"] == "permission_denied"


# --- A refused form (CSRF) ---------------------------------------------------------


@pytest.fixture
def browser_without_cookies() -> Client:
    """A browser whose cookies were cleared after the form was shown."""
    return Client(enforce_csrf_checks=True)


def test_a_refused_buy_form_goes_back_to_the_event(
    browser_without_cookies, ticket_type
):
    event = ticket_type.event
    response = browser_without_cookies.post(
        f"/buy/events/{event.slug}/",
        {f"qty_{ticket_type.id}": "2", "name": "Ana", "email": "ana@example.com"},
        HTTP_REFERER="https://elsewhere.example.org/",
    )
    html = response.content.decode()
    assert response.status_code == 403
    assert (
        "This page was open too long or your browser blocked cookies. "
        "Go back, reload the page and try again."
    ) in html
    assert f'href="/buy/events/{event.slug}/" data-back-link>Back to the event' in html
    assert "you have not been charged" in html
    assert _is_customer_layout(html)
    assert "More information is available with DEBUG=True" not in html
    assert not event.orders.exists()


def test_a_refused_waitlist_form_goes_back_to_the_event(browser_without_cookies, event):
    response = browser_without_cookies.post(
        f"/buy/events/{event.slug}/waitlist/", {"name": "Ana"}
    )
    assert response.status_code == 403
    assert (
        f'href="/buy/events/{event.slug}/" data-back-link' in response.content.decode()
    )


def test_a_refused_staff_sign_in_goes_back_to_the_sign_in_page(browser_without_cookies):
    response = browser_without_cookies.post(
        "/scanner/login/",
        {"username": "door1", "password": "x"},
        HTTP_REFERER="http://testserver/scanner/login/?next=/scanner/door/",
    )
    html = response.content.decode()
    assert response.status_code == 403
    assert "your browser blocked cookies" in html
    assert _is_staff_layout(html)
    assert (
        'href="http://testserver/scanner/login/?next=/scanner/door/" data-back-link'
        in html
    )


def test_a_refused_form_without_a_same_site_referer_goes_to_the_sites_home(
    browser_without_cookies,
):
    for referer in ("https://evil.example.org/scanner/login/", ""):
        response = browser_without_cookies.post(
            "/scanner/login/", {"username": "x"}, HTTP_REFERER=referer
        )
        assert 'href="/scanner/" data-back-link' in response.content.decode()


def test_a_refused_form_for_signed_in_door_staff_keeps_their_menu(door):
    client = Client(enforce_csrf_checks=True)
    client.force_login(door)
    response = client.post(
        "/scanner/logout/", HTTP_REFERER="http://testserver/scanner/door/"
    )
    html = response.content.decode()
    assert response.status_code == 403
    assert _is_staff_layout(html)
    assert 'href="http://testserver/scanner/door/" data-back-link' in html


def test_a_refused_form_logs_djangos_reason_once_without_the_path(
    browser_without_cookies, ticket_type, caplog
):
    from tests.factories import make_held_order

    order = make_held_order(ticket_type, 1)
    with caplog.at_level(logging.INFO):
        browser_without_cookies.post(f"/buy/o/{order.token}/pay/", {"action": "pay"})
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    line = warnings[0].getMessage()
    assert "CSRF cookie not set." in line
    assert "purchase:pay_order" in line
    assert order.token not in line


def test_a_refused_form_logs_no_url_from_djangos_reason(rf, caplog):
    """Django quotes the Referer in some reasons; its path may hold a token."""
    from ticketing.errors import csrf_failure

    reason = (
        "Referer checking failed - https://tickets.example.com/buy/o/tok123/pay/ "
        "does not match any trusted origins."
    )
    with caplog.at_level(logging.WARNING):
        csrf_failure(rf.post("/buy/o/tok123/pay/"), reason=reason)
    line = caplog.records[-1].getMessage()
    assert "Referer checking failed - <url> does not match" in line
    assert "tok123" not in line


def test_a_refused_api_call_answers_json_in_drfs_shape(rf):
    from ticketing.errors import csrf_failure

    response = csrf_failure(rf.post("/api/v1/scan"), reason="CSRF token missing.")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert b'"CSRF Failed: CSRF token missing."' in response.content


def test_session_scans_without_the_token_are_still_refused_in_json(door, event):
    client = Client(enforce_csrf_checks=True)
    client.force_login(door)
    response = client.post(
        "/api/v1/scan",
        {"event": str(event.id), "code": "x"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["message"].startswith("CSRF Failed")


# --- 500 ------------------------------------------------------------------------


@pytest.fixture
def crashing_client(settings) -> Client:
    settings.ROOT_URLCONF = __name__
    return Client(raise_request_exception=False)


def test_a_server_error_shows_the_branded_page(crashing_client):
    response = crashing_client.get("/boom/")
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html
    assert "Nightpass" in html and STAFF_BRAND not in html
    assert 'href="/">Go to the home page</a>' in html
    assert "<style>" in html and "{%" not in html and "{{" not in html
    assert "Server Error (500)" not in html


def test_a_server_error_on_the_buy_site_links_to_its_home(crashing_client):
    html = crashing_client.get("/buy/boom/").content.decode()
    assert 'href="/buy/">Go to the home page</a>' in html


def test_a_server_error_on_the_staff_site_links_to_the_console(crashing_client, door):
    crashing_client.force_login(door)
    html = crashing_client.get("/scanner/boom/").content.decode()
    assert STAFF_BRAND in html
    assert 'href="/scanner/">Back to the console</a>' in html


def test_a_server_error_in_an_api_answers_json(crashing_client):
    response = crashing_client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


def test_djangos_own_500_view_renders_the_page_without_a_context(rf):
    from django.views.defaults import server_error

    response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b'href="/"' in response.content


@override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"])
def test_an_unknown_host_gets_a_plain_branded_page_not_djangos_bare_400(client):
    response = client.get("/", HTTP_HOST="not-ours.example.org")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-error="400"' in html and "Nightpass" in html
    assert 'href="/"' in html
