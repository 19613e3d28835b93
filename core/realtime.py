"""The only module that talks to the channel layer.

Group names are built here, and every broadcast is sent after the writing
transaction commits, so no page hears of a change that rolled back. Messages
say what changed; clients refetch a snapshot over HTTP when they hear one and
whenever they reconnect.

Cached public snapshots (event list, availability) are keyed by the catalogue
version kept here: every announcement of a public change bumps it on commit,
before its push goes out, so a client that refetches after a push never gets
a snapshot older than the change it was told about (core/queries/snapshots.py
reads it). Door-only announcements (scans) change nothing public and skip the
bump: at rush rate it would throw away every cached snapshot several hundred
times a second.

Public groups carry no personal data: an event id and what kind of change;
the public list's not even the id (it hears of events it does not show).
"""

import asyncio
import atexit
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout

from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

CATALOGUE_VERSION_KEY = "live:catalogue-version"


def event_list_group() -> str:
    return "events.public"


def staff_event_list_group() -> str:
    """The console's event list: every event's changes, drafts and off-sale
    events included, with their ids (owners and managers only)."""
    return "events.staff"


def availability_group(event_id) -> str:
    return f"event.{event_id}.availability"


def door_group(event_id) -> str:
    return f"event.{event_id}.door"


def session_group(session_key: str) -> str:
    """The sockets opened with one login session (a digest: no session keys in Redis)."""
    return f"session.{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"


# --- Cache versioning ---------------------------------------------------------


def _fresh_version() -> int:
    # Time-based, so a version key lost to eviction comes back larger than
    # any version it replaced and never resurrects an old cached snapshot.
    return time.time_ns() // 1000


def catalogue_version() -> int | None:
    """The current catalogue version, or None when the cache is unreachable."""
    try:
        version = cache.get(CATALOGUE_VERSION_KEY)
        if version is None:
            cache.add(CATALOGUE_VERSION_KEY, _fresh_version(), timeout=None)
            version = cache.get(CATALOGUE_VERSION_KEY)
        return version
    except Exception:
        logger.exception("cache unreachable: reading the catalogue version")
        return None


def bump_catalogue_version() -> None:
    """Invalidate every cached public snapshot (call after commit)."""
    try:
        try:
            cache.incr(CATALOGUE_VERSION_KEY)
        except ValueError:  # missing (first use or evicted)
            cache.add(CATALOGUE_VERSION_KEY, _fresh_version(), timeout=None)
    except Exception:
        logger.exception("cache unreachable: bumping the catalogue version")


# --- Sending ------------------------------------------------------------------


def send_all(sends: Iterable[tuple[str, dict]]) -> None:
    """Send group messages in one hop to the event loop that sends them.

    A broken layer is logged, never raised to the writer.
    """
    sends = list(sends)
    layer = get_channel_layer()
    if layer is None or not sends:
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # Its queues belong to the loop serving this process's sockets,
            # which async_to_sync reaches from a request thread.
            _send_in_memory(layer, sends)
        else:
            _publisher.send(layer, sends)
    except Exception:
        logger.exception("broadcast to %s failed", ", ".join(g for g, _ in sends))


async def _group_send_all(layer, sends: list[tuple[str, dict]]) -> None:
    for group, message in sends:
        await layer.group_send(group, message)


def _send_in_memory(layer, sends: list[tuple[str, dict]]) -> None:
    if _event_loop_running_here():
        # async_to_sync refuses to run in a thread with a running loop
        # (Playwright's sync API leaves one in e2e tests): use another.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(async_to_sync(_group_send_all), layer, sends).result()
    else:
        async_to_sync(_group_send_all)(layer, sends)


def _event_loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# "Something changed, refetch" messages: in a burst, all but the latest in a
# window say nothing new, since every client refetches the current state.
COALESCED_TYPES = frozenset({"availability.changed", "events.changed", "door.counters"})
# Scans: every one matters to the door (counters, the offline copy), so a
# burst's scans are appended into one push rather than replaced.
SCAN_BATCH_TYPE = "door.scans"
FOLDED_TYPES = COALESCED_TYPES | {SCAN_BATCH_TYPE}
# Refusals change no door figure and ask nothing of staff; past this many in
# one push they are only counted, so a flood of forged codes cannot flood the
# doors' feeds. Admits, undos and needs-attention scans are always sent.
MAX_REFUSALS_PER_PUSH = 20


