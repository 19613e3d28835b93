"""The public event list's live feed: which events changed, nothing personal."""

from core import realtime


class EventListConsumer(realtime.ListenOnlyConsumer):
    """`ws/events/`: anyone; relays `events.changed` (event id and change)."""

    relayed_types = ("events.changed",)

    async def subscribe(self) -> list[str]:
        return [realtime.event_list_group()]
