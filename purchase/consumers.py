"""One event's live availability feed: says when to refetch, nothing personal."""

from channels.db import database_sync_to_async

from core import realtime
from core.models import Event


@database_sync_to_async
def _event_exists(event_id) -> bool:
    return Event.objects.filter(pk=event_id).exists()


class AvailabilityConsumer(realtime.ListenOnlyConsumer):
    """`ws/events/<uuid>/availability/`: anyone, for an event that exists.

    Relays `availability.changed` (event id and reason or change); unknown
    (or deleted) events are refused with close code 4404, which clients take
    as final. An event off sale is listened to as one on sale: a buy page
    reconnecting while it is off sale (a dropped connection, a restart) must
    still hear it go back on sale. Nothing is lost to the public by it: the
    messages carry the event's id, which the page already has, and words
    like "sale" or "activated", never figures or names.
    """

    relayed_types = ("availability.changed",)

    async def subscribe(self) -> list[str] | int:
        event_id = self.scope["url_route"]["kwargs"]["event_id"]
        if not await _event_exists(event_id):
            return realtime.CLOSE_NOT_FOUND
        return [realtime.availability_group(event_id)]
