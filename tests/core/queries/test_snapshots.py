"""Cached public snapshots: served from cache, never staler than the push."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import realtime
from core.exceptions import SoldOut
from core.models import Event
from core.queries import snapshots
from core.services.checkout import place_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_cache(settings):
    """Caching on, starting from a version no earlier test could have filled."""
    settings.LIVE_CACHE_SECONDS = 300
    realtime.bump_catalogue_version()


def availability(*, slug: str) -> dict | None:
    """The availability API's body, decoded."""
    body = snapshots.availability_json(slug=slug)
    return None if body is None else json.loads(body)


def card_names():
    return [event.name for event, _ in snapshots.public_event_cards()]


def test_a_second_read_is_served_without_queries(live_cache, django_assert_num_queries):
    TicketTypeFactory(event=EventFactory(name="Cached Night"))
    assert card_names() == ["Cached Night"]
    assert availability(slug="cached-night") is not None
    assert availability(slug="no-such-event") is None
    with django_assert_num_queries(0):
        assert card_names() == ["Cached Night"]
        assert availability(slug="cached-night") is not None
        assert availability(slug="no-such-event") is None


def test_a_committed_sale_is_seen_at_once(
    live_cache, django_capture_on_commit_callbacks
):
    seat = TicketTypeFactory(capacity=1, event=EventFactory(venue_capacity=1))
    event = seat.event
    before = availability(slug=event.slug)
    assert before["summary"]["is_sold_out"] is False
    assert snapshots.public_event_snapshot(event.slug)[1].is_sold_out is False

    with django_capture_on_commit_callbacks(execute=True):
        make_paid_order(seat, 1)

    after = availability(slug=event.slug)
    assert after["summary"]["is_sold_out"] is True
    assert after["availability"][0]["sold"] == 1
    assert snapshots.public_event_snapshot(event.slug)[1].is_sold_out is True
    assert snapshots.public_event_cards()[0][1].is_sold_out is True


def test_a_checkout_takes_an_older_snapshot_only_as_leave_to_try(
    live_cache, django_assert_num_queries, django_capture_on_commit_callbacks
):
    seats = TicketTypeFactory(capacity=2, event=EventFactory(venue_capacity=2))
    slug = seats.event.slug

    def sell_one():
        with django_capture_on_commit_callbacks(execute=True):
            make_paid_order(seats, 1)

    with CaptureQueriesContext(connection) as nothing_cached:
        first = snapshots.checkout_event_snapshot(slug)
    assert first.current and first.availability.total_available == 2
    assert len(nothing_cached) > 0, "nothing cached: a fresh read"
    snapshots.public_event_snapshot(slug)  # a page view caches it
    sell_one()

    with django_assert_num_queries(0):
        older = snapshots.checkout_event_snapshot(slug)
    assert not older.current and older.availability.total_available == 2

    sell_one()
    with django_assert_num_queries(0):
        assert snapshots.checkout_event_snapshot(slug).availability.total_available == 2
    with pytest.raises(SoldOut) as refused:  # the locks decide, as ever
        place_order(
            event_id=seats.event_id,
            quantities={seats.id: 1},
            customer_name="Late",
            customer_email="late@example.com",
            seen_availability=older.availability,
            seen_is_current=False,
        )
    assert getattr(refused.value, "availability", None) is None

    realtime.bump_catalogue_version()
    snapshots.public_event_snapshot(slug)  # the refusal page caches "sold out"
    realtime.bump_catalogue_version()  # and it grows older too
    with CaptureQueriesContext(connection) as sold_out_older:
        fresh = snapshots.checkout_event_snapshot(slug)
    assert fresh.current and fresh.availability.is_sold_out
    assert len(sold_out_older) > 0, "an older 'sold out' is no refusal: read afresh"
    with django_assert_num_queries(0):  # and that read is kept for the next refusal
        kept = snapshots.checkout_event_snapshot(slug)
    assert kept.current and kept.availability.is_sold_out
    assert snapshots.checkout_event_snapshot("no-such-event") is None


