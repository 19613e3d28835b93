import re
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache, caches
from django.db import connections
from django.test import Client

from core.models import Role
from core.services.staff import invite_staff
from scanner import throttle
from tests.bursts import send_together
from tests.factories import make_staff

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
LOGIN = "/scanner/login/"


@pytest.fixture(autouse=True)
def _fresh_cache(settings, request):
    """A private in-memory cache per test, so counts never leak between tests.

    (Clearing a shared Redis would wipe other data; the Redis path has its own
    test below.)
    """
    if "redis_url" in request.fixturenames:
        return
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"throttle-{uuid.uuid4()}",
        }
    }


def _login(client, username, password, ip="10.0.0.1"):
    return client.post(
        LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_staff_sign_in_with_username_or_email_and_sign_out(client, owner):
    response = _login(client, "owner1", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/scanner/"
    client.post("/scanner/logout/")
    assert client.get("/scanner/").status_code == 302
    response = _login(client, "OWNER1@example.com", PASSWORD)
    assert response.status_code == 302


def test_wrong_password_gets_a_clear_message(client, owner):
    response = _login(client, "owner1", "nope")
    assert response.status_code == 200
    assert "username or password is not right" in response.content.decode()


def test_login_is_blocked_after_repeated_failures_per_ip_and_username(client, owner):
    for _ in range(throttle.LOGIN_MAX_FAILURES):
        _login(client, "owner1", "wrong")
    response = _login(client, "owner1", PASSWORD)
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another network, or another username from this one, is not blocked.
    assert _login(client, "owner1", PASSWORD, ip="10.0.0.2").status_code == 302


def test_guesses_from_one_ipv6_64_count_together(client, owner):
    """An IPv6 subscriber picks any address of their /64: one per guess would
    be no limit at all."""
    for n in range(throttle.LOGIN_MAX_FAILURES):
        _login(client, "owner1", "wrong", ip=f"2001:db8:5:6::{n + 1:x}")

    same_64 = _login(client, "owner1", PASSWORD, ip="2001:db8:5:6:abcd::1")
    other_64 = _login(client, "owner1", PASSWORD, ip="2001:db8:5:7::1")

    assert "Too many failed sign-in attempts" in same_64.content.decode()
    assert other_64.status_code == 302


def test_a_successful_sign_in_clears_the_failure_count(client, owner):
    for _ in range(throttle.LOGIN_MAX_FAILURES - 1):
        _login(client, "owner1", "wrong")
    assert _login(client, "owner1", PASSWORD).status_code == 302
    client.post("/scanner/logout/")
    for _ in range(throttle.LOGIN_MAX_FAILURES - 1):
        _login(client, "owner1", "wrong")
    assert _login(client, "owner1", PASSWORD).status_code == 302


def _checked_passwords(monkeypatch) -> list[str]:
    """The passwords the sign-in form checks from now on."""
    import django.contrib.auth.forms as auth_forms

    checked = []
    real = auth_forms.authenticate

    def spy(request, **credentials):
        checked.append(credentials.get("password"))
        return real(request, **credentials)

    monkeypatch.setattr(auth_forms, "authenticate", spy)
    return checked


def test_guesses_sent_together_get_no_more_than_the_limit(client, owner, monkeypatch):
    send_together(monkeypatch)
    checked = _checked_passwords(monkeypatch)
    answers = [_login(client, "owner1", f"wrong-{n}") for n in range(8)]
    assert len(checked) == throttle.LOGIN_MAX_FAILURES
    assert sum("Too many failed" in r.content.decode() for r in answers) == 3


def _guess_in_parallel(username: str, n: int) -> list[str]:
    """`n` wrong guesses for `username`, sent at once from one network."""
    barrier = threading.Barrier(n)
    verdicts = []

    def guess(i):
        try:
            client = Client()
            barrier.wait()
            html = _login(client, username, f"wrong-{i}").content.decode()
            verdicts.append(
                "throttled"
                if "Too many failed" in html
                else "checked"
                if "not right" in html
                else "?"
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return verdicts


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_get_no_more_than_the_limit(monkeypatch):
    make_staff(Role.OWNER, username="victim")
    checked = _checked_passwords(monkeypatch)
    verdicts = _guess_in_parallel("victim", 12)
    assert verdicts.count("checked") == throttle.LOGIN_MAX_FAILURES, verdicts
    assert verdicts.count("throttled") == 12 - throttle.LOGIN_MAX_FAILURES
    assert len(checked) == throttle.LOGIN_MAX_FAILURES


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_get_no_more_than_the_limit_on_redis(redis_url):
    username = f"victim-{uuid.uuid4().hex[:8]}"
    make_staff(Role.OWNER, username=username)
    key = throttle.login_key(_request_from("10.0.0.1"), username)
    try:
        verdicts = _guess_in_parallel(username, 12)
        assert verdicts.count("checked") == throttle.LOGIN_MAX_FAILURES, verdicts
    finally:
        cache.delete(key)


def _request_from(ip):
    from django.test import RequestFactory

    return RequestFactory().post(LOGIN, REMOTE_ADDR=ip)


def test_the_username_and_the_email_share_one_allowance(client, owner):
    for _ in range(3):
        _login(client, "owner1", "wrong")
    for _ in range(2):
        _login(client, "Owner1@Example.com", "wrong")
    for typed in ("owner1", "owner1@example.com"):
        response = _login(client, typed, PASSWORD)
        assert "Too many failed" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_names_of_no_account_are_limited_and_answered_alike(client, owner):
    answers = [
        _login(client, typed, "wrong").content.decode()
        for typed in ("nobody", "nobody@example.com")
        for _ in range(throttle.LOGIN_MAX_FAILURES + 1)
    ]
    n = throttle.LOGIN_MAX_FAILURES
    assert ["Too many failed" in html for html in answers] == (
        [False] * n + [True] + [False] * n + [True]
    )
    known = _login(client, "owner1", "wrong").content.decode()
    assert "username or password is not right" in known
    assert "username or password is not right" in answers[0]


def test_an_account_without_staff_role_cannot_sign_in(client):
    get_user_model().objects.create_user("customer", "c@example.com", PASSWORD)
    response = _login(client, "customer", PASSWORD)
    assert "has no staff role" in response.content.decode()


def test_password_reset_by_email_end_to_end(client, owner, mailoutbox):
    response = client.post("/scanner/password-reset/", {"email": "owner1@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/scanner/password-reset/sent/"
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["owner1@example.com"] and "\n" not in mail.subject
    assert mail.alternatives  # an HTML part too
    link = re.search(r"http://testserver(/scanner/password-reset/\S+/)", mail.body)[1]
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "fresh-Lantern-42", "new_password2": "fresh-Lantern-42"},
    )
    assert response["Location"] == "/scanner/password-reset/done/"
    assert _login(client, "owner1", "fresh-Lantern-42").status_code == 302


def test_password_reset_for_unknown_email_sends_nothing_but_says_the_same(
    client, mailoutbox
):
    response = client.post("/scanner/password-reset/", {"email": "who@example.com"})
    assert response.status_code == 302 and mailoutbox == []


def test_password_reset_requests_are_limited_per_ip(client, owner, mailoutbox):
    for _ in range(throttle.RESET_MAX_REQUESTS):
        client.post("/scanner/password-reset/", {"email": "owner1@example.com"})
    response = client.post("/scanner/password-reset/", {"email": "owner1@example.com"})
    assert response.status_code == 200
    assert "Too many password reset requests" in response.content.decode()
    assert len(mailoutbox) == throttle.RESET_MAX_REQUESTS


def test_password_resets_sent_together_get_no_more_than_the_limit(
    client, owner, mailoutbox, monkeypatch
):
    send_together(monkeypatch)
    answers = [
        client.post("/scanner/password-reset/", {"email": "owner1@example.com"})
        for _ in range(throttle.RESET_MAX_REQUESTS + 3)
    ]
    assert len(mailoutbox) == throttle.RESET_MAX_REQUESTS
    assert [r.status_code for r in answers].count(200) == 3


def test_invited_person_sets_a_password_and_is_signed_in(client, owner):
    invite = invite_staff(actor=owner, email="dee@example.com", role=Role.DOOR)
    url = f"/scanner/invite/{invite.token}/"
    page = client.get(url).content.decode()
    assert "Door staff" in page and 'value="dee"' in page
    bad = client.post(
        url,
        {
            "first_name": "Dee",
            "username": "dee",
            "password": "short",
            "password_again": "different",
        },
    )
    assert bad.status_code == 200
    html = bad.content.decode()
    assert "The two passwords differ." in html
    response = client.post(
        url,
        {
            "first_name": "Dee",
            "username": "dee",
            "password": "lantern-Orchid-73",
            "password_again": "lantern-Orchid-73",
        },
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"]
    # Still signed in on the next page: the session names a backend in use.
    home = client.get(response["Location"], follow=True)
    assert home.status_code == 200 and "/login/" not in home.wsgi_request.path
    assert home.wsgi_request.user.username == "dee"
    assert client.get(url).status_code == 410


def test_weak_password_on_invite_shows_next_to_the_field(client, owner):
    invite = invite_staff(actor=owner, email="dee@example.com", role=Role.DOOR)
    response = client.post(
        f"/scanner/invite/{invite.token}/",
        {
            "first_name": "Dee",
            "username": "dee",
            "password": "12345678",
            "password_again": "12345678",
        },
    )
    html = response.content.decode()
    assert 'id="id_password_error"' in html and "too common" in html
    assert not get_user_model().objects.filter(username="dee").exists()


def test_a_username_taken_meanwhile_is_answered_on_the_form_not_with_a_500(
    client, owner, monkeypatch
):
    from core.services import staff as staff_service

    invite = invite_staff(actor=owner, email="dee@example.com", role=Role.DOOR)
    checked = staff_service.validate_password

    def meanwhile_someone_else_joins(password, user=None):
        checked(password, user=user)
        get_user_model().objects.create_user(username="dee", password=PASSWORD)

    monkeypatch.setattr(
        staff_service, "validate_password", meanwhile_someone_else_joins
    )
    form = {
        "first_name": "Dee",
        "username": "dee",
        "password": "lantern-Orchid-73",
        "password_again": "lantern-Orchid-73",
    }
    url = f"/scanner/invite/{invite.token}/"
    response = client.post(url, form)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_username_error"' in html
    assert "That username was just taken; choose another." in html
    assert "_auth_user_id" not in client.session

    monkeypatch.setattr(staff_service, "validate_password", checked)
    assert client.post(url, form | {"username": "dee2"}).status_code == 302


def test_cookies_are_secure_and_http_only_when_debug_is_off(settings):
    # The settings module derives these from DEBUG; with it off they must be on.
    from tests.test_settings import PRODUCTION_ENV, _settings

    values = _settings(
        ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY"],
        **PRODUCTION_ENV,
    )
    assert values == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
    }


def test_failure_counts_live_in_the_shared_cache(redis_url):
    """On Redis (production's cache) counts add up and expire per key."""
    assert type(caches["default"]).__name__ == "RedisCache"
    key = throttle.login_key(None, f"someone-{uuid.uuid4()}")
    try:
        for _ in range(throttle.LOGIN_MAX_FAILURES - 1):
            throttle.record_failure(key)
        assert not throttle.is_blocked(key)
        assert throttle.record_failure(key) == throttle.LOGIN_MAX_FAILURES
        assert throttle.is_blocked(key)
        throttle.reset(key)
        assert not throttle.is_blocked(key)
    finally:
        cache.delete(key)
