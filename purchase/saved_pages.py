"""Ticket and order pages kept on the customer's device, for a venue with no signal.

The purchase service worker (templates/purchase/saved_pages_sw.js) keeps a
copy of each ticket or order page opened on the device, and the static
files those pages use. It is registered once per kind of page, scoped to
that kind's path, so it controls nothing else: not the event pages, not
checkout or payment, not the APIs.
"""

from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone

# The latest pages opened on a device that it keeps.
MAX_SAVED_PAGES = 20

# What the ticket and order pages load (base.html and their own templates).
# A saved page's response lists them (OFFLINE_ASSETS_HEADER) and the
# service worker keeps them as long as it keeps a page that needs them.
SAVED_PAGE_ASSETS = (
    "css/app.css",
    "css/purchase.css",
    "js/live.js",
    "js/saved-pages.js",
    "img/favicon.svg",
)
OFFLINE_ASSETS_HEADER = "X-Offline-Assets"

SAVED_PAGE_KINDS = ("ticket", "order")


def saved_page_paths() -> dict[str, str]:
    """Each kind's path, which scopes its registration: /buy/t/ and /buy/o/
    with the sites under path prefixes, /t/ and /o/ on the purchase host."""
    return {
        kind: reverse(f"purchase:{kind}", args=["_"]).removesuffix("_/")
        for kind in SAVED_PAGE_KINDS
    }


def saved_page_assets() -> list[str]:
    return [static(name) for name in SAVED_PAGE_ASSETS]


def saved_page(kind: str, token: str) -> dict:
    """What a ticket or order page needs to ask to be kept
    (static/js/saved-pages.js), and the time the saved copy will say it
    was taken."""
    return {
        "url": reverse(f"purchase:{kind}", args=[token]),
        "worker": reverse("purchase:saved_pages_sw"),
        "scope": saved_page_paths()[kind],
        "saved_at": timezone.now(),
    }