def test_an_entry_is_unpickled_once_and_a_changed_one_again(
    live_cache, django_capture_on_commit_callbacks
):
    seats = TicketTypeFactory(capacity=2, event=EventFactory(venue_capacity=2))
    slug = seats.event.slug
    snapshots.public_event_snapshot(slug)  # read from the database, cached

    first = snapshots.public_event_snapshot(slug)[1]
    assert snapshots.public_event_snapshot(slug)[1] is first
    assert snapshots.checkout_event_snapshot(slug).availability is first

    with django_capture_on_commit_callbacks(execute=True):
        make_paid_order(seats, 1)
    snapshots.public_event_snapshot(slug)  # the new figures, cached
    after = snapshots.public_event_snapshot(slug)[1]

    assert after is not first and after.total_available == 1
    assert first.total_available == 2, "what was given out stays as it was"
    assert after.shown_fingerprint != first.shown_fingerprint


def test_announced_event_changes_reach_the_list(
    live_cache, django_capture_on_commit_callbacks
):
    EventFactory(name="First")
    assert card_names() == ["First"]
    # A write that does not announce itself (a bulk update) stays cached...
    Event.objects.filter(name="First").update(is_active=False)
    assert card_names() == ["First"]
    # ...until the service that made it announces the change on commit.
    with django_capture_on_commit_callbacks(execute=True):
        realtime.announce_event_changed(
            Event.objects.get(name="First").id, change="deactivated"
        )
    assert card_names() == []


def test_saves_outside_the_services_expire_snapshots(
    live_cache, django_capture_on_commit_callbacks
):
    event = EventFactory(name="Old Name")
    assert card_names() == ["Old Name"]
    with django_capture_on_commit_callbacks(execute=True):
        event.name = "New Name"
        event.save()
    assert card_names() == ["New Name"]


def test_an_expiring_hold_bounds_the_cache_lifetime(live_cache, monkeypatch):
    seat = TicketTypeFactory()
    now = timezone.now()
    place_order(
        event_id=seat.event_id,
        quantities={seat.id: 1},
        customer_name="Ann",
        customer_email="ann@example.com",
        hold_minutes=2,
        now=now,
    )
    assert snapshots.next_time_driven_change([seat.event], now) == now + timedelta(
        minutes=2
    )

    lifetimes = []
    real_set = snapshots.cache.set
    monkeypatch.setattr(
        snapshots.cache,
        "set",
        lambda key, value, timeout: (
            lifetimes.append(timeout),
            real_set(key, value, timeout),
        ),
    )
    availability(slug=seat.event.slug)
    assert lifetimes and 0 < lifetimes[0] <= 120


def test_sales_windows_and_show_times_are_time_driven_changes():
    now = timezone.now()
    event = EventFactory(
        starts_at=now + timedelta(days=3), sales_end_at=now + timedelta(days=2)
    )
    TicketTypeFactory(event=event, sales_start_at=now + timedelta(hours=5))
    assert snapshots.next_time_driven_change([event], now) == now + timedelta(hours=5)
    assert snapshots.next_time_driven_change(
        [event], now + timedelta(hours=6)
    ) == now + timedelta(days=2)
    assert snapshots.next_time_driven_change([], now) is None


def test_a_change_due_within_a_second_is_not_cached(live_cache, monkeypatch):
    event = EventFactory(sales_end_at=timezone.now() + timedelta(milliseconds=500))
    monkeypatch.setattr(
        snapshots.cache,
        "set",
        lambda *a, **k: pytest.fail("cached a snapshot about to change"),
    )
    availability(slug=event.slug)


def test_caching_off_reads_the_database_every_time(settings):
    settings.LIVE_CACHE_SECONDS = 0
    EventFactory()
    snapshots.public_event_cards()
    with CaptureQueriesContext(connection) as queries:
        snapshots.public_event_cards()
    assert len(queries) > 0


def test_an_unreachable_cache_falls_back_to_the_database(live_cache, monkeypatch):
    EventFactory(name="Still Here")

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(snapshots.cache, "get", down)
    monkeypatch.setattr(realtime.cache, "get", down)
    assert card_names() == ["Still Here"]


