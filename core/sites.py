"""Links between the three sites, which may live on different hosts."""

import functools
import re

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, get_urlconf, reverse

from ticketing.hosts import COMBINED_URLCONF, SITE_URLCONFS

SITE_HOST_SETTINGS = {
    "marketing": "MARKETING_HOST",
    "purchase": "PURCHASE_HOST",
    "scanner": "SCANNER_HOST",
}


def site_url(site: str, viewname: str, *args, absolute: bool = False, **kwargs) -> str:
    """URL of a view on `site`: absolute when sites have their own hosts.

    `absolute=True` also makes single-host links absolute (for emails and SMS).
    """
    host = getattr(settings, SITE_HOST_SETTINGS[site])
    if host:
        path = reverse(viewname, urlconf=SITE_URLCONFS[site], args=args, kwargs=kwargs)
        return f"{settings.SITE_SCHEME}://{host}{path}"
    path = reverse(viewname, urlconf=COMBINED_URLCONF, args=args, kwargs=kwargs)
    return f"{settings.PUBLIC_BASE_URL}{path}" if absolute else path


# What secrets.token_urlsafe makes: reversing and quoting leave it as it is.
_URL_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_STAND_IN = "tokenstandin"


def token_path(viewname: str, token: str) -> str:
    """reverse(viewname, args=[token]) for a view whose one argument is a
    `<str:...>` token (an order's, say), at a fraction of the cost.

    reverse() cost a checkout 0.17 M instructions a call (three calls: the
    payment page and the two ways back from it). The view's path is reversed
    once per URL configuration and script prefix around a stand-in, and a
    URL-safe token put in its place; any other token is reversed as before.
    """
    if _URL_SAFE_TOKEN.fullmatch(token):
        around = _path_around_token(viewname, get_urlconf(), get_script_prefix())
        if around is not None:
            return f"{around[0]}{token}{around[1]}"
    return reverse(viewname, args=[token])


@functools.lru_cache(maxsize=64)
def _path_around_token(viewname: str, urlconf, script_prefix: str):
    """(before, after) the token in the view's path, for this thread's URL
    configuration and script prefix (the arguments key the cache)."""
    path = reverse(viewname, args=[_STAND_IN])
    before, found, after = path.partition(_STAND_IN)
    if not found or _STAND_IN in after:
        return None
    return before, after


@receiver(setting_changed)
def _forget_paths(**kwargs) -> None:
    _path_around_token.cache_clear()
