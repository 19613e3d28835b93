"""One event's door feed for staff: `ws/events/<uuid>/door/`."""

import uuid

import pytest
from asgiref.sync import sync_to_async

from core import realtime
from core.models import Role
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    UserFactory,
    make_paid_order,
    make_staff,
)
from tests.live import async_test, close_code, connected, next_message, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def path(event) -> str:
    return f"/ws/events/{getattr(event, 'id', event)}/door/"


@sync_to_async
def staff_cookie(role: str, *, assigned=()) -> str:
    user = make_staff(role)
    if assigned:
        user.staff_profile.events.set(assigned)
    return session_cookie(user)


@pytest.fixture
def event(transactional_db):
    return EventFactory()


@async_test
async def test_anonymous_visitors_are_told_to_sign_in(event):
    assert await close_code(path(event)) == realtime.CLOSE_LOGIN_REQUIRED


@async_test
async def test_a_forged_session_cookie_counts_as_anonymous(event):
    code = await close_code(path(event), cookie="sessionid=forged")
    assert code == realtime.CLOSE_LOGIN_REQUIRED


@async_test
async def test_signed_in_non_staff_are_forbidden(event):
    cookie = await sync_to_async(lambda: session_cookie(UserFactory()))()
    assert await close_code(path(event), cookie=cookie) == realtime.CLOSE_FORBIDDEN


@async_test
async def test_door_staff_assigned_elsewhere_are_forbidden(event):
    elsewhere = await sync_to_async(EventFactory)()
    cookie = await staff_cookie(Role.DOOR, assigned=[elsewhere])
    assert await close_code(path(event), cookie=cookie) == realtime.CLOSE_FORBIDDEN


@async_test
async def test_unknown_events_are_refused_with_4404():
    cookie = await staff_cookie(Role.OWNER)
    code = await close_code(path(uuid.uuid4()), cookie=cookie)
    assert code == realtime.CLOSE_NOT_FOUND


@pytest.mark.parametrize(
    ("role", "assigned_here"),
    [
        (Role.OWNER, False),
        (Role.MANAGER, False),
        (Role.DOOR, False),  # door staff with no assignment scan every event
        (Role.DOOR, True),
    ],
)
@async_test
async def test_staff_who_may_scan_hear_scans_with_their_verdict(
    event, role, assigned_here
):
    cookie = await staff_cookie(role, assigned=[event] if assigned_here else ())
    comm = await connected(path(event), cookie=cookie)
    scan = {"result": "admit", "ticket": "T-1", "guest_name": "Ann", "door": "Door 2"}

    await sync_to_async(realtime.announce_scan)(event.id, scan=scan)

    assert await next_message(comm) == {
        "type": "door.scans",
        "event_id": str(event.id),
        "scans": [scan],
        "omitted": 0,
    }
    await comm.disconnect()


@async_test
async def test_sales_move_the_door_counters():
    ticket_type = await sync_to_async(TicketTypeFactory)()
    comm = await connected(
        path(ticket_type.event), cookie=await staff_cookie(Role.DOOR)
    )

    await sync_to_async(make_paid_order)(ticket_type)

    hold, sale = await next_message(comm), await next_message(comm)
    assert (hold["type"], hold["reason"]) == ("door.counters", "hold")
    assert (sale["type"], sale["reason"]) == ("door.counters", "sale")
    await comm.disconnect()


@async_test
async def test_one_door_does_not_hear_another_events_scans(event):
    other = await sync_to_async(EventFactory)()
    comm = await connected(path(event), cookie=await staff_cookie(Role.MANAGER))

    await sync_to_async(realtime.announce_scan)(other.id, scan={"result": "admit"})
    await sync_to_async(realtime.announce_scan)(event.id, scan={"result": "void"})

    assert (await next_message(comm))["scans"] == [{"result": "void"}]
    await comm.disconnect()


@async_test
async def test_public_feeds_never_carry_scans(event):
    availability = await connected(f"/ws/events/{event.id}/availability/")

    await sync_to_async(realtime.announce_scan)(
        event.id, scan={"guest_name": "Private Person"}
    )
    await sync_to_async(realtime.announce_event_changed)(event.id, change="updated")

    message = await next_message(availability)
    assert message["type"] == "availability.changed"
    assert "Private Person" not in repr(message)
    await availability.disconnect()