@pytest.mark.parametrize("caching", [True, False])
def test_a_keys_note_comes_back_with_the_snapshot(
    settings, caching, django_assert_num_queries
):
    """The note a form left before the locks is read in the same round trip
    as the snapshot, so other forms' refusals cost nothing more."""
    settings.LIVE_CACHE_SECONDS = 300 if caching else 0
    realtime.bump_catalogue_version()
    seat = TicketTypeFactory(capacity=1, event=EventFactory(venue_capacity=1))
    slug = seat.event.slug
    make_paid_order(seat, 1)
    snapshots.checkout_event_snapshot(slug)  # "sold out", cached when caching
    snapshots.note_key_at_the_locks("k" * 20, "form-k", 60)

    with django_assert_num_queries(0 if caching else 4):  # or two fresh reads
        others = snapshots.checkout_event_snapshot(slug, "o" * 20)
        noted = snapshots.checkout_event_snapshot(slug, "k" * 20)
    assert others.availability.is_sold_out and others.current
    assert others.key_note is None
    assert noted.availability.is_sold_out and noted.current
    assert noted.key_note == "form-k"


def test_a_keys_note_is_unknown_while_the_cache_is_down(live_cache, monkeypatch):
    seat = TicketTypeFactory(capacity=1, event=EventFactory(venue_capacity=1))
    make_paid_order(seat, 1)

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(snapshots.cache, "get_many", unreachable)
    monkeypatch.setattr(snapshots.cache, "set", unreachable)
    snapshots.note_key_at_the_locks("k" * 20, "form-k", 60)  # logged, not raised
    seen = snapshots.checkout_event_snapshot(seat.event.slug, "k" * 20)
    assert seen.availability.is_sold_out
    assert seen.key_note == snapshots.KEY_NOTE_UNKNOWN
    assert snapshots.checkout_event_snapshot(seat.event.slug).key_note is None


class _SharedComputation:
    """Two threads asking `_compute_shared` for one key, the first held
    inside its computation until the test lets it go."""

    def __init__(self, monkeypatch) -> None:
        self.computing = threading.Event()
        self.release = threading.Event()
        self.second_waits = threading.Event()
        self.calls: list[str] = []
        self.answers: dict[str, object] = {}
        wait_for = snapshots._wait_for

        def noted_wait(computation):
            self.second_waits.set()
            self.release.set()
            return wait_for(computation)

        monkeypatch.setattr(snapshots, "_wait_for", noted_wait)

    def compute(self, now):
        name = threading.current_thread().name
        self.calls.append(name)
        if name == "first":
            self.computing.set()
            self.release.wait(5)
        return f"figures by {name}", []

    def ask(self, name: str, version: int, *, store: bool = True):
        def run():
            try:
                self.answers[name] = snapshots._compute_shared(
                    "shared-entry", version, self.compute, keep=lambda value: store
                )
            finally:
                connections.close_all()  # this thread's, back to the pool

        thread = threading.Thread(target=run, name=name)
        thread.start()
        return thread


def test_threads_missing_the_same_entry_share_one_computation(live_cache, monkeypatch):
    shared = _SharedComputation(monkeypatch)
    version = realtime.catalogue_version()

    first = shared.ask("first", version)
    assert shared.computing.wait(5)
    second = shared.ask("second", version)
    second.join(5)
    first.join(5)

    assert shared.second_waits.is_set()
    assert shared.calls == ["first"]
    assert shared.answers == {"first": "figures by first", "second": "figures by first"}


def test_a_thread_under_a_newer_version_computes_for_itself(live_cache, monkeypatch):
    shared = _SharedComputation(monkeypatch)
    version = realtime.catalogue_version()

    first = shared.ask("first", version)
    assert shared.computing.wait(5)
    second = shared.ask("second", version + 1)
    second.join(5)
    shared.release.set()
    first.join(5)

    assert not shared.second_waits.is_set()
    assert shared.calls == ["first", "second"]
    assert shared.answers == {
        "first": "figures by first",
        "second": "figures by second",
    }


def test_a_thread_computes_for_itself_when_the_first_stored_nothing(
    live_cache, monkeypatch
):
    # A checkout's fresh read of an event not sold out is not cached: the
    # thread that waited for it reads the cache, misses, and reads the event.
    shared = _SharedComputation(monkeypatch)
    version = realtime.catalogue_version()

    first = shared.ask("first", version, store=False)
    assert shared.computing.wait(5)
    second = shared.ask("second", version)
    second.join(5)
    first.join(5)

    assert shared.second_waits.is_set()
    assert shared.calls == ["first", "second"]
    assert shared.answers == {
        "first": "figures by first",
        "second": "figures by second",
    }
