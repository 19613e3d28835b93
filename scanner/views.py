from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.models import Event
from core.queries.availability import availability_for_events
from core.queries.staff import role_of


@login_required
def home(request: HttpRequest) -> HttpResponse:
    role = role_of(request.user)
    if role is None:
        raise PermissionDenied("This account is not a staff member.")
    events = list(Event.objects.order_by("-is_active", "starts_at"))
    availability = availability_for_events(events)
    rows = [(event, availability[event.id]) for event in events]
    return render(request, "scanner/home.html", {"rows": rows, "role": role})
