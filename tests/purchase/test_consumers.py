"""One event's availability feed: `ws/events/<uuid>/availability/`."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from core import realtime
from core.exceptions import SoldOut
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order
from tests.factories import EventFactory, TicketTypeFactory
from tests.live import async_test, close_code, communicator, connected, next_message

pytestmark = pytest.mark.django_db(transaction=True)


def path(event) -> str:
    return f"/ws/events/{getattr(event, 'id', event)}/availability/"


@sync_to_async
def hold(ticket_type, quantity=1):
    return place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: quantity},
        customer_name="Ann Buyer",
        customer_email="ann@example.com",
    )


@sync_to_async
def pay(order):
    fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference=f"test-{order.code}",
        amount=order.total,
        currency=order.currency,
    )


@async_test
async def test_holds_and_sales_are_pushed_to_the_event_audience():
    ticket_type = await sync_to_async(TicketTypeFactory)()
    comm = await connected(path(ticket_type.event))

    order = await hold(ticket_type, 2)
    assert await next_message(comm) == {
        "type": "availability.changed",
        "event_id": str(ticket_type.event_id),
        "reason": "hold",
    }
    await pay(order)
    assert (await next_message(comm))["reason"] == "sale"
    await comm.disconnect()


@async_test
async def test_event_edits_and_deactivation_reach_the_event_page():
    event = await sync_to_async(EventFactory)()
    comm = await connected(path(event))

    for change in ("updated", "capacity", "deactivated"):
        await sync_to_async(realtime.announce_event_changed)(event.id, change=change)
        message = await next_message(comm)
        assert message["type"] == "availability.changed"
        assert message["change"] == change
    await comm.disconnect()


@async_test
async def test_an_event_hears_only_its_own_changes():
    mine, other = await sync_to_async(
        lambda: (TicketTypeFactory(), TicketTypeFactory())
    )()
    comm = await connected(path(mine.event))

    await hold(other)
    await hold(mine)

    assert (await next_message(comm))["event_id"] == str(mine.event_id)
    await comm.disconnect()


@async_test
async def test_a_failed_hold_announces_nothing():
    ticket_type = await sync_to_async(TicketTypeFactory)(capacity=1)
    comm = await connected(path(ticket_type.event))

    with pytest.raises(SoldOut):
        await hold(ticket_type, 2)
    await sync_to_async(realtime.announce_event_changed)(
        ticket_type.event_id, change="updated"
    )

    assert (await next_message(comm)).get("change") == "updated"
    await comm.disconnect()


@async_test
async def test_unknown_events_are_refused_with_4404():
    assert await close_code(path(uuid.uuid4())) == realtime.CLOSE_NOT_FOUND


@async_test
async def test_an_event_off_sale_keeps_its_feed_to_hear_it_come_back():
    """A buy page reconnecting while its event is off sale is not refused for
    good (4404 is final): it must hear the event go back on sale."""
    event = await sync_to_async(EventFactory)(is_active=False)
    comm = await connected(path(event))

    await sync_to_async(realtime.announce_event_changed)(event.id, change="activated")

    assert await next_message(comm) == {
        "type": "availability.changed",
        "event_id": str(event.id),
        "change": "activated",
    }
    await comm.disconnect()


@async_test
async def test_a_malformed_frame_is_ignored_and_the_feed_goes_on():
    event = await sync_to_async(EventFactory)()
    comm = await connected(path(event))

    await comm.send_to(text_data="{not json")
    await comm.send_to(bytes_data=b"\x00\xff\xfe")
    await comm.send_json_to({"type": "websocket.disconnect"})
    await sync_to_async(realtime.announce_event_changed)(event.id, change="updated")

    assert (await next_message(comm))["change"] == "updated"
    await comm.disconnect()


@async_test
async def test_a_flooding_client_is_closed_and_others_keep_their_feed():
    event = await sync_to_async(EventFactory)()
    flooder = await connected(path(event))
    neighbour = await connected(path(event))

    for n in range(200):
        await flooder.send_to(text_data=f"garbage {n}")
    closed = await flooder.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": realtime.CLOSE_TOO_MANY_FRAMES}

    await sync_to_async(realtime.announce_event_changed)(event.id, change="updated")
    assert (await next_message(neighbour))["change"] == "updated"
    await neighbour.disconnect()


@async_test
async def test_an_oversized_frame_closes_only_its_sender():
    event = await sync_to_async(EventFactory)()
    comm = await connected(path(event))

    await comm.send_to(text_data="x" * 100_000)

    closed = await comm.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": realtime.CLOSE_FRAME_TOO_BIG}


@async_test
async def test_an_unexpected_group_message_does_not_kill_the_consumer():
    event = await sync_to_async(EventFactory)()
    comm = await connected(path(event))

    await get_channel_layer().group_send(
        realtime.availability_group(event.id), {"type": "something.else", "x": 1}
    )
    await sync_to_async(realtime.announce_event_changed)(event.id, change="updated")

    assert (await next_message(comm))["change"] == "updated"
    await comm.disconnect()


@async_test
async def test_unrouted_paths_are_refused():
    comm = communicator("/ws/events/not-a-uuid/availability/")
    with pytest.raises(ValueError, match="No route"):
        await comm.connect()