def _fold(waiting: dict | None, later: dict) -> dict:
    """The message a window holds once `later` is folded into what it held.

    Refetch messages: the latest wins, keeping an earlier one's `change`
    (the event itself changed: pages refetch more than figures for it) when
    it has none. Scan batches: the window's own copy takes `later`'s scans
    at its end, in place (a copy per fold made a burst's folding quadratic);
    the refusal cap is applied once, as it is sent (`_sendable`), and keeps
    what capping at every fold kept.
    """
    if later["type"] != SCAN_BATCH_TYPE:
        if waiting is not None and "change" in waiting and "change" not in later:
            return {**later, "change": waiting["change"]}
        return later
    if waiting is None:
        return {**later, "scans": list(later["scans"])}
    waiting["scans"].extend(later["scans"])
    waiting["omitted"] = waiting.get("omitted", 0) + later.get("omitted", 0)
    return waiting


def _sendable(message: dict) -> dict:
    """A window's folded message as it is sent: scan batches capped."""
    if message["type"] != SCAN_BATCH_TYPE:
        return message
    return _scan_batch(message, message["scans"], omitted=message.get("omitted", 0))


def _scan_batch(message: dict, scans: list[dict], *, omitted: int = 0) -> dict:
    """`message` carrying `scans`, past MAX_REFUSALS_PER_PUSH refusals only counted."""
    kept, refusals = [], 0
    for scan in reversed(scans):  # newest first: the latest refusals are kept
        if scan.get("verdict") == "reject":
            refusals += 1
            if refusals > MAX_REFUSALS_PER_PUSH:
                continue
        kept.append(scan)
    kept.reverse()
    return {**message, "scans": kept, "omitted": omitted + len(scans) - len(kept)}


