"""Error pages in the layout of the site they happen on.

Each URLconf names these as its handler403/404/500, and settings name
`csrf_failure` as CSRF_FAILURE_VIEW. The staff site's pages wear the staff
layout and point door staff to the Door and everyone else to the console;
the customer sites keep theirs. API addresses answer the project's JSON
`{"code", "message"}` instead of a page.
"""

import logging
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.urls import get_script_prefix
from django.utils.http import url_has_allowed_host_and_scheme

from core.models import Role
from core.queries.staff import role_of
from core.sites import SITE_HOST_SETTINGS, site_url

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/functions/")
# Where each site lives in the combined URLconf (ticketing/urls.py), when the
# sites share one host. Written out rather than reversed, so that the 500
# page can be built even when the URLconf is what broke.
COMBINED_PREFIXES = {"scanner": "scanner/", "purchase": "buy/", "marketing": ""}
# Pages of one event: a 404 there means the event is off sale or its address
# is wrong, and a refused form there goes back to the event's page.
EVENT_PAGES = {"marketing:event_detail", "purchase:event", "purchase:waitlist_join"}
PURCHASE_EVENT_FORMS = {"purchase:event", "purchase:waitlist_join"}
LAYOUTS = {"scanner": "scanner/base_scanner.html"}
CUSTOMER_LAYOUT = "base.html"


def site_of(request: HttpRequest) -> str:
    """The site a request is for: its host's, or with no host of its own
    (the combined URLconf) the one its path prefix belongs to."""
    site = getattr(request, "site_name", None)
    if site:
        return site
    path = request.path_info
    if path.startswith(("/scanner/", "/api/")):
        return "scanner"
    if path.startswith("/buy/"):
        return "purchase"
    return "marketing"


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIXES)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """403: what was refused and where to go instead."""
    message = str(exception or "")
    if is_api(request):
        return JsonResponse(
            {
                "code": "permission_denied",
                "message": message or "You are not allowed to do that.",
            },
            status=403,
        )
    return _page(request, "403.html", {"message": message}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: an event's page says it is off sale, any other page that the
    address leads nowhere."""
    if is_api(request):
        return JsonResponse(
            {"code": "not_found", "message": "Nothing is at this address."},
            status=404,
        )
    match = getattr(request, "resolver_match", None)
    on_event_page = match is not None and match.view_name in EVENT_PAGES
    return _page(request, "404.html", {"event_page": on_event_page}, status=404)


# Django's reasons may quote the Referer ("Referer checking failed - https://…
# does not match any trusted origins"), whose path may hold an order's token.
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """403 for a form whose CSRF check failed (cookies cleared or blocked,
    or a page left open past a sign-in or sign-out): a way back to try again.

    Logs Django's reason with the view's name rather than the path, which
    may hold an order's token, and marks the answer logged so that Django
    does not log it again with the path.
    """
    match = getattr(request, "resolver_match", None)
    view_name = match.view_name if match else "no view"
    logger.warning(
        "CSRF check refused a %s to %s on the %s site: %s",
        request.method,
        view_name,
        site_of(request),
        _URL.sub("<url>", reason),
    )
    if is_api(request):
        # The shape DRF's own CSRF refusal has (door.js reads "CSRF" in it).
        response = JsonResponse(
            {"code": "permission_denied", "message": f"CSRF Failed: {reason}"},
            status=403,
        )
    else:
        response = _page(
            request,
            "403_csrf.html",
            {
                "back_url": _form_page(request)
                or _same_site_referer(request)
                or _site_home(request),
                "buy_form": view_name == "purchase:event",
                "reason": reason if settings.DEBUG else "",
            },
            status=403,
        )
    response._has_been_logged = True
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """500, rendered with no context processors and no URL reversing: the
    error may have come from either, or from the database they read."""
    if is_api(request):
        return JsonResponse(
            {
                "code": "server_error",
                "message": "Something went wrong on our side. Try again in a minute.",
            },
            status=500,
        )
    site = site_of(request)
    prefix = "" if getattr(request, "site_name", None) else COMBINED_PREFIXES[site]
    body = loader.get_template("500.html").render(
        {"home_url": f"{get_script_prefix()}{prefix}", "staff_site": site == "scanner"}
    )
    return HttpResponse(body, status=500)


def _page(
    request: HttpRequest, template: str, context: dict, *, status: int
) -> HttpResponse:
    """The error page in its site's layout, with the site's way onwards."""
    site = site_of(request)
    staff_site = site == "scanner"
    onward_url, onward_label = (
        _staff_way_back(request)
        if staff_site
        else (_site_home(request), "See upcoming events")
    )
    return render(
        request,
        template,
        {
            "error_layout": LAYOUTS.get(site, CUSTOMER_LAYOUT),
            "site": site,
            "staff_site": staff_site,
            "onward_url": onward_url,
            "onward_label": onward_label,
            **context,
        },
        status=status,
    )


def _staff_way_back(request: HttpRequest) -> tuple[str, str]:
    """Door staff go back to the Door; other staff to the console."""
    role = role_of(getattr(request, "user", None))
    if role == Role.DOOR:
        return site_url("scanner", "scanner:door"), "Go to the Door"
    if role:
        return site_url("scanner", "scanner:home"), "Back to the console"
    return site_url("scanner", "scanner:login"), "Sign in as staff"


def _site_home(request: HttpRequest) -> str:
    site = site_of(request)
    return site_url(site, f"{site}:{'home' if site == 'scanner' else 'event_list'}")


def _form_page(request: HttpRequest) -> str | None:
    """The event page a refused buy or waitlist form was on: the buyer goes
    back to the event they were buying for, whatever the Referer says."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name not in PURCHASE_EVENT_FORMS:
        return None
    return site_url("purchase", "purchase:event", slug=match.kwargs["slug"])


def _same_site_referer(request: HttpRequest) -> str | None:
    """The page the refused form was sent from, if it is one of ours."""
    referer = request.META.get("HTTP_REFERER", "")
    hosts = {request.get_host()}
    hosts.update(
        host
        for name in SITE_HOST_SETTINGS.values()
        if (host := getattr(settings, name))
    )
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts=hosts, require_https=request.is_secure()
    ):
        return referer
    return None
