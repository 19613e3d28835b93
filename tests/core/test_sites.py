"""core.sites.token_path: what reverse() gives, for every site and prefix."""

import pytest
from django.urls import (
    NoReverseMatch,
    get_script_prefix,
    reverse,
    set_script_prefix,
    set_urlconf,
)

from core.models.orders import new_access_token
from core.sites import token_path
from ticketing.hosts import COMBINED_URLCONF, SITE_URLCONFS

TOKENS = [new_access_token(), "a", "-_9Z"]


@pytest.fixture
def restore_routing():
    prefix = get_script_prefix()
    yield
    set_urlconf(None)
    set_script_prefix(prefix)


@pytest.mark.parametrize(
    "viewname",
    [
        "purchase:checkout_return",
        "purchase:checkout_cancel",
        "purchase:simulated_pay",
        "purchase:order",
    ],
)
def test_a_token_path_is_the_reversed_path(restore_routing, viewname):
    for urlconf in (None, COMBINED_URLCONF, SITE_URLCONFS["purchase"]):
        for prefix in ("/", "/under/"):
            set_urlconf(urlconf)
            set_script_prefix(prefix)
            for token in TOKENS:
                expected = reverse(viewname, args=[token])
                assert token_path(viewname, token) == expected
                assert token_path(viewname, token) == expected  # from the cache


@pytest.mark.parametrize("token", ["a/b", "with space", "café", "100%", "a\x00b"])
def test_a_token_reverse_refuses_is_refused(token):
    """Token paths take only token_urlsafe's alphabet (ticketing/converters.py)."""
    with pytest.raises(NoReverseMatch):
        reverse("purchase:order", args=[token])
    with pytest.raises(NoReverseMatch):
        token_path("purchase:order", token)
