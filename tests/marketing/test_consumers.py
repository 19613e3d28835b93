"""The public event list feed: `ws/events/`."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from core import realtime
from core.models import Role
from core.services.events import set_event_active
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_paid_order,
    make_staff,
)
from tests.live import async_test, close_code, communicator, connected, next_message

pytestmark = pytest.mark.django_db(transaction=True)

# Never an event id: the list hears of events it does not show too.
PUBLIC_KEYS = {"type", "change", "reason"}


@sync_to_async
def announce_in_transaction(event_id, change: str, *, rollback: bool = False):
    with transaction.atomic():
        realtime.announce_event_changed(event_id, change=change)
        if rollback:
            transaction.set_rollback(True)


@async_test
async def test_anyone_hears_an_event_being_created_after_commit():
    comm = await connected("/ws/events/")
    event = await sync_to_async(EventFactory)()

    await announce_in_transaction(event.id, "created")

    assert await next_message(comm) == {"type": "events.changed", "change": "created"}
    await comm.disconnect()


@async_test
async def test_a_rolled_back_change_is_never_announced():
    comm = await connected("/ws/events/")
    rolled_back, kept = await sync_to_async(lambda: (EventFactory(), EventFactory()))()

    await announce_in_transaction(rolled_back.id, "updated", rollback=True)
    await announce_in_transaction(kept.id, "deactivated")

    message = await next_message(comm)
    assert message["change"] == "deactivated"
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


@async_test
async def test_sales_reach_the_list_without_personal_data():
    comm = await connected("/ws/events/")
    ticket_type = await sync_to_async(TicketTypeFactory)()

    await sync_to_async(make_paid_order)(
        ticket_type, 2, email="secret@example.com", name="Secret Buyer"
    )

    hold, sale = await next_message(comm), await next_message(comm)
    assert (hold["reason"], sale["reason"]) == ("hold", "sale")
    for message in (hold, sale):
        assert message["type"] == "events.changed"
        assert set(message) <= PUBLIC_KEYS
        assert "secret" not in repr(message).lower()
    await comm.disconnect()


@async_test
async def test_the_list_feed_never_carries_door_scans():
    comm = await connected("/ws/events/")
    event = await sync_to_async(EventFactory)()

    await sync_to_async(realtime.announce_scan)(
        event.id, scan={"result": "admit", "guest_name": "Private Person"}
    )
    await announce_in_transaction(event.id, "updated")

    message = await next_message(comm)
    assert message["type"] == "events.changed"
    assert "Private Person" not in repr(message)
    await comm.disconnect()


@async_test
async def test_foreign_origins_are_refused():
    assert await close_code("/ws/events/", origin="http://evil.example") is not None
    comm = communicator("/ws/events/", origin="http://evil.example")
    accepted, _ = await comm.connect()
    assert not accepted


@async_test
async def test_connections_without_an_origin_are_refused():
    comm = communicator("/ws/events/", origin=None)
    accepted, _ = await comm.connect()
    assert not accepted


@async_test
async def test_the_consoles_activation_switch_reaches_the_list():
    comm = await connected("/ws/events/")
    event, manager = await sync_to_async(
        lambda: (EventFactory(), make_staff(Role.MANAGER))
    )()

    await sync_to_async(set_event_active)(
        actor=manager, event_id=event.id, active=False
    )
    await sync_to_async(set_event_active)(actor=manager, event_id=event.id, active=True)

    changes = [(await next_message(comm))["change"] for _ in range(2)]
    assert changes == ["deactivated", "activated"]
    await comm.disconnect()


@async_test
async def test_the_list_hears_nothing_of_events_it_does_not_show():
    """Drafts and events off sale are not on the public list: their changes
    must not reach it, nor their ids ride on what does."""
    comm = await connected("/ws/events/")
    draft, off_sale, shown = await sync_to_async(
        lambda: (
            EventFactory(is_active=False),
            TicketTypeFactory(event=EventFactory(is_active=False)),
            EventFactory(),
        )
    )()

    await announce_in_transaction(draft.id, "created")
    await announce_in_transaction(draft.id, "updated")
    await announce_in_transaction(off_sale.event_id, "updated")
    # A refund after it went off sale: the list hears of it, not of which.
    await sync_to_async(realtime.announce_availability_changed)(
        off_sale.event_id, reason="refund"
    )
    refund = await next_message(comm)
    await announce_in_transaction(shown.id, "updated")

    assert refund == {"type": "events.changed", "reason": "refund"}
    assert await next_message(comm) == {"type": "events.changed", "change": "updated"}
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


@async_test
async def test_an_event_taken_off_sale_leaves_the_list_but_a_past_one_is_not_told():
    comm = await connected("/ws/events/")
    upcoming, past, manager = await sync_to_async(
        lambda: (
            EventFactory(),
            EventFactory(starts_at=timezone.now() - timedelta(days=1)),
            make_staff(Role.MANAGER),
        )
    )()

    await sync_to_async(set_event_active)(actor=manager, event_id=past.id, active=False)
    await sync_to_async(set_event_active)(
        actor=manager, event_id=upcoming.id, active=False
    )

    assert await next_message(comm) == {
        "type": "events.changed",
        "change": "deactivated",
    }
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()
