from django.conf import settings
from django.http import HttpRequest

from core.queries.staff import role_of
from core.sites import site_url


def site_links(request: HttpRequest) -> dict:
    """Top-level links to the three sites, right whether they share a host or not."""
    return site_home_links() | {"staff_role": role_of(getattr(request, "user", None))}


def site_home_links() -> dict:
    """The three sites' home links and the organiser's address for questions
    (SUPPORT_EMAIL, in the footer): the same for every visitor, so a page
    rendered once for everyone (purchase/shells.py) can show them too."""
    return {
        "marketing_home_url": site_url("marketing", "marketing:event_list"),
        "purchase_home_url": site_url("purchase", "purchase:event_list"),
        "scanner_home_url": site_url("scanner", "scanner:home"),
        "support_email": settings.SUPPORT_EMAIL,
    }
