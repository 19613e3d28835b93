"""core/realtime.py: after-commit delivery and snapshot invalidation."""

import pytest
from django.db import transaction

from core import realtime

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """What would have gone to the channel layer, with the catalogue version then."""
    log = []
    monkeypatch.setattr(
        realtime,
        "send_all",
        lambda sends: log.extend(
            (group, message, realtime.catalogue_version()) for group, message in sends
        ),
    )
    return log


def test_announcements_wait_for_commit(sent, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        transaction.atomic(),
    ):
        realtime.announce_availability_changed("e1", reason="refund")
        realtime.announce_scan("e1", scan={"result": "admit"})
    assert sent == []

    for callback in callbacks:
        callback()

    assert [(group, message["type"]) for group, message, _ in sent] == [
        ("event.e1.availability", "availability.changed"),
        ("events.public", "events.changed"),
        ("events.staff", "events.changed"),
        ("event.e1.door", "door.counters"),
        ("event.e1.door", "door.scans"),
    ]


def test_snapshots_are_invalidated_before_the_push(
    sent, django_capture_on_commit_callbacks
):
    before = realtime.catalogue_version()
    with django_capture_on_commit_callbacks(execute=True):
        realtime.announce_event_changed("e1", change="created")

    # The public list, the event's page, the console's list and its door.
    assert [group for group, _, _ in sent] == [
        "events.public",
        "event.e1.availability",
        "events.staff",
        "event.e1.door",
    ]
    assert all(version > before for _, _, version in sent)


def test_a_scan_reaches_the_door_without_invalidating_snapshots(
    sent, django_capture_on_commit_callbacks
):
    """Scans change nothing public: bumping per scan would empty the cache at rush."""
    before = realtime.catalogue_version()
    with django_capture_on_commit_callbacks(execute=True):
        realtime.announce_scan("e1", scan={"result": "admit"})

    assert [(group, message["type"]) for group, message, _ in sent] == [
        ("event.e1.door", "door.scans")
    ]
    assert realtime.catalogue_version() == before


def test_redeeming_a_ticket_leaves_the_catalogue_version(
    sent, django_capture_on_commit_callbacks
):
    from core.services.checkin import redeem_ticket
    from tests.factories import TicketTypeFactory, make_door_open_event, make_paid_order

    ticket_type = TicketTypeFactory(event=make_door_open_event())
    ticket = make_paid_order(ticket_type).tickets.get()
    before = realtime.catalogue_version()

    with django_capture_on_commit_callbacks(execute=True):
        admitted = redeem_ticket(event=ticket.event, text=ticket.qr_payload)
        refused = redeem_ticket(event=ticket.event, text=ticket.qr_payload)

    assert (admitted.code, refused.code) == ("ok", "already_used")
    assert [message["type"] for _, message, _ in sent][-2:] == ["door.scans"] * 2
    assert realtime.catalogue_version() == before


def test_the_version_comes_back_larger_after_eviction():
    from django.core.cache import cache

    realtime.bump_catalogue_version()
    for _ in range(3):
        realtime.bump_catalogue_version()
    high = realtime.catalogue_version()
    cache.delete(realtime.CATALOGUE_VERSION_KEY)

    assert realtime.catalogue_version() > high
    realtime.bump_catalogue_version()
    assert realtime.catalogue_version() > high


def test_a_broken_layer_never_reaches_the_writer(monkeypatch, caplog, settings):
    settings.LIVE_PUSH_COALESCE_SECONDS = 0

    class BrokenLayer:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(realtime, "get_channel_layer", lambda: BrokenLayer())
    realtime.send_all([("events.public", {"type": "events.changed"})])
    assert "broadcast to events.public failed" in caplog.text


def test_a_broken_cache_never_reaches_the_writer(monkeypatch, caplog):
    class BrokenCache:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("redis is down")

            return fail

    monkeypatch.setattr(realtime, "cache", BrokenCache())
    realtime.bump_catalogue_version()
    assert realtime.catalogue_version() is None
    assert "cache unreachable" in caplog.text