class _Publisher:
    """One event loop thread per process that sends for synchronous code.

    async_to_sync from a WSGI thread (or the worker) starts a new event loop
    per call, and the Redis layer opens a new connection per loop: three
    connections per sale. This loop lives as long as the process, so its
    connection does too, and a send costs one Redis round trip.

    Callers wait for their sends, except folded ones (FOLDED_TYPES): the
    first in a quiet spell goes out at once, and the rest within
    `LIVE_PUSH_COALESCE_SECONDS` of it are folded into one trailing send at
    the end of the window: "refetch" messages keep only the latest, scan
    batches append. In a rush that is a few pushes a second per process
    instead of three per sale or one per scan: each push makes every
    watching browser refetch, and at a busy door a push per scan cost the
    server a fifth of each scan's CPU and flooded the doors' phones. Cached
    snapshots are invalidated at commit, not here, so a refetch is never
    staler than the last commit.
    """

    timeout_seconds = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        # (group, type) -> the message waiting for its window to close, or
        # None. Shared by callers, who fold into open windows, and the loop.
        self._windows: dict[tuple[str, str], tuple | None] = {}
        self._windows_lock = threading.Lock()
        self._in_flight: set[asyncio.Task] = set()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # new, or forked
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="realtime-publisher", daemon=True
                ).start()
                self._loop, self._pid = loop, os.getpid()
                self._windows, self._in_flight = {}, set()
                self._windows_lock = threading.Lock()
            return self._loop

    def flush(self, timeout: float = 2.0) -> None:
        """Send what is still folded or on its way; the process is about to end.

        The worker and management commands exit soon after their last
        change, and the publisher's thread dies with them.
        """
        loop = self._loop
        if loop is None or self._pid != os.getpid() or not loop.is_running():
            return

        def folded() -> bool:
            with self._windows_lock:
                return any(self._windows.values())

        async def drained() -> None:
            while self._in_flight or folded():
                await asyncio.sleep(0.01)

        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(drained(), timeout), loop
        )
        try:
            future.result(timeout + 1)
        except Exception:
            logger.warning("live messages still unsent at exit were dropped")

    def send(self, layer, sends: list[tuple[str, dict]]) -> None:
        loop = self._running_loop()
        window = settings.LIVE_PUSH_COALESCE_SECONDS
        waited = []
        for group, message in sends:
            if window > 0 and message.get("type") in FOLDED_TYPES:
                key = (group, message["type"])
                if not self._folded_into_open_window(key, layer, message):
                    loop.call_soon_threadsafe(
                        self._send_opening, key, layer, message, window
                    )
            else:
                waited.append((group, message))
        if not waited:
            return
        future = asyncio.run_coroutine_threadsafe(_group_send_all(layer, waited), loop)
        try:
            future.result(self.timeout_seconds)
        except FuturesTimeout:
            future.cancel()
            raise

    def _folded_into_open_window(self, key, layer, message: dict) -> bool:
        """Fold `message` into its open window, in the caller's thread; False
        when no window was open: it is opened, and the caller has it sent.

        Waking the loop for every folded message (a scan) cost more than
        the fold: the loop hears only of a window's first message.
        """
        with self._windows_lock:
            if key not in self._windows:
                self._windows[key] = None
                return False
            waiting = self._windows[key]
            folded = _fold(waiting[1] if waiting is not None else None, message)
            self._windows[key] = (layer, folded)
            return True

    # The rest runs on the publisher's loop only.

    def _send_opening(self, key, layer, message: dict, window: float) -> None:
        """Send a window's first message now, and close the window in `window` s."""
        task = self._loop.create_task(_send_logged(layer, key[0], message))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        self._loop.call_later(window, self._close_window, key, window)

    def _close_window(self, key, window: float) -> None:
        """Send what was folded meanwhile, opening the next window with it."""
        with self._windows_lock:
            waiting = self._windows.pop(key, None)
            if waiting is not None:
                self._windows[key] = None
        if waiting is not None:
            layer, message = waiting
            self._send_opening(key, layer, _sendable(message), window)


async def _send_logged(layer, group: str, message: dict) -> None:
    try:
        await layer.group_send(group, message)
    except Exception:
        logger.exception("broadcast to %s failed", group)


_publisher = _Publisher()
atexit.register(_publisher.flush)


def flush_pending_pushes(timeout: float = 2.0) -> None:
    """Send the folded pushes still waiting for their window to close.

    For code that must not leave a trailing push behind it: the tests, so
    that one test's last push never reaches the next test's sockets.
    """
    _publisher.flush(timeout)


def _announce_after_commit(sends: Iterable[tuple[str, dict]]) -> None:
    """A public change: invalidate cached snapshots on commit, then send."""
    sends = list(sends)

    def announce() -> None:
        bump_catalogue_version()
        send_all(sends)

    transaction.on_commit(announce)


def _send_to_door_after_commit(sends: Iterable[tuple[str, dict]]) -> None:
    """A door-only change: send on commit, leaving cached public snapshots be."""
    sends = list(sends)
    transaction.on_commit(lambda: send_all(sends))


# --- Announcements (called by core services) ------------------------------------


def announce_event_changed(event_id, *, change: str, was_listed: bool = False) -> None:
    """An event was created, edited, activated or deactivated.

    `change` is a short word for clients ("created", "updated", "activated",
    "deactivated", "capacity"...). Reaches the event's availability audience,
    its door (`door.counters` with the `change`: the page refetches the
    event's name, times and whether it is cancelled), and the public list
    when the list shows the event or has just stopped showing it
    (`_public_list_hears`): a draft's or an off-sale event's changes never
    reach it (the console's list hears every one, ids and
    all: `staff_event_list_group`). `was_listed` says the list showed the event
    before this change (read by the caller before saving): an edit that
    takes it off the list (unticking "On sale", a start moved into the
    past) must reach the list too, or its open pages keep the buy link.
    """
    message = {"type": "events.changed", "event_id": str(event_id), "change": change}

    def announce() -> None:
        bump_catalogue_version()
        sends = [
            (availability_group(event_id), {**message, "type": "availability.changed"}),
            (staff_event_list_group(), message),
            # The door page refetches its snapshot: cancelled, renamed, moved.
            (door_group(event_id), {**message, "type": "door.counters"}),
        ]
        if was_listed or _public_list_hears(event_id, change):
            sends.insert(0, (event_list_group(), _list_message(change=change)))
        send_all(sends)

    transaction.on_commit(announce)