@sync_to_async
def _sign_out(cookie: str) -> None:
    from django.test import Client

    client = Client()
    client.cookies["sessionid"] = cookie.split("=", 1)[1]
    assert client.post("/scanner/logout/").status_code in (200, 302)


@async_test
async def test_signing_out_closes_that_browsers_door_feed_only(event):
    """A phone handed back after sign-out must stop hearing guest names at once."""
    user = await sync_to_async(make_staff)(Role.DOOR)
    this_phone = await sync_to_async(session_cookie)(user)
    other_phone = await sync_to_async(session_cookie)(user)
    signing_out = await connected(path(event), cookie=this_phone)
    staying = await connected(path(event), cookie=other_phone)

    await _sign_out(this_phone)

    closed = await signing_out.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": realtime.CLOSE_LOGIN_REQUIRED}
    await sync_to_async(realtime.announce_scan)(event.id, scan={"result": "void"})
    assert (await next_message(staying))["scans"] == [{"result": "void"}]
    assert await signing_out.receive_nothing(timeout=0.2)
    await staying.disconnect()


@sync_to_async
def _owner_changes(door_user, *, deactivate=False, events=None) -> None:
    from core.services.staff import set_staff_active, update_staff_member

    owner = make_staff(Role.OWNER, username="boss")
    if deactivate:
        set_staff_active(actor=owner, user_id=door_user.pk, active=False)
    else:
        update_staff_member(
            actor=owner, user_id=door_user.pk, role=Role.DOOR, event_ids=events
        )


@async_test
async def test_deactivating_someone_closes_their_door_feeds_at_once(event):
    """A feed checks who may listen when it opens; a deactivated person must
    stop hearing guest names then, not at their next reload."""
    user = await sync_to_async(make_staff)(Role.DOOR)
    phone = await connected(
        path(event), cookie=await sync_to_async(session_cookie)(user)
    )

    await _owner_changes(user, deactivate=True)

    closed = await phone.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": realtime.CLOSE_LOGIN_REQUIRED}


@async_test
async def test_moving_door_staff_to_other_events_closes_their_feed(event):
    user = await sync_to_async(make_staff)(Role.DOOR)
    other = await sync_to_async(EventFactory)()
    phone = await connected(
        path(event), cookie=await sync_to_async(session_cookie)(user)
    )
    bystander = await connected(path(event), cookie=await staff_cookie(Role.DOOR))

    await _owner_changes(user, events=[other.pk])

    closed = await phone.receive_output(timeout=2)
    # A code the page reconnects after (4401 would stop it for good)...
    assert closed == {"type": "websocket.close", "code": realtime.CLOSE_ACCESS_CHANGED}
    assert realtime.CLOSE_ACCESS_CHANGED not in realtime.FINAL_CLOSE_CODES
    # ...and it reconnects and is refused: this event is no longer theirs.
    again = path(event)
    code = await close_code(again, cookie=await sync_to_async(session_cookie)(user))
    assert code == realtime.CLOSE_FORBIDDEN
    await sync_to_async(realtime.announce_scan)(event.id, scan={"result": "void"})
    assert (await next_message(bystander))["scans"] == [{"result": "void"}]
    await bystander.disconnect()


@async_test
async def test_given_another_event_too_door_staff_reconnect_and_keep_listening(event):
    """Still on this event: their door page must not go offline for good
    (live.js stops for good after 4401) but reconnect and be admitted."""
    user = await sync_to_async(make_staff)(Role.DOOR)
    await sync_to_async(lambda: user.staff_profile.events.set([event]))()
    cookie = await sync_to_async(session_cookie)(user)
    other = await sync_to_async(EventFactory)()
    phone = await connected(path(event), cookie=cookie)

    await _owner_changes(user, events=[event.pk, other.pk])

    closed = await phone.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": realtime.CLOSE_ACCESS_CHANGED}
    again = await connected(path(event), cookie=cookie)
    await sync_to_async(realtime.announce_scan)(event.id, scan={"result": "ok"})
    assert (await next_message(again))["scans"] == [{"result": "ok"}]
    await again.disconnect()
