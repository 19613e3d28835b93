"""update_event with what the edit page was opened on (OpenedVersion): a
change made since by anyone refuses the save, under the event's lock, and
writes nothing."""

from dataclasses import replace
from decimal import Decimal

import pytest

from core.exceptions import InvalidRequest
from core.models import AuditLogEntry
from core.services.events import (
    event_details_of,
    opened_version_of,
    set_event_active,
    ticket_type_details_of,
    update_event,
)
from tests.factories import EventFactory, TicketTypeFactory, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def sam(db):
    return make_staff("manager", username="sam", first_name="Sam")


@pytest.fixture
def show(db):
    event = EventFactory(name="Jazz Night", description="Old words")
    TicketTypeFactory(event=event, name="General", price=Decimal(20), capacity=8)
    TicketTypeFactory(event=event, name="VIP", price=Decimal(50), sort_order=1)
    return event


def _types(event):
    return list(event.ticket_types.order_by("pk"))


def _save(event, actor, opened, *, types=None, **changes):
    event.refresh_from_db()
    return update_event(
        actor=actor,
        event_id=event.id,
        details=replace(event_details_of(event), **changes),
        ticket_types=[ticket_type_details_of(t) for t in (types or _types(event))],
        opened=opened,
    )


def test_a_price_changed_since_the_page_opened_refuses_the_save(owner, sam, show):
    opened = opened_version_of(show, _types(show))
    stale_types = _types(show)  # as the owner's page shows them
    general = show.ticket_types.get(name="General")
    _save(
        show,
        sam,
        opened,
        types=[
            replace(ticket_type_details_of(t), price=Decimal(25), capacity=9)
            if t.pk == general.pk
            else ticket_type_details_of(t)
            for t in _types(show)
        ],
    )
    entries = AuditLogEntry.objects.count()

    with pytest.raises(InvalidRequest) as refused:
        _save(show, owner, opened, types=stale_types, description="New words")

    assert refused.value.code == "edited_meanwhile"
    assert refused.value.message.startswith("Sam changed this event at ")
    assert refused.value.detail["changed_by"] == "Sam"
    general.refresh_from_db()
    assert (general.price, general.capacity) == (Decimal("25.00"), 9)
    show.refresh_from_db()
    assert show.description == "Old words"
    assert AuditLogEntry.objects.count() == entries


def test_taken_off_sale_since_the_page_opened_stays_off_sale(owner, sam, show):
    opened = opened_version_of(show, _types(show))
    set_event_active(actor=sam, event_id=show.id, active=False)

    with pytest.raises(InvalidRequest) as refused:
        _save(show, owner, opened, is_active=True, description="New words")

    assert refused.value.code == "edited_meanwhile"
    show.refresh_from_db()
    assert show.is_active is False


def test_a_type_deleted_since_the_page_opened_refuses_the_save(owner, sam, show):
    opened = opened_version_of(show, _types(show))
    stale_types = _types(show)
    vip = show.ticket_types.get(name="VIP")
    show.refresh_from_db()
    update_event(
        actor=sam,
        event_id=show.id,
        details=event_details_of(show),
        ticket_types=[replace(ticket_type_details_of(vip), delete=True)],
        opened=opened,
    )

    with pytest.raises(InvalidRequest) as refused:
        _save(show, owner, opened, types=stale_types)
    assert refused.value.code == "edited_meanwhile"


def test_a_change_with_no_audit_entry_is_said_without_a_name(owner, show):
    opened = opened_version_of(show, _types(show))
    show.venue = "Changed in the admin"
    show.save()

    with pytest.raises(InvalidRequest) as refused:
        _save(show, owner, opened, description="New words")
    assert refused.value.message.startswith("Someone changed this event at ")


def test_a_save_from_an_up_to_date_page_is_written(owner, show):
    opened = opened_version_of(show, _types(show))
    _save(show, owner, opened, description="New words")
    show.refresh_from_db()
    assert show.description == "New words"
