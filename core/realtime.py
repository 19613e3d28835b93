"""The only module that talks to the channel layer.

Group names are built here, and every broadcast is sent after the writing
transaction commits, so no page hears of a change that rolled back. Messages
say what changed; clients refetch a snapshot over HTTP when they reconnect.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def event_list_group() -> str:
    return "events.public"


def availability_group(event_id) -> str:
    return f"event.{event_id}.availability"


def door_group(event_id) -> str:
    return f"event.{event_id}.door"


def send_now(group: str, message: dict) -> None:
    """Send a message to a group; a broken layer is logged, never raised to the writer."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("broadcast to %s failed", group)


def send_after_commit(group: str, message: dict) -> None:
    transaction.on_commit(lambda: send_now(group, message))


def announce_event_changed(event_id, *, change: str) -> None:
    """An event was created, edited, activated or deactivated."""
    message = {"type": "events.changed", "event_id": str(event_id), "change": change}
    send_after_commit(event_list_group(), message)
    send_after_commit(
        availability_group(event_id), {**message, "type": "availability.changed"}
    )


def announce_availability_changed(event_id, *, reason: str) -> None:
    """Holds, sales, expiries, refunds or capacity changed what is left to buy."""
    message = {
        "type": "availability.changed",
        "event_id": str(event_id),
        "reason": reason,
    }
    send_after_commit(availability_group(event_id), message)
    send_after_commit(event_list_group(), {**message, "type": "events.changed"})
    send_after_commit(door_group(event_id), {**message, "type": "door.counters"})


def announce_scan(event_id, *, scan: dict) -> None:
    """A scan was logged at a door; staff-only audience."""
    send_after_commit(
        door_group(event_id),
        {"type": "door.scan", "event_id": str(event_id), "scan": scan},
    )
