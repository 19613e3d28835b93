"""Staff feeds: one event's door (scans with their verdicts, counter
changes) and console (its figures moved, on sale or not), and the console's
event list (every event's changes, drafts included)."""

from channels.db import database_sync_to_async

from core import realtime
from core.models import Event
from core.queries.staff import can_scan_event, role_of
from scanner.permissions import MANAGERS


def _signed_out_or_forbidden(user) -> int:
    return (
        realtime.CLOSE_FORBIDDEN
        if user is not None and user.is_authenticated
        else realtime.CLOSE_LOGIN_REQUIRED
    )


@database_sync_to_async
def _door_refusal(user, event_id) -> int | None:
    """The close code refusing `user` this event's door feed, or None to admit."""
    if role_of(user) is None:
        return _signed_out_or_forbidden(user)
    if not Event.objects.filter(pk=event_id).exists():
        return realtime.CLOSE_NOT_FOUND
    if not can_scan_event(user, event_id):
        return realtime.CLOSE_FORBIDDEN
    return None


@database_sync_to_async
def _console_refusal(user, event_id) -> int | None:
    """The close code refusing `user` this event's console feed, or None to admit."""
    if role_of(user) not in MANAGERS:
        return _signed_out_or_forbidden(user)
    if not Event.objects.filter(pk=event_id).exists():
        return realtime.CLOSE_NOT_FOUND
    return None


def _closed_by_sign_out_and_access_changes(scope) -> list[str]:
    """The groups that close a staff feed: its login session signing out,
    and its person being deactivated or given another role or other events."""
    groups = []
    session = scope.get("session")
    if session is not None and session.session_key:
        groups.append(realtime.session_group(session.session_key))  # scanner.signals
    groups.append(realtime.staff_user_group(scope["user"].pk))
    return groups


class _StaffEventFeed(realtime.ListenOnlyConsumer):
    """One event's feed for staff signed in with a session: `refusal` says
    who may listen, `group` what they hear; signing out, or a change to what
    the person may do, closes it."""

    refusal = None  # (user, event_id) -> close code or None, awaited
    group = None  # event_id -> the event's group

    async def subscribe(self) -> list[str] | int:
        event_id = self.scope["url_route"]["kwargs"]["event_id"]
        refusal = await self.refusal(self.scope.get("user"), event_id)
        if refusal is not None:
            return refusal
        return [
            self.group(event_id),
            *_closed_by_sign_out_and_access_changes(self.scope),
        ]


class DoorConsumer(_StaffEventFeed):
    """`ws/events/<uuid>/door/`: staff signed in with a session who may scan the event.

    Relays `door.scans` (a batch of scan dicts with their verdicts) and
    `door.counters`; closes with 4401 when its login session signs out.
    Refusals close with 4401 (not signed in), 4403 (not staff, or door staff
    assigned to other events) or 4404 (no such event).
    """

    relayed_types = ("door.scans", "door.counters")
    refusal = staticmethod(_door_refusal)
    group = staticmethod(realtime.door_group)


class EventConsoleConsumer(_StaffEventFeed):
    """`ws/events/<uuid>/console/`: owners and managers signed in, for the
    event's console page, whether or not the event is on sale.

    Relays `availability.changed` (the event's figures or details moved: the
    page refetches them from scanner:event_availability). The public feed
    refuses events off sale, whose owners still watch holds lapse, refunds
    and free tickets. Closes with 4401 when its login session signs out;
    refusals close with 4401 (not signed in), 4403 (not an owner or
    manager) or 4404 (no such event).
    """

    relayed_types = ("availability.changed",)
    refusal = staticmethod(_console_refusal)
    group = staticmethod(realtime.availability_group)


class StaffEventListConsumer(realtime.ListenOnlyConsumer):
    """`ws/events/staff/`: owners and managers signed in, for the console's
    event list.

    Relays `events.changed` for every event (its id, and `change` when the
    event itself was created, edited, put on or off sale, cancelled or
    deleted, else the availability `reason`): the public list's feed hears
    nothing of drafts and off-sale events, which this list shows. Closes
    with 4401 when its login session signs out; refusals close with 4401
    (not signed in) or 4403 (not an owner or manager).
    """

    relayed_types = ("events.changed",)

    async def subscribe(self) -> list[str] | int:
        user = self.scope.get("user")
        if await database_sync_to_async(role_of)(user) not in MANAGERS:
            return _signed_out_or_forbidden(user)
        return [
            realtime.staff_event_list_group(),
            *_closed_by_sign_out_and_access_changes(self.scope),
        ]
