from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.models import Event
from core.queries.availability import availability_for_events
from core.queries.staff import role_of
from scanner.permissions import ALL_STAFF, role_required


@role_required(*ALL_STAFF)
def home(request: HttpRequest) -> HttpResponse:
    role = role_of(request.user)
    events = list(Event.objects.order_by("-is_active", "starts_at"))
    availability = availability_for_events(events)
    rows = [(event, availability[event.id]) for event in events]
    return render(request, "scanner/home.html", {"rows": rows, "role": role})
