"""Analytics pages and CSV exports: owners and managers only."""

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from core.models import Event
from core.queries import analytics
from core.queries.exports import EXPORTS
from scanner import charts
from scanner.csv_stream import streaming_csv_response
from scanner.permissions import MANAGERS, role_required
from scanner.templatetags.analytics import amount


@role_required(*MANAGERS)
def overview(request: HttpRequest) -> HttpResponse:
    """Upcoming and past events with their headline figures."""
    now = timezone.now()
    return render(
        request,
        "scanner/analytics/overview.html",
        {"overview": analytics.events_overview(now=now), "now": now},
    )


def _live_context(event: Event) -> dict:
    """What moves while the page is open: the headline figures, the door,
    and sales over time (so the charts never lag the "Sold" above them)."""
    now = timezone.now()
    sales = analytics.event_sales(event, now=now)
    door = analytics.door_figures(event)

    def money(value) -> str:
        return amount(value, event.currency)

    over_time = analytics.sales_over_time(event)
    days, hours, earlier = over_time.days, over_time.hours, over_time.earlier
    return {
        "event": event,
        "now": now,
        "figures": sales.figures,
        "types": sales.types,
        "door": door,
        "arrivals_chart": charts.arrivals_chart(door.arrivals),
        "started": sales.figures.has_started(now),
        "past": sales.figures.is_past(now),
        "days": days,
        "day_chart": charts.sales_by_day_chart(days, money, earlier),
        "earlier": earlier,
        "days_voided": sum(day.voided for day in days)
        + (earlier.voided if earlier else 0),
        "hours": hours,
        "hour_chart": charts.sales_by_hour_chart(hours, money),
        "hours_have_sales": any(hour.sold_then for hour in hours),
        "hours_voided": sum(hour.voided for hour in hours),
    }


@role_required(*MANAGERS)
def event_dashboard(request: HttpRequest, event_id) -> HttpResponse:
    """One event: sales, money, holds, waitlist, and the door on the night."""
    event = get_object_or_404(Event, pk=event_id)
    context = _live_context(event)
    context.update(
        exports=[
            ("orders", "Orders", "scanner:analytics_export_orders"),
            ("guests", "Guest list", "scanner:analytics_export_guests"),
            ("scans", "Scan log", "scanner:analytics_export_scans"),
        ],
    )
    return render(request, "scanner/analytics/event.html", context)


@role_required(*MANAGERS)
def event_live(request: HttpRequest, event_id) -> HttpResponse:
    """The parts that move on the night, as a fragment the page swaps in place."""
    event = get_object_or_404(Event, pk=event_id)
    response = render(request, "scanner/analytics/_live.html", _live_context(event))
    response["Cache-Control"] = "no-store"
    return response


def _export(request: HttpRequest, event_id, kind: str) -> StreamingHttpResponse:
    event = get_object_or_404(Event, pk=event_id)
    return streaming_csv_response(request, EXPORTS[kind](event))


@role_required(*MANAGERS)
def export_orders(request: HttpRequest, event_id) -> StreamingHttpResponse:
    return _export(request, event_id, "orders")


@role_required(*MANAGERS)
def export_guests(request: HttpRequest, event_id) -> StreamingHttpResponse:
    return _export(request, event_id, "guests")


@role_required(*MANAGERS)
def export_scans(request: HttpRequest, event_id) -> StreamingHttpResponse:
    return _export(request, event_id, "scans")
