"""The customer's side of the waitlist: join, see one's place or offer, leave."""

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


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str) -> HttpResponse:
    event = public_event_by_slug(slug)
    if event is None:
        raise Http404("No such event")
    availability = get_event_availability(event)
    form = WaitlistForm(request.POST or None, availability=availability)
    if request.method == "POST" and form.is_valid():
        try:
            entry = join_waitlist(event_id=event.id, **form.cleaned_data)
        except TicketingError as error:
            form.add_error(None, error.message)
        else:
            return redirect("purchase:waitlist_entry", token=entry.token)
    return render(
        request,
        "purchase/waitlist_join.html",
        {
            "event": event,
            "availability": availability,
            "form": form,
            "offer_hours": settings.WAITLIST_OFFER_HOURS,
        },
        status=400 if form.errors else 200,
    )


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
