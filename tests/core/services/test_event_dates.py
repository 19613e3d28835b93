"""Impossible dates: a new event starting in the past, sales opening after
the start (the event's or a type's), and a postponed show whose "Sales
close" would stay at the old date."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.exceptions import InvalidRequest
from core.models import Event
from core.services.events import (
    EventDetails,
    TicketTypeDetails,
    create_event,
    duplicate_event,
    event_details_of,
    opened_version_of,
    ticket_type_details_of,
    update_event,
)
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


def _details(**overrides) -> EventDetails:
    values = {
        "name": "Spring Gala",
        "starts_at": timezone.now() + timedelta(days=10),
        "venue_capacity": 300,
        "time_zone": "Europe/Madrid",
        "currency": "eur",
    }
    return EventDetails(**(values | overrides))


def _ga(**overrides) -> TicketTypeDetails:
    values = {"name": "GA", "price": Decimal(10), "capacity": 50}
    return TicketTypeDetails(**(values | overrides))


def test_a_new_event_cannot_start_in_the_past(owner):
    with pytest.raises(InvalidRequest) as refused:
        create_event(
            actor=owner,
            details=_details(starts_at=timezone.now() - timedelta(days=1)),
            ticket_types=[_ga()],
        )
    assert refused.value.code == "starts_in_past"
    assert refused.value.detail["field"] == "starts_at"
    assert "is in the past" in refused.value.message
    assert not Event.objects.exists()


def test_a_copy_cannot_start_in_the_past(owner):
    source = TicketTypeFactory(event=EventFactory(name="Last Year")).event
    with pytest.raises(InvalidRequest) as refused:
        duplicate_event(
            actor=owner,
            event_id=source.id,
            starts_at=timezone.now() - timedelta(days=300),
        )
    assert refused.value.code == "starts_in_past"


def test_a_past_events_other_fields_can_still_be_edited(owner):
    event = EventFactory(starts_at=timezone.now() - timedelta(days=3))
    TicketTypeFactory(event=event)
    update_event(
        actor=owner,
        event_id=event.id,
        details=replace(event_details_of(event), description="Thanks for coming"),
        ticket_types=[],
    )
    event.refresh_from_db()
    assert event.description == "Thanks for coming"


def test_sales_cannot_open_after_the_event_starts(owner):
    starts = timezone.now() + timedelta(days=10)
    with pytest.raises(InvalidRequest) as refused:
        create_event(
            actor=owner,
            details=_details(
                starts_at=starts, sales_start_at=starts + timedelta(hours=1)
            ),
            ticket_types=[_ga()],
        )
    assert refused.value.code == "sales_open_after_start"
    assert refused.value.detail["field"] == "sales_start_at"
    assert "after the event starts" in refused.value.message


def test_a_types_sales_cannot_open_after_the_event_starts(owner):
    starts = timezone.now() + timedelta(days=10)
    with pytest.raises(InvalidRequest) as refused:
        create_event(
            actor=owner,
            details=_details(starts_at=starts),
            ticket_types=[
                _ga(),
                replace(_ga(name="Late"), sales_start_at=starts + timedelta(days=1)),
            ],
        )
    assert refused.value.code == "sales_open_after_start"
    assert refused.value.detail["type_index"] == 1


def test_an_edit_cannot_open_sales_after_the_start(owner):
    event = TicketTypeFactory(event=EventFactory()).event
    with pytest.raises(InvalidRequest) as refused:
        update_event(
            actor=owner,
            event_id=event.id,
            details=replace(
                event_details_of(event),
                sales_start_at=event.starts_at + timedelta(minutes=1),
            ),
            ticket_types=[],
        )
    assert refused.value.code == "sales_open_after_start"


# --- a postponed show -----------------------------------------------------------


@pytest.fixture
def postponed(owner):
    """A show a week from now, whose sales (and VIP's) close 2 hours before
    it, moved a week later with the closes left as they were."""
    starts = timezone.now() + timedelta(days=7)
    event = EventFactory(starts_at=starts, sales_end_at=starts - timedelta(hours=2))
    TicketTypeFactory(event=event, name="GA")
    TicketTypeFactory(
        event=event, name="VIP", sort_order=1, sales_end_at=starts - timedelta(hours=2)
    )
    types = list(event.ticket_types.order_by("pk"))
    update = update_event(
        actor=owner,
        event_id=event.id,
        details=replace(event_details_of(event), starts_at=starts + timedelta(days=7)),
        ticket_types=[ticket_type_details_of(t) for t in types],
        opened=opened_version_of(event, types),
    )
    event.refresh_from_db()
    return event, update


def test_postponing_moves_sales_close_with_the_start(postponed):
    event, update = postponed
    assert event.sales_end_at == event.starts_at - timedelta(hours=2)
    vip = event.ticket_types.get(name="VIP")
    assert vip.sales_end_at == event.starts_at - timedelta(hours=2)
    assert event.sales_open()
    assert len(update.sales_close_moved) == 2
    assert update.sales_close_moved[1].startswith("VIP: ")


def test_a_sales_close_changed_in_the_same_save_stays_as_typed(owner):
    starts = timezone.now() + timedelta(days=7)
    event = TicketTypeFactory(
        event=EventFactory(starts_at=starts, sales_end_at=starts - timedelta(hours=2))
    ).event
    typed = starts + timedelta(days=1)
    update = update_event(
        actor=owner,
        event_id=event.id,
        details=replace(
            event_details_of(event),
            starts_at=starts + timedelta(days=7),
            sales_end_at=typed,
        ),
        ticket_types=[],
    )
    event.refresh_from_db()
    assert event.sales_end_at == typed
    assert update.sales_close_moved == ()


def test_a_sales_close_already_passed_is_not_reopened(owner):
    starts = timezone.now() + timedelta(days=7)
    closed = timezone.now() - timedelta(hours=1)
    event = TicketTypeFactory(
        event=EventFactory(starts_at=starts, sales_end_at=closed)
    ).event
    update_event(
        actor=owner,
        event_id=event.id,
        details=replace(event_details_of(event), starts_at=starts + timedelta(days=7)),
        ticket_types=[],
    )
    event.refresh_from_db()
    assert event.sales_end_at == closed


def test_bringing_a_show_forward_moves_sales_close_with_it(owner):
    """A show brought forward a day must not go on selling until a day after
    its old close: the close keeps its distance from the new start."""
    starts = timezone.now() + timedelta(days=7)
    event = EventFactory(starts_at=starts, sales_end_at=starts - timedelta(hours=2))
    TicketTypeFactory(
        event=event, name="VIP", sales_end_at=starts + timedelta(minutes=30)
    )
    types = list(event.ticket_types.order_by("pk"))

    update = update_event(
        actor=owner,
        event_id=event.id,
        details=replace(event_details_of(event), starts_at=starts - timedelta(days=1)),
        ticket_types=[ticket_type_details_of(t) for t in types],
        opened=opened_version_of(event, types),
    )

    event.refresh_from_db()
    assert event.sales_end_at == event.starts_at - timedelta(hours=2)
    vip = event.ticket_types.get(name="VIP")
    assert vip.sales_end_at == event.starts_at + timedelta(minutes=30)
    assert update.start_moved_by == timedelta(days=-1)
    assert len(update.sales_close_moved) == 2
