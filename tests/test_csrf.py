import random
from collections import Counter

import pytest
from django.http import HttpResponse
from django.middleware import csrf as django_csrf
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.test import RequestFactory

from ticketing import csrf

rng = random.Random(11)


def _text(length: int) -> str:
    return "".join(rng.choice(csrf.CHARS) for _ in range(length))


def test_they_are_the_ones_django_uses():
    assert django_csrf._get_new_csrf_string is csrf.new_csrf_string
    assert django_csrf._mask_cipher_secret is csrf.mask_cipher_secret
    assert django_csrf._unmask_cipher_token is csrf.unmask_cipher_token


def test_a_secret_masks_as_djangos_does_with_the_same_mask(monkeypatch):
    for _ in range(300):
        secret, mask = _text(32), _text(32)
        monkeypatch.setattr(django_csrf, "_get_new_csrf_string", lambda mask=mask: mask)
        ours = csrf.mask_cipher_secret(secret)
        assert ours == csrf.DJANGO_MASK_CIPHER_SECRET(secret)
        assert ours.startswith(mask) and len(ours) == 64


def test_a_token_unmasks_as_djangos_does():
    for length in (0, 5, 32, 40, 63, 64, 64, 64, 70):
        for _ in range(40):
            token = _text(length)
            assert csrf.unmask_cipher_token(token) == csrf.DJANGO_UNMASK_CIPHER_TOKEN(
                token
            )


def test_unmasking_undoes_masking():
    for _ in range(200):
        secret = csrf.new_csrf_string()
        assert csrf.unmask_cipher_token(csrf.mask_cipher_secret(secret)) == secret


@pytest.mark.parametrize("bad", ["-", "é", " ", "\xff", "\x00"])
def test_a_character_outside_the_alphabet_fails_as_in_django(bad):
    token = _text(40) + bad + _text(23)
    with pytest.raises(ValueError, match="substring not found"):
        csrf.DJANGO_UNMASK_CIPHER_TOKEN(token)
    with pytest.raises(ValueError, match="substring not found"):
        csrf.unmask_cipher_token(token)
    with pytest.raises(ValueError, match="substring not found"):
        csrf.mask_cipher_secret(_text(10) + bad + _text(21))


def test_new_strings_are_32_characters_of_the_alphabet_all_drawn():
    drawn = [csrf.new_csrf_string() for _ in range(2000)]
    assert all(len(s) == 32 and set(s) <= set(csrf.CHARS) for s in drawn)
    assert len(set(drawn)) == len(drawn)
    # 64,000 characters: each of the 62 turns up about 1,000 times.
    counts = Counter("".join(drawn))
    assert set(counts) == set(csrf.CHARS)
    assert min(counts.values()) > 700 and max(counts.values()) < 1300


def test_a_page_token_passes_the_middleware_and_a_wrong_one_does_not():
    factory = RequestFactory()
    page = factory.get("/")
    token = get_token(page)
    secret = page.META["CSRF_COOKIE"]

    def post(form_token):
        request = factory.post("/", {"csrfmiddlewaretoken": form_token})
        request.COOKIES[django_csrf.settings.CSRF_COOKIE_NAME] = secret
        request._dont_enforce_csrf_checks = False
        middleware = CsrfViewMiddleware(lambda r: HttpResponse("ok"))
        middleware.process_request(request)
        return middleware.process_view(request, lambda r: None, (), {})

    assert post(token) is None  # accepted
    assert post(get_token(page)) is None  # another mask of the same secret
    refused = post(csrf.mask_cipher_secret(csrf.new_csrf_string()))
    assert refused is not None and refused.status_code == 403
