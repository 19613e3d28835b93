from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from core.queries.listings import cancelled_event_by_slug
from core.queries.snapshots import public_event_cards, public_event_snapshot
from core.services.waitlist import offers_open
from core.sites import site_url


def event_list(request: HttpRequest) -> HttpResponse:
    return render(request, "marketing/event_list.html", {"cards": public_event_cards()})


def event_detail(request: HttpRequest, slug: str) -> HttpResponse:
    snapshot = public_event_snapshot(slug)
    if snapshot is None:
        # A shared link to a cancelled show says so, and why.
        cancelled = cancelled_event_by_slug(slug)
        if cancelled is None:
            raise Http404("No such event")
        return render(request, "purchase/event_cancelled.html", {"event": cancelled})
    event, availability = snapshot
    return render(
        request,
        "marketing/event_detail.html",
        {
            "event": event,
            "availability": availability,
            # As the buy page's waitlist card: offered once sold out, only
            # while the waitlist can make offers (not before sales open,
            # nor within HOLD_MINUTES of their close).
            "waitlist_open": offers_open(event, timezone.now()),
            "buy_url": site_url("purchase", "purchase:event", slug=event.slug),
            "availability_url": site_url(
                "purchase", "api_event_availability", slug=event.slug
            ),
        },
    )
