"""The console's event list feed: `ws/events/staff/`, every event's news
(drafts and off-sale events too, which the public list feed never hears)."""

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from core import realtime
from core.models import Role
from core.services.events import EventDetails, TicketTypeDetails, create_event
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    UserFactory,
    make_staff,
)
from tests.live import async_test, close_code, connected, next_message, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/ws/events/staff/"


def _cookie(role) -> str:
    return session_cookie(make_staff(role))


@async_test
async def test_only_owners_and_managers_may_listen():
    assert await close_code(PATH) == realtime.CLOSE_LOGIN_REQUIRED
    customer = await sync_to_async(lambda: session_cookie(UserFactory()))()
    assert await close_code(PATH, cookie=customer) == realtime.CLOSE_FORBIDDEN
    door = await sync_to_async(_cookie)(Role.DOOR)
    assert await close_code(PATH, cookie=door) == realtime.CLOSE_FORBIDDEN
    manager = await connected(PATH, cookie=await sync_to_async(_cookie)(Role.MANAGER))
    await manager.disconnect()


@async_test
async def test_a_draft_another_manager_creates_reaches_the_console_list():
    """The public list must not hear of drafts; the console's list shows them."""
    owner = await connected(PATH, cookie=await sync_to_async(_cookie)(Role.OWNER))
    public = await connected("/ws/events/")

    def create_draft():
        from datetime import timedelta

        from django.utils import timezone

        manager = make_staff(Role.MANAGER, username="sam")
        starts = timezone.now() + timedelta(days=9)
        return create_event(
            actor=manager,
            details=EventDetails(
                name="Quiet Draft",
                venue="Hall",
                starts_at=starts,
                doors_at=None,
                time_zone="Europe/London",
                venue_capacity=100,
                is_active=False,
            ),
            ticket_types=[
                TicketTypeDetails(name="GA", price=Decimal(10), capacity=100)
            ],
        )

    draft = await sync_to_async(create_draft)()

    assert await next_message(owner) == {
        "type": "events.changed",
        "event_id": str(draft.id),
        "change": "created",
    }
    assert await public.receive_nothing(timeout=0.3)
    await owner.disconnect()
    await public.disconnect()


@async_test
async def test_sales_of_an_off_sale_event_reach_the_console_list_with_its_id():
    ticket_type = await sync_to_async(
        lambda: TicketTypeFactory(event=EventFactory(is_active=False))
    )()
    owner = await connected(PATH, cookie=await sync_to_async(_cookie)(Role.OWNER))

    def refund_like_change():
        with transaction.atomic():
            realtime.announce_availability_changed(
                ticket_type.event_id, reason="refund"
            )

    await sync_to_async(refund_like_change)()

    message = await next_message(owner)
    assert message["event_id"] == str(ticket_type.event_id)
    assert message["reason"] == "refund"
    await owner.disconnect()


@async_test
async def test_signing_out_closes_the_list_feed():
    user = await sync_to_async(make_staff)(Role.OWNER)
    cookie = await sync_to_async(session_cookie)(user)
    feed = await connected(PATH, cookie=cookie)

    def sign_out():
        from django.test import Client

        client = Client()
        client.cookies["sessionid"] = cookie.split("=", 1)[1]
        client.post("/scanner/logout/")

    await sync_to_async(sign_out)()

    closed = await feed.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": realtime.CLOSE_LOGIN_REQUIRED}
