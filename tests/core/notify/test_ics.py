"""The calendar file: one entry per order, updated in place when the event
changes (same UID, higher SEQUENCE, RFC 5545)."""

from datetime import UTC, datetime, timedelta

import pytest

from core.models import Event
from core.notify.ics import event_ics, sequence_of
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def _field(ics: str, name: str) -> str:
    (line,) = [line for line in ics.split("\r\n") if line.startswith(f"{name}:")]
    return line.removeprefix(f"{name}:")


def _edited_at(event: Event, moment: datetime) -> Event:
    Event.objects.filter(pk=event.pk).update(updated_at=moment)
    event.refresh_from_db()
    return event


def test_each_edit_raises_the_sequence_and_keeps_the_uid():
    event = EventFactory()
    order = make_paid_order(TicketTypeFactory(event=event), 1)
    edited = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    before = event_ics(_edited_at(event, edited), order=order)
    after = event_ics(_edited_at(event, edited + timedelta(seconds=1)), order=order)

    assert _field(before, "UID") == _field(after, "UID")
    assert _field(after, "UID") == f"{order.code}-{event.id}@nightpass"
    assert int(_field(after, "SEQUENCE")) == int(_field(before, "SEQUENCE")) + 1


def test_the_sequence_fits_the_integer_calendar_apps_keep():
    event = EventFactory.build(updated_at=datetime(2090, 1, 1, tzinfo=UTC))
    assert 0 < sequence_of(event) < 2**31
    assert sequence_of(EventFactory.build(updated_at=None)) == 0
    older = EventFactory.build(updated_at=datetime(2023, 6, 1, tzinfo=UTC))
    assert sequence_of(older) == 0


def test_the_sequence_belongs_to_the_event_entry():
    event = EventFactory()
    lines = event_ics(event).split("\r\n")
    assert (
        lines.index("BEGIN:VEVENT")
        < lines.index(f"SEQUENCE:{sequence_of(event)}")
        < lines.index("END:VEVENT")
    )


def test_a_lone_carriage_return_in_a_name_cannot_start_a_line_of_its_own():
    """A bare CR is a line break to some calendar apps: a venue typed with one
    could add a property of its own (an alarm, another attendee)."""
    event = EventFactory(name="Gig\rATTENDEE:mailto:x@example.com", venue="Hall\rX-A:1")
    order = make_paid_order(TicketTypeFactory(event=event), 1)

    ics = event_ics(event, order=order)

    assert "\rATTENDEE" not in ics and "\rX-A" not in ics
    assert _field(ics, "SUMMARY") == "Gig\\nATTENDEE:mailto:x@example.com"
    assert _field(ics, "LOCATION") == "Hall\\nX-A:1"
