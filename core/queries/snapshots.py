"""Cached public snapshots: the event list, one event, its availability JSON.

Each entry is stored with the catalogue version (core/realtime.py) it was
computed under, and counts only while that version is current; every
announcement bumps it on commit before its push goes out, so whoever
refetches after a push misses the cache and sees the change. A snapshot
computed before a commit can only be stored with an older version, which
nobody accepts again. Changes that need no write (a hold expiring, sales opening or
closing, an event starting) are covered by expiring the entry at the first
such instant. `LIVE_CACHE_SECONDS` caps the lifetime; 0 turns caching off.

With one process the cache may be local memory; with several it must be
shared (Redis), like the channel layer.

An entry holds its value pickled apart (bytes), and each process keeps the
values it unpickled last, by those bytes: between two changes every request
reads the same entry, and unpickling an event and its figures cost a sold-out
refusal more than a tenth of its instructions. What a request gets is still
exactly the entry it read, in the same one round trip; only its decoding is
shared. So callers must not change what they are given.

Within a process, threads that miss the same entry at once share one
computation of it (`_compute_shared`): in a rush every hold and payment
makes the event's entry obsolete, and the page views that follow each one
read the event afresh, several at a time per process.
"""

import functools
import hashlib
import json
import logging
import pickle
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Min
from django.utils import timezone

from core import realtime
from core.models import Event, Order, TicketType
from core.queries.availability import (
    EventAvailability,
    availability_for_events,
    event_availability_now,
)
from core.queries.listings import upcoming_public_events

logger = logging.getLogger(__name__)

EventCards = list[tuple[Event, EventAvailability]]


def next_time_driven_change(events: Iterable[Event], now: datetime) -> datetime | None:
    """The first instant after `now` at which these events' public figures change
    without any write: a hold expires, a sales window opens or closes, a show starts.
    """
    events = list(events)
    if not events:
        return None
    instants = [
        moment
        for event in events
        for moment in (event.starts_at, event.sales_start_at, event.sales_end_at)
    ]
    for start, end in TicketType.objects.filter(
        event__in=events, is_active=True
    ).values_list("sales_start_at", "sales_end_at"):
        instants += [start, end]
    # A pending hold's end frees seats; a processing order holds until its
    # payment settles, whatever its hold said. With one status (and one
    # event) Postgres reads just the first entry of the index on (event,
    # status, hold end), however many holds a rush keeps live.
    instants.append(
        Order.objects.filter(
            event__in=events, status=Order.Status.PENDING, hold_expires_at__gt=now
        ).aggregate(first=Min("hold_expires_at"))["first"]
    )
    future = [moment for moment in instants if moment is not None and moment > now]
    return min(future, default=None)


_MISS = object()

# Entries are (version, pickled value) under these keys; the value pickled
# apart, not as part of the entry, and a key of its own so that a process
# still on the former layout, (version, value) under "live:...", never reads
# one (nor this one that).
_ENTRY_KEY = "live:pickled:{}"


@functools.lru_cache(maxsize=64)
def _unpickled(blob: bytes):
    """An entry's value, unpickled once per process while it stays current
    (see the module's docstring)."""
    return pickle.loads(blob)


def _read(key: str, *also: str) -> tuple[int | None, object, object, dict]:
    """(current version, the value cached for it or _MISS, a value cached for
    an older version or _MISS, what the cache holds of the keys `also`) in
    one round trip.

    Each entry is stored with the version it was computed under and counts
    only while that is still the current one, so the version and the entry
    come back together in one MGET. An older entry is no answer to anyone,
    but a checkout may take it as a hint (checkout_event_snapshot).
    Unreachable, the cache answers None for `also`'s values.
    """
    entry_key = _ENTRY_KEY.format(key)
    try:
        found = cache.get_many([realtime.CATALOGUE_VERSION_KEY, entry_key, *also])
    except Exception:
        logger.exception("cache unreachable: reading %s", key)
        return None, _MISS, _MISS, None
    extra = {name: found[name] for name in also if name in found}
    version = found.get(realtime.CATALOGUE_VERSION_KEY)
    if version is None:
        # First use, or evicted.
        return realtime.catalogue_version(), _MISS, _MISS, extra
    entry = found.get(entry_key)
    if entry is None:
        return version, _MISS, _MISS, extra
    if entry[0] == version:
        return version, _unpickled(entry[1]), _MISS, extra
    return version, _MISS, _unpickled(entry[1]), extra


