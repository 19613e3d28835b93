"""The customer's side of the waitlist: join, see one's place or offer, leave."""

import logging

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from core.exceptions import TicketingError
from core.models import WaitlistEntry
from core.notify.texts import texts_can_be_sent
from core.queries.availability import get_event_availability
from core.queries.listings import public_event_by_slug
from core.queries.waitlist import (
    offer_has_ended,
    offer_held_to_sales_close,
    position_in_line,
)
from core.services.waitlist import (
    ACTIVE_STATUSES,
    WAITLIST_CLOSED,
    AlreadyClaimed,
    is_claimed,
    join_waitlist,
    leave_waitlist,
    offers_over,
    waitlist_stage,
)
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

    No form before sales open (the page says when they do), while nothing
    is sold out (it says to buy instead), nor once the waitlist can offer
    nothing more (offers_open); a form sent then is answered the same,
    with 409.
    """
    event = public_event_by_slug(slug)
    if event is None:
        raise Http404("No such event")
    now = timezone.now()
    availability = get_event_availability(event, now)
    form = WaitlistForm(request.POST or None, availability=availability)
    context = {
        "event": event,
        "availability": availability,
        "form": form,
        "offer_hours": settings.WAITLIST_OFFER_HOURS,
        "texts_on": texts_can_be_sent(),
    }
    stage = waitlist_stage(event, availability, now)
    if stage == "not_yet":
        return _without_form(request, context | {"not_yet": True})
    if stage == "on_sale":
        return _without_form(request, context | {"on_sale": True})
    if stage == "closed":
        return _without_form(request, context | {"closed": WAITLIST_CLOSED})
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


def _without_form(request: HttpRequest, context: dict) -> HttpResponse:
    status = 409 if request.method == "POST" else 200
    return render(request, JOIN_TEMPLATE, context, status=status)


def entry_status(request: HttpRequest, token: str) -> HttpResponse:
    entry = get_object_or_404(
        WaitlistEntry.objects.select_related("event", "ticket_type", "offer_order"),
        token=token,
    )
    event, now = entry.event, timezone.now()
    waiting_type = entry.ticket_type
    if waiting_type is not None:
        waiting_type.event = event
    # Still "waiting" once sales are over: no offer will come. Not before
    # they open (an event whose sales were moved later): offers start then.
    offers_closed = entry.status == WaitlistEntry.Status.WAITING and offers_over(
        event, waiting_type, now
    )
    return render(
        request,
        "purchase/waitlist_entry.html",
        {
            "entry": entry,
            "event": event,
            "position": None if offers_closed else position_in_line(entry),
            "offers_closed": offers_closed,
            # Still "offered" until the sweep sees its order was released
            # (a bank debit that failed): nothing is held for it any more.
            "offer_ended": offer_has_ended(entry),
            "held_to_sales_close": offer_held_to_sales_close(entry),
        },
    )


@require_http_methods(["GET", "POST"])
def leave(request: HttpRequest, token: str) -> HttpResponse:
    """Ask, then take the entry off the list. An entry whose tickets are
    bought (is_claimed) has no place to leave: its page says so and points
    to the order, and a form sent anyway changes nothing (409)."""
    entry = get_object_or_404(
        WaitlistEntry.objects.select_related("event", "offer_order"), token=token
    )
    claimed = is_claimed(entry)
    context = {"entry": entry, "event": entry.event, "claimed": claimed}
    if request.method == "POST" and not claimed:
        was_on_the_list = entry.status in ACTIVE_STATUSES
        try:
            leave_waitlist(token=token)
        except AlreadyClaimed:  # paid for since the look above
            entry.refresh_from_db()
            context["claimed"] = True
        else:
            if was_on_the_list:
                messages.success(
                    request,
                    "You are off the waitlist. We won't email you about this event"
                    " again.",
                )
            return redirect("purchase:waitlist_entry", token=token)
    status = 409 if request.method == "POST" else 200
    return render(request, "purchase/waitlist_leave.html", context, status=status)