def _public_list_hears(event_id, change: str) -> bool:
    """Whether the public list shows this event (upcoming_public_events), or
    did until this change: deactivated while upcoming, or deleted (gone, so
    unknown: the list's message names no event). One query, on commit."""
    if change == "deleted":
        return True
    from core.models import Event
    from core.queries.listings import upcoming_public_events

    try:
        if change == "deactivated":
            shown = Event.objects.filter(pk=event_id, starts_at__gte=timezone.now())
        else:
            shown = upcoming_public_events().filter(pk=event_id)
        return shown.exists()
    except Exception:
        logger.exception("reading whether the public list shows %s", event_id)
        return True  # it refetches for nothing, and learns nothing: no id


def _list_message(**what: str) -> dict:
    """The public list's `events.changed`: what kind of change, never which
    event. The list refetches itself whichever it was (and a burst's pushes
    fold into the latest), and availability moves on events it does not show
    (refunds after an event went off sale, say) reach it too, since telling
    them apart would cost every sale a query: no draft's or off-sale event's
    id may ride on them."""
    return {"type": "events.changed", **what}


def announce_availability_changed(event_id, *, reason: str) -> None:
    """Holds, sales, expiries, refunds or capacity changed what is left to buy.

    Reaches the event's availability audience, the public list (sold-out
    badges; naming no event, see _list_message), the console's list and the
    event's door (`door.counters`).
    """
    message = {
        "type": "availability.changed",
        "event_id": str(event_id),
        "reason": reason,
    }
    _announce_after_commit(
        [
            (availability_group(event_id), message),
            (event_list_group(), _list_message(reason=reason)),
            (staff_event_list_group(), {**message, "type": "events.changed"}),
            (door_group(event_id), {**message, "type": "door.counters"}),
        ]
    )


def announce_scan(event_id, *, scan: dict) -> None:
    """A scan was logged at a door (with its verdict); staff-only audience.

    Sent as a `door.scans` batch of one: the publisher appends a burst's
    scans into one push (`omitted` counts refusals left out of a big one).
    Changes nothing public (checked-in counts are door figures), so the
    catalogue version stays: no Redis INCR per scan.
    """
    announce_scans(event_id, scans=[scan])


def announce_scans(event_id, *, scans: list[dict]) -> None:
    """Several scans logged together (a batch of refusals): as announce_scan."""
    message = {"type": SCAN_BATCH_TYPE, "event_id": str(event_id)}
    _send_to_door_after_commit([(door_group(event_id), _scan_batch(message, scans))])


def staff_user_group(user_id) -> str:
    """The staff feeds one person has open, in every browser they use."""
    return f"staff-user.{user_id}"


def announce_staff_access_changed(user_id) -> None:
    """Someone was deactivated, or given another role or other events: close
    their staff feeds after commit. A deactivated person's close as a sign-out
    does (CLOSE_LOGIN_REQUIRED, final); anyone else's with CLOSE_ACCESS_CHANGED:
    each reconnects, and is admitted or refused (final) by what they may now
    see (a feed checks only when it opens)."""

    def announce() -> None:
        from django.contrib.auth import get_user_model

        try:
            users = get_user_model().objects.filter(pk=user_id, is_active=True)
            active = users.exists()
        except Exception:
            logger.exception("reading whether staff user %s is active", user_id)
            active = True  # they reconnect, and are checked then
        kind = "access.changed" if active else "session.ended"
        send_all([(staff_user_group(user_id), {"type": kind})])

    transaction.on_commit(announce)


