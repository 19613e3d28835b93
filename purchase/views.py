from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.queries.availability import availability_for_events, get_event_availability
from core.queries.listings import public_event_by_slug, upcoming_public_events


def event_list(request: HttpRequest) -> HttpResponse:
    events = list(upcoming_public_events())
    availability = availability_for_events(events)
    cards = [(event, availability[event.id]) for event in events]
    return render(request, "purchase/event_list.html", {"cards": cards})


def event_page(request: HttpRequest, slug: str) -> HttpResponse:
    event = public_event_by_slug(slug)
    if event is None:
        raise Http404("No such event")
    return render(
        request,
        "purchase/event.html",
        {"event": event, "availability": get_event_availability(event)},
    )