Compute = Callable[[datetime], tuple[object, list[Event]]]


def _cached(key: str, compute: Compute):
    """`compute(now)` returns (value, events it depends on); cache it under the
    current catalogue version until the next time-driven change."""
    if settings.LIVE_CACHE_SECONDS <= 0:
        return compute(timezone.now())[0]
    version, value, _older, _ = _read(key)
    if value is not _MISS:
        return value
    return _compute_shared(key, version, compute)


@dataclass
class _Computation:
    """An entry being computed in this process for one catalogue version."""

    version: int
    done: threading.Event = field(default_factory=threading.Event)


_computations: dict[str, _Computation] = {}
_computations_lock = threading.Lock()
# Longer than any computation takes; past it a waiting thread reads for itself.
SHARED_COMPUTATION_WAIT = 5.0


def _compute_shared(
    key: str,
    version: int | None,
    compute: Compute,
    keep: Callable[[object], bool] = lambda value: True,
):
    """compute(now)'s value for `key` under `version`, stored if `keep(value)`.

    A thread that finds another one of this process computing the same key
    for the same version waits for it, then reads the cache again: it takes
    what was stored as any reader would (for the version then current, until
    the next time-driven change), or computes for itself if nothing was.
    """
    if version is None:  # the cache is unreachable: nothing to share it under
        return _compute_and_store(key, version, compute, keep)
    with _computations_lock:
        running = _computations.get(key)
    ours = running is None or running.version != version
    if ours:
        # Connected before others can wait on it: they hold their connections
        # while they wait, and the pool may have none left to give it.
        connection.ensure_connection()
        with _computations_lock:
            running = _computations.get(key)
            ours = running is None or running.version != version
            if ours:
                running = _computations[key] = _Computation(version)
    if not ours:
        _wait_for(running)
        version, value, _older, _ = _read(key)  # as any reader would find it now
        if value is not _MISS:
            return value
        return _compute_and_store(key, version, compute, keep)
    try:
        return _compute_and_store(key, version, compute, keep)
    finally:
        running.done.set()
        with _computations_lock:
            if _computations.get(key) is running:
                del _computations[key]


def _wait_for(computation: _Computation) -> bool:
    return computation.done.wait(SHARED_COMPUTATION_WAIT)


def _compute_and_store(key: str, version: int | None, compute: Compute, keep):
    now = timezone.now()
    value, events = compute(now)
    if keep(value):
        _store(key, version, value, events, now)
    return value


def _store(
    key: str, version: int | None, value, events: list[Event], now: datetime
) -> None:
    """Cache `value`, computed at `now` after reading `version`, until the
    next time-driven change of `events`' figures."""
    if version is None or settings.LIVE_CACHE_SECONDS <= 0:
        return
    timeout = float(settings.LIVE_CACHE_SECONDS)
    change = next_time_driven_change(events, now)
    if change is not None:
        timeout = min(timeout, (change - now).total_seconds())
    if timeout >= 1:
        try:
            blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
            cache.set(_ENTRY_KEY.format(key), (version, blob), int(timeout))
        except Exception:
            logger.exception("cache unreachable: writing %s", key)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def public_event_cards() -> EventCards:
    """Upcoming active events with their availability, soonest first."""

    def compute(now: datetime):
        events = list(upcoming_public_events())
        availability = availability_for_events(events, now)
        return [(event, availability[event.id]) for event in events], events

    return _cached("cards", compute)


def public_event_snapshot(slug: str) -> tuple[Event, EventAvailability] | None:
    """An active event and its availability, or None."""
    snapshot = _cached(_event_key(slug), _event_snapshot(slug))
    return None if snapshot == (None,) else snapshot


def _event_key(slug: str) -> str:
    return f"event:{_digest(slug)}"


def _event_snapshot(slug: str) -> Compute:
    def compute(now: datetime):
        availability = event_availability_now(slug=slug, active_only=True, now=now)
        if availability is None:
            return (None,), []
        return (availability.event, availability), [availability.event]

    return compute


