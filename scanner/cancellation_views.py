"""Cancelling an event (the owner's): what will happen, why, and a tick to
confirm. The refunds themselves are the worker's (core.services.
event_cancellation); the event page shows how far they have gone."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from core.exceptions import TicketingError
from core.models import Event
from core.queries.cancellation import cancellation_plan
from core.services.event_cancellation import REASON_MAX, cancel_event
from scanner.forms import apply_service_error
from scanner.permissions import OWNER, role_required


class CancelEventForm(forms.Form):
    reason = forms.CharField(
        label="Why is it cancelled?",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Your customers read this in their email and on their tickets, "
        "e.g. “The artist is ill”.",
        error_messages={
            "required": "Say why the event is cancelled: your customers will read it.",
            "max_length": f"Keep the reason to {REASON_MAX} characters.",
        },
    )
    confirm = forms.BooleanField(
        error_messages={"required": "Tick the box to confirm: nothing has changed yet."}
    )

    def __init__(self, *args, event: Event, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["confirm"].label = f"Yes, cancel {event.name}"


@role_required(*OWNER)
def event_cancel(request: HttpRequest, event_id) -> HttpResponse:
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        raise Http404("No such event")
    status = 200
    form = CancelEventForm(event=event)
    if request.method == "POST" and event.cancelled_at is None:
        form = CancelEventForm(request.POST, event=event)
        status = 400
        if form.is_valid():
            try:
                cancel_event(
                    actor=request.user,
                    event_id=event.id,
                    reason=form.cleaned_data["reason"],
                )
            except TicketingError as exc:
                apply_service_error(exc, form)
                status = exc.http_status if exc.http_status != 404 else 400
            else:
                messages.success(
                    request,
                    f"{event.name} is cancelled. Everyone with a ticket is being "
                    "told, and the refunds go out over the next minutes.",
                )
                return redirect("scanner:event_detail", event_id=event.id)
    elif request.method == "POST":
        status = 409
    return render(
        request,
        "scanner/event_cancel.html",
        {
            "event": event,
            "form": form,
            "plan": None if event.cancelled_at else cancellation_plan(event),
        },
        status=status,
    )
