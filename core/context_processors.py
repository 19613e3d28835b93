from django.http import HttpRequest

from core.queries.staff import role_of
from core.sites import site_url


def site_links(request: HttpRequest) -> dict:
    """Top-level links to the three sites, right whether they share a host or not."""
    return {
        "marketing_home_url": site_url("marketing", "marketing:event_list"),
        "purchase_home_url": site_url("purchase", "purchase:event_list"),
        "scanner_home_url": site_url("scanner", "scanner:home"),
        "staff_role": role_of(getattr(request, "user", None)),
    }
