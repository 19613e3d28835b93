"""One event's live availability feed: says when to refetch, nothing personal."""

from channels.db import database_sync_to_async

from core import realtime
from core.models import Event


@database_sync_to_async
def _is_public_event(event_id) -> bool:
    return Event.objects.filter(pk=event_id, is_active=True).exists()


class AvailabilityConsumer(realtime.ListenOnlyConsumer):
    """`ws/events/<uuid>/availability/`: anyone, for an active event.

    Relays `availability.changed` (event id and reason); unknown or inactive
    events are refused with close code 4404.
    """

    relayed_types = ("availability.changed",)

    async def subscribe(self) -> list[str] | int:
        event_id = self.scope["url_route"]["kwargs"]["event_id"]
        if not await _is_public_event(event_id):
            return realtime.CLOSE_NOT_FOUND
        return [realtime.availability_group(event_id)]