def test_sending_works_from_a_thread_running_an_event_loop(
    monkeypatch, caplog, settings
):
    settings.LIVE_PUSH_COALESCE_SECONDS = 0
    import asyncio

    received = []

    class RecordingLayer:
        async def group_send(self, group, message):
            received.append((group, message))

    monkeypatch.setattr(realtime, "get_channel_layer", lambda: RecordingLayer())

    async def sync_code_called_from_a_loop_thread():
        realtime.send_all([("events.public", {"type": "events.changed"})])

    asyncio.run(sync_code_called_from_a_loop_thread())
    assert received == [("events.public", {"type": "events.changed"})]
    assert "failed" not in caplog.text


def test_sync_callers_share_one_publishing_loop(monkeypatch):
    """A new event loop (and Redis connection) per send made each sale slow."""
    import asyncio
    import threading

    loops = []

    class RecordingLayer:
        async def group_send(self, group, message):
            loops.append(asyncio.get_running_loop())

    monkeypatch.setattr(realtime, "get_channel_layer", lambda: RecordingLayer())
    realtime.send_all(
        [("events.public", {"type": "a"}), ("events.public", {"type": "b"})]
    )
    thread = threading.Thread(
        target=realtime.send_all, args=([("events.public", {"type": "c"})],)
    )
    thread.start()
    thread.join()

    assert len(loops) == 3 and len(set(map(id, loops))) == 1


def test_refetch_pushes_in_a_burst_fold_into_one_trailing_push(monkeypatch, settings):
    """A rush announces every hold and sale; browsers need the first and the last."""
    import time

    received = []

    class RecordingLayer:
        async def group_send(self, group, message):
            received.append((group, message))

    settings.LIVE_PUSH_COALESCE_SECONDS = 0.2
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: RecordingLayer())
    monkeypatch.setattr(realtime, "_publisher", realtime._Publisher())
    for n in range(10):
        realtime.send_all(
            [("event.1.availability", {"type": "availability.changed", "n": n})]
        )
    realtime.send_all(
        [("event.2.availability", {"type": "availability.changed", "n": 0})]
    )

    time.sleep(0.6)
    pushes = [(g, m["n"]) for g, m in received if m["type"] == "availability.changed"]
    assert pushes.count(("event.1.availability", 0)) == 1  # at once
    burst = [n for group, n in pushes if group == "event.1.availability"]
    assert burst == [0, 9]  # the first at once, then only the latest
    assert ("event.2.availability", 0) in pushes  # each group has its own window


def test_an_event_change_folded_under_a_sale_is_still_said(monkeypatch, settings):
    """A sale's push right after an edit or a cancellation's progress must not
    hide that the event itself changed: console pages refetch more for it."""
    import time

    received = []

    class RecordingLayer:
        async def group_send(self, group, message):
            received.append(message)

    settings.LIVE_PUSH_COALESCE_SECONDS = 0.2
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: RecordingLayer())
    monkeypatch.setattr(realtime, "_publisher", realtime._Publisher())
    group = "event.1.availability"
    realtime.send_all([(group, {"type": "availability.changed", "n": 0})])
    realtime.send_all(
        [(group, {"type": "availability.changed", "n": 1, "change": "updated"})]
    )
    realtime.send_all([(group, {"type": "availability.changed", "n": 2})])

    time.sleep(0.6)
    assert [(m["n"], m.get("change")) for m in received] == [(0, None), (2, "updated")]


def _scan(n: int, code: str = "ok") -> dict:
    return {"id": n, "code": code, "verdict": "admit" if code == "ok" else "reject"}


