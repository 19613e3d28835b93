"""The owner's view of an event's waitlist: remove people, offer by hand."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.exceptions import TicketingError
from core.models import Event, WaitlistEntry
from core.queries.waitlist import waitlist_for_event, waitlist_summary
from core.services.waitlist import offer_to_entry, remove_entry
from scanner.permissions import MANAGERS, role_required


@role_required(*MANAGERS)
def event_waitlist(request: HttpRequest, event_id) -> HttpResponse:
    event = get_object_or_404(Event, pk=event_id)
    entries = list(waitlist_for_event(event))
    position = 0
    rows = []
    for entry in entries:
        if entry.status == WaitlistEntry.Status.WAITING:
            position += 1
            rows.append((position, entry))
        else:
            rows.append((None, entry))
    return render(
        request,
        "scanner/waitlist.html",
        {"event": event, "rows": rows, "summary": waitlist_summary(event)},
    )


@require_POST
@role_required(*MANAGERS)
def remove(request: HttpRequest, event_id, entry_id: int) -> HttpResponse:
    """Remove someone, as confirmed on the page. The question said whether
    they had an offer ("offer": yes/no); one made since is not withdrawn
    unasked: the page asks again."""
    entry = get_object_or_404(WaitlistEntry, pk=entry_id, event_id=event_id)
    if (
        request.POST.get("offer") == "no"
        and entry.status == WaitlistEntry.Status.OFFERED
    ):
        messages.error(
            request,
            f"{entry.name} has just been offered tickets, so they are still on "
            "the list. Removing them now would withdraw that offer: choose "
            "Remove again if that is what you want.",
        )
        return redirect("scanner:event_waitlist", event_id=event_id)
    try:
        entry = remove_entry(entry_id=entry.pk, removed_by=request.user)
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{entry.name} is off the waitlist.")
    return redirect("scanner:event_waitlist", event_id=event_id)


@require_POST
@role_required(*MANAGERS)
def offer(request: HttpRequest, event_id, entry_id: int) -> HttpResponse:
    entry = get_object_or_404(WaitlistEntry, pk=entry_id, event_id=event_id)
    try:
        offer_to_entry(event_id=event_id, entry_id=entry.pk, offered_by=request.user)
    except TicketingError as refused:  # says why: sales over, too few seats...
        messages.error(request, refused.message)
    else:
        messages.success(request, f"Offer sent to {entry.name}.")
    return redirect("scanner:event_waitlist", event_id=event_id)
