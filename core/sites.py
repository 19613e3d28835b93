"""Links between the three sites, which may live on different hosts."""

from django.conf import settings
from django.urls import reverse

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