def _collect_door_pushes(monkeypatch, settings, announce) -> list[dict]:
    """The door group's pushes from `announce()` in a burst, once windows close."""
    import time

    received = []

    class RecordingLayer:
        async def group_send(self, group, message):
            received.append(message)

    settings.LIVE_PUSH_COALESCE_SECONDS = 0.2
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: RecordingLayer())
    monkeypatch.setattr(realtime, "_publisher", realtime._Publisher())
    monkeypatch.setattr(
        realtime.transaction, "on_commit", lambda callback, **kwargs: callback()
    )
    announce()
    time.sleep(0.6)
    return received


def test_scans_in_a_burst_reach_the_door_in_one_trailing_push(monkeypatch, settings):
    """One push per scan cost a fifth of a scan's CPU and flooded door phones."""

    def burst():
        for n in range(10):
            realtime.announce_scan("e1", scan=_scan(n))

    pushes = _collect_door_pushes(monkeypatch, settings, burst)

    assert [[s["id"] for s in m["scans"]] for m in pushes] == [[0], list(range(1, 10))]
    assert all(m["type"] == "door.scans" and m["omitted"] == 0 for m in pushes)


def test_a_flood_of_refusals_is_counted_but_never_hides_an_admit(monkeypatch, settings):
    """Forged codes at rate must not drown the feed, nor the admits in it."""
    limit = realtime.MAX_REFUSALS_PER_PUSH

    def burst():
        realtime.announce_scan("e1", scan=_scan(0, "invalid"))  # the leading push
        for n in range(1, limit + 31):
            code = "ok" if n in (3, 40) else "invalid"
            realtime.announce_scan("e1", scan=_scan(n, code))
        realtime.announce_scan(
            "e1", scan={"id": 99, "code": "offline_conflict", "verdict": "attention"}
        )

    leading, trailing = _collect_door_pushes(monkeypatch, settings, burst)

    assert [s["id"] for s in leading["scans"]] == [0]
    kept = [s["id"] for s in trailing["scans"]]
    refusals_kept = [s["id"] for s in trailing["scans"] if s["verdict"] == "reject"]
    assert 3 in kept and 40 in kept and 99 in kept
    assert kept == sorted(kept)  # still in the order they were scanned
    assert len(refusals_kept) == limit
    assert refusals_kept[-1] == limit + 30  # the latest refusals are the ones shown
    assert trailing["omitted"] == (limit + 30 - 2) - limit


def test_batches_folded_into_a_window_keep_their_omitted_counts(monkeypatch, settings):
    """Batches of refusals (the scan log's writer) that were capped already:
    a window's push counts what each left out, plus what its own cap drops,
    and the window's copy is not the caller's batch."""
    limit = realtime.MAX_REFUSALS_PER_PUSH
    batches = [
        [_scan(100 * b + n, "invalid") for n in range(limit + 5)] for b in range(3)
    ]

    def burst():
        for scans in batches:
            realtime.announce_scans("e1", scans=scans)

    leading, trailing = _collect_door_pushes(monkeypatch, settings, burst)

    assert leading["omitted"] == 5
    assert [s["id"] for s in trailing["scans"]] == [
        s["id"] for s in batches[2][5:]
    ]  # the latest refusals
    assert trailing["omitted"] == 5 + 5 + limit  # each batch's 5, then 20 of 40
    assert [len(scans) for scans in batches] == [limit + 5] * 3


def test_a_process_about_to_end_sends_what_it_folded(monkeypatch, settings):
    """The worker and commands exit right after their last change."""
    received = []

    class RecordingLayer:
        async def group_send(self, group, message):
            received.append(message["n"])

    settings.LIVE_PUSH_COALESCE_SECONDS = 1
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: RecordingLayer())
    publisher = realtime._Publisher()
    monkeypatch.setattr(realtime, "_publisher", publisher)
    for n in range(3):
        realtime.send_all(
            [("event.1.availability", {"type": "availability.changed", "n": n})]
        )

    publisher.flush(timeout=5)  # returns once the trailing push has gone

    assert received == [0, 2]
