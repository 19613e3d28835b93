"""Host-based routing: each configured host serves its own site's URLconf.

With no hosts configured every request uses the combined URLconf, where the
sites live under path prefixes.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

SITE_URLCONFS = {
    "marketing": "ticketing.urls_marketing",
    "purchase": "ticketing.urls_purchase",
    "scanner": "ticketing.urls_scanner",
}
COMBINED_URLCONF = "ticketing.urls"


HOST_SETTINGS = {
    "marketing": "MARKETING_HOST",
    "purchase": "PURCHASE_HOST",
    "scanner": "SCANNER_HOST",
}
# Built on first use and kept: settings only change in tests, which say so.
_configured_hosts: dict[str, str] | None = None


def configured_hosts() -> dict[str, str]:
    """Map each configured host name (without port) to its site."""
    global _configured_hosts
    if _configured_hosts is None:
        hosts = {site: getattr(settings, name) for site, name in HOST_SETTINGS.items()}
        _configured_hosts = {
            host.split(":")[0].lower(): site for site, host in hosts.items() if host
        }
    return _configured_hosts


@receiver(setting_changed)
def forget_configured_hosts(*, setting: str, **kwargs) -> None:
    global _configured_hosts
    if setting in HOST_SETTINGS.values():
        _configured_hosts = None


def site_for_host(host: str) -> str | None:
    return configured_hosts().get(host.split(":")[0].lower())


def urlconf_for_host(host: str) -> str:
    site = site_for_host(host)
    return SITE_URLCONFS[site] if site else COMBINED_URLCONF


class SiteRoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        hosts = configured_hosts()
        site = hosts.get(request.get_host().split(":")[0].lower()) if hosts else None
        request.site_name = site
        if site:
            request.urlconf = SITE_URLCONFS[site]
        return self.get_response(request)
