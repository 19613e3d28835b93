"""Public listings of events."""

from django.db.models import QuerySet
from django.utils import timezone

from core.models import Event


def upcoming_public_events() -> QuerySet[Event]:
    """Active events that have not started yet, soonest first."""
    return Event.objects.filter(is_active=True, starts_at__gte=timezone.now()).order_by(
        "starts_at", "name"
    )


def public_event_by_slug(slug: str) -> Event | None:
    return Event.objects.filter(is_active=True, slug=slug).first()