def announce_session_ended(session_key: str | None) -> None:
    """A login session ended (sign-out): close the staff feeds opened with it.

    Door feeds carry guest names; a phone handed back after signing out
    must stop hearing them at once, not when the page is next reloaded.
    Other sessions of the same person stay open.
    """
    if session_key:
        send_all([(session_group(session_key), {"type": "session.ended"})])


def invalidate_snapshots_on_commit(**kwargs) -> None:
    """Signal receiver: an event or ticket type was saved outside the services.

    Edits in the Django admin, fixtures or shell do not announce themselves;
    this at least keeps cached snapshots from outliving them.
    """
    transaction.on_commit(bump_catalogue_version, using=kwargs.get("using"))


# --- Consumers' common ground -------------------------------------------------

CLOSE_LOGIN_REQUIRED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY_FRAMES = 4429
CLOSE_FRAME_TOO_BIG = 1009
# What this person may see changed (another role, other events): reconnect
# at once, to be admitted or refused by what they may see now.
CLOSE_ACCESS_CHANGED = 4000
# Clients seeing one of these must not reconnect: trying again cannot help.
FINAL_CLOSE_CODES = (CLOSE_LOGIN_REQUIRED, CLOSE_FORBIDDEN, CLOSE_NOT_FOUND)


class ListenOnlyConsumer(AsyncJsonWebsocketConsumer):
    """Join the groups a connection may hear and relay their messages as JSON.

    Subclasses say which groups to join (or which close code refuses the
    connection) in `subscribe`, and list the message types they relay in
    `relayed_types`. Clients never need to send anything: inbound frames are
    ignored without being parsed, and a client that floods or sends oversized
    frames is closed; nothing it sends can raise inside the consumer.

    Async, and dispatch skips Channels' per-message hop to the sync thread:
    relaying touches no database, and with a thousand sockets on one event
    that hop (one shared thread) would dominate the fan-out time.
    """

    relayed_types: tuple[str, ...] = ()
    max_frames_per_window = 30
    frame_window_seconds = 10.0
    max_frame_bytes = 2048

    async def subscribe(self) -> list[str] | int:
        """Groups to join, or a close code refusing the connection."""
        raise NotImplementedError

    async def dispatch(self, message: dict) -> None:
        kind = message.get("type")
        if kind in self.relayed_types:
            if not getattr(self, "closing", False):
                await self.send_json(message)
        elif kind == "session.ended":
            await self._close_for(CLOSE_LOGIN_REQUIRED)
        elif kind == "access.changed":
            await self._close_for(CLOSE_ACCESS_CHANGED)
        elif kind in ("websocket.connect", "websocket.receive", "websocket.disconnect"):
            await getattr(self, kind.replace(".", "_"))(message)
        else:
            logger.warning("%s dropped a %r message", type(self).__name__, kind)

    async def connect(self) -> None:
        self.joined: list[str] = []
        self.closing = False
        self.frames: list[float] = []
        result = await self.subscribe()
        if isinstance(result, int):
            # Accept first so the browser sees the close code (a refused
            # handshake only shows up as a generic failure), then close.
            await self.accept()
            await self.close(code=result)
            self.closing = True
            return
        for group in result:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)
        await self.accept()

    async def disconnect(self, code) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []

    async def websocket_receive(self, message: dict) -> None:
        if getattr(self, "closing", True):
            return
        size = len(message.get("text") or message.get("bytes") or b"")
        now = time.monotonic()
        self.frames = [t for t in self.frames if now - t < self.frame_window_seconds]
        self.frames.append(now)
        if size > self.max_frame_bytes:
            await self._close_for(CLOSE_FRAME_TOO_BIG)
        elif len(self.frames) > self.max_frames_per_window:
            await self._close_for(CLOSE_TOO_MANY_FRAMES)

    async def _close_for(self, code: int) -> None:
        if getattr(self, "closing", False):
            return
        self.closing = True
        await self.disconnect(code)
        await self.close(code=code)