@dataclass(frozen=True)
class CheckoutSnapshot:
    event: Event
    availability: EventAvailability
    # False: cached before the last change, so it may show seats since sold
    # (or, rarely, fewer than have been freed since). Only good for letting a
    # checkout through to the locks, never for refusing one.
    current: bool
    # What note_key_at_the_locks left for the form's checkout key: the form
    # it noted (its fingerprint), None for nothing, KEY_NOTE_UNKNOWN when the
    # cache could not say. A refusal on these figures is for place_order to
    # judge against the form it is given.
    key_note: str | None = None


# Set for a buy form's checkout key before it goes to the locks (see
# place_order), read with the snapshot in the same round trip.
_KEY_AT_THE_LOCKS = "checkout-key:{}"
KEY_NOTE_UNKNOWN = "?"


def note_key_at_the_locks(checkout_key: str, form: str, seconds: int) -> None:
    """Remember for `seconds` (the hold's length) that this key's `form` (a
    fingerprint of the event, seats and buyer) went to the locks, so that a
    snapshot does not refuse the same form sent again (see place_order).

    Best effort: if the write fails (Redis unreachable for a moment), a
    repeat whose read then succeeds finds no note and may be refused as
    sold out on the snapshot, as before this note existed; the buyer's own
    order still holds the seats and the cookie finds it on the next submit.
    """
    try:
        cache.set(_KEY_AT_THE_LOCKS.format(checkout_key), form, max(1, seconds))
    except Exception:
        logger.exception("cache unreachable: noting a checkout key")


def checkout_event_snapshot(
    slug: str, checkout_key: str | None = None
) -> CheckoutSnapshot | None:
    """An active event and its availability, for a checkout to be pre-judged
    on (and its refusal to show); None if there is no such event.

    The cached snapshot if it is current. Failing that, an older cached one
    that showed seats left: while tickets sell, every hold and sale makes the
    snapshot obsolete, and a fresh read per checkout (two queries) would only
    say what the locks say next. Failing that (sold out, or nothing cached),
    a fresh read, cached when it shows the event sold out: then only
    refusals follow, and each would read it again.

    With a `checkout_key`, the note its form left before the locks comes
    back in the same round trip (`key_note`): the form sent again before its
    first answer, whose order holds the seats the snapshot shows gone, must
    not be refused on it.
    """
    key = _event_key(slug)
    key_mark = _KEY_AT_THE_LOCKS.format(checkout_key) if checkout_key else None
    version, snapshot, older, marks = None, _MISS, _MISS, {}
    if settings.LIVE_CACHE_SECONDS > 0:
        version, snapshot, older, marks = _read(key, *filter(None, [key_mark]))
    elif key_mark:
        try:
            marks = cache.get_many([key_mark])
        except Exception:
            logger.exception("cache unreachable: reading a checkout key")
            marks = None
    key_note = None
    if key_mark:
        key_note = KEY_NOTE_UNKNOWN if marks is None else marks.get(key_mark)
    if snapshot is not _MISS:
        if snapshot == (None,):
            return None
        return CheckoutSnapshot(*snapshot, current=True, key_note=key_note)
    if older is not _MISS and older != (None,) and not older[1].is_sold_out:
        return CheckoutSnapshot(*older, current=False, key_note=key_note)
    fresh = _compute_shared(key, version, _event_snapshot(slug), keep=_sold_out)
    if fresh == (None,):
        return None
    return CheckoutSnapshot(*fresh, current=True, key_note=key_note)


def _sold_out(snapshot) -> bool:
    return snapshot != (None,) and snapshot[1].is_sold_out


def availability_json(*, slug: str = "", name: str = "") -> bytes | None:
    """The availability API's body for an active event found by slug or name.

    Cached serialised, so a cache hit (every request between two changes)
    costs two cache reads and no JSON encoding.
    """

    def compute(now: datetime):
        lookup = {"slug": slug} if slug else {"name": name}
        availability = event_availability_now(**lookup, active_only=True, now=now)
        if availability is None:
            return b"", []
        payload = availability.as_api_dict()
        return json.dumps(payload, separators=(",", ":")).encode(), [availability.event]

    key = f"availability-json:{'slug' if slug else 'name'}:{_digest(slug or name)}"
    return _cached(key, compute) or None
