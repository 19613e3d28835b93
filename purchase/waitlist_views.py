"""The customer's side of the waitlist: join, see one's place or offer, leave."""

import logging

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from core.exceptions import TicketingError
from core.models import WaitlistEntry
from core.queries.availability import get_event_availability
from core.queries.listings import public_event_by_slug
from core.queries.waitlist import position_in_line
from core.services.waitlist import join_waitlist, leave_waitlist
from purchase.waitlist_forms import WaitlistForm
from scanner import throttle

logger = logging.getLogger(__name__)

JOIN_TEMPLATE = "purchase/waitlist_join.html"
_MINUTES = throttle.WAITLIST_WINDOW_SECONDS // 60
BLOCKED = "Too many waitlist requests from this network. Please try again in " + (
    "an hour." if _MINUTES == 60 else f"{_MINUTES} minutes."
)


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str) -> HttpResponse:
    """Join, or be sent one's link again: the same answer either way.

    The answer never gives the entry's link: it goes only to the address, so
    whoever types someone else's address learns nothing and gets nothing.
    Joins are limited per network, and emails per address
    (scanner/throttle.py); a refused email answers the same too.
    """
    event = public_event_by_slug(slug)
    if event is None:
        raise Http404("No such event")
    availability = get_event_availability(event)
    form = WaitlistForm(request.POST or None, availability=availability)
    context = {
        "event": event,
        "availability": availability,
        "form": form,
        "offer_hours": settings.WAITLIST_OFFER_HOURS,
    }
    if request.method == "POST" and form.is_valid():
        if not throttle.take(
            throttle.waitlist_key(request),
            throttle.WAITLIST_MAX_REQUESTS,
            throttle.WAITLIST_WINDOW_SECONDS,
        ):
            logger.info("Waitlist join refused: too many requests from one network")
            return render(
                request, JOIN_TEMPLATE, context | {"blocked": BLOCKED}, status=429
            )
        data = form.cleaned_data
        resend = throttle.take(
            throttle.waitlist_address_key(data["email"]),
            1,
            throttle.WAITLIST_ADDRESS_WINDOW_SECONDS,
        )
        try:
            entry = join_waitlist(event_id=event.id, resend=resend, **data)
        except TicketingError as error:
            form.add_error(None, error.message)
        else:
            names = {t.id: t.name for t in availability.types}
            joined = {
                "email": entry.email,
                "ticket_type": names.get(data["ticket_type_id"], "any ticket type"),
            }
            minutes = throttle.WAITLIST_ADDRESS_WINDOW_SECONDS // 60
            return render(
                request,
                JOIN_TEMPLATE,
                context | {"joined": joined, "resend_minutes": minutes},
            )
    return render(request, JOIN_TEMPLATE, context, status=400 if form.errors else 200)


def entry_status(request: HttpRequest, token: str) -> HttpResponse:
    entry = get_object_or_404(
        WaitlistEntry.objects.select_related("event", "ticket_type", "offer_order"),
        token=token,
    )
    return render(
        request,
        "purchase/waitlist_entry.html",
        {"entry": entry, "event": entry.event, "position": position_in_line(entry)},
    )


@require_http_methods(["GET", "POST"])
def leave(request: HttpRequest, token: str) -> HttpResponse:
    entry = get_object_or_404(
        WaitlistEntry.objects.select_related("event"), token=token
    )
    if request.method == "POST":
        leave_waitlist(token=token)
        messages.success(
            request,
            "You are off the waitlist. We won't email you about this event again.",
        )
        return redirect("purchase:waitlist_entry", token=token)
    return render(
        request, "purchase/waitlist_leave.html", {"entry": entry, "event": entry.event}
    )
