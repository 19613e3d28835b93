"""Public listings of events."""

from django.db.models import QuerySet
from django.utils import timezone

from core.models import AuditLogEntry, Event


def upcoming_public_events() -> QuerySet[Event]:
    """Active events that have not started yet, soonest first."""
    return Event.objects.filter(is_active=True, starts_at__gte=timezone.now()).order_by(
        "starts_at", "name"
    )


def public_event_by_slug(slug: str) -> Event | None:
    return Event.objects.filter(is_active=True, slug=slug).first()


def event_gone_from_sale(slug: str) -> Event | None:
    """An event that was on sale and no longer is (taken off sale, or
    cancelled), by its slug; None for one never on sale (a draft: its name
    is not public yet) or no event at all."""
    event = Event.objects.filter(slug=slug, is_active=False).first()
    if event is None:
        return None
    if event.cancelled_at is not None:
        return event
    taken_off = AuditLogEntry.objects.filter(event=event, action="event.deactivate")
    return event if taken_off.exists() else None


def cancelled_event_by_slug(slug: str) -> Event | None:
    """A cancelled event, whose old links say it is cancelled and why."""
    return Event.objects.filter(slug=slug, cancelled_at__isnull=False).first()


def cancelled_event_by_name(name: str) -> Event | None:
    """A cancelled event by its name, for the seed's availability path."""
    return Event.objects.filter(name=name, cancelled_at__isnull=False).first()
