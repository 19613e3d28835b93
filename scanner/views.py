from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from core.models import Event, Role
from core.queries.staff import can_scan_event, role_of
from scanner.events import event_list
from scanner.permissions import ALL_STAFF, role_required


@role_required(*ALL_STAFF)
def home(request: HttpRequest) -> HttpResponse:
    """The events console for owners and managers; door staff go to the door."""
    if role_of(request.user) != Role.DOOR:
        return event_list(request)
    try:
        return redirect(reverse("scanner:door"))
    except NoReverseMatch:
        events = [
            event
            for event in Event.objects.filter(
                is_active=True,
                starts_at__gte=timezone.now() - timedelta(hours=12),
            ).order_by("starts_at")
            if can_scan_event(request.user, event)
        ]
        return render(request, "scanner/door_home.html", {"events": events})
