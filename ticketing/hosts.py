"""Host-based routing: each configured host serves its own site's URLconf.

With no hosts configured every request uses the combined URLconf, where the
sites live under path prefixes.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

SITE_URLCONFS = {
    "marketing": "ticketing.urls_marketing",
    "purchase": "ticketing.urls_purchase",
    "scanner": "ticketing.urls_scanner",
}
COMBINED_URLCONF = "ticketing.urls"


def configured_hosts() -> dict[str, str]:
    """Map each configured host name (without port) to its site."""
    hosts = {
        "marketing": settings.MARKETING_HOST,
        "purchase": settings.PURCHASE_HOST,
        "scanner": settings.SCANNER_HOST,
    }
    return {host.split(":")[0].lower(): site for site, host in hosts.items() if host}


def site_for_host(host: str) -> str | None:
    return configured_hosts().get(host.split(":")[0].lower())


def urlconf_for_host(host: str) -> str:
    site = site_for_host(host)
    return SITE_URLCONFS[site] if site else COMBINED_URLCONF


class SiteRoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        site = site_for_host(request.get_host()) if configured_hosts() else None
        request.site_name = site
        if site:
            request.urlconf = SITE_URLCONFS[site]
        return self.get_response(request)
