import uuid

import pytest
from django.db import transaction

from core.models import TicketType
from core.services.locks import lock_event_and_types
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {
        f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields
    }


def test_the_event_and_all_its_types_come_locked_in_primary_key_order():
    event = EventFactory()
    made = [
        TicketTypeFactory(event=event, sort_order=order, is_active=order != 1)
        for order in (3, 1, 2)
    ]
    TicketTypeFactory()  # another event's type stays out
    with transaction.atomic():
        locked_event, types = lock_event_and_types(event.pk)
    assert _fields(locked_event) == _fields(event)
    assert [t.pk for t in types] == sorted(t.pk for t in made)  # inactive too
    orm = {t.pk: _fields(t) for t in TicketType.objects.filter(event=event)}
    assert all(_fields(t) == orm[t.pk] and t.event is locked_event for t in types)


def test_an_unknown_event_locks_nothing():
    with transaction.atomic():
        assert lock_event_and_types(uuid.uuid4()) == (None, [])


def test_only_the_two_counters_can_be_moved():
    from core.services.counters import move_counters

    event = EventFactory()
    with pytest.raises(ValueError, match="Not a counter"):
        move_counters(event_id=event.pk, by_type={}, column="venue_capacity")


def test_counters_move_for_the_event_and_each_type():
    from core.services.counters import move_counters

    event = EventFactory(venue_capacity=20)
    first, second = (TicketTypeFactory(event=event, capacity=10) for _ in range(2))
    move_counters(
        event_id=event.pk, by_type={second.pk: 3, first.pk: 2}, column="sold_count"
    )
    move_counters(event_id=event.pk, by_type={first.pk: -1}, column="sold_count")

    event.refresh_from_db()
    assert event.sold_count == 4
    assert [
        t.sold_count for t in TicketType.objects.filter(event=event).order_by("pk")
    ] == [1, 3]


@pytest.mark.django_db(transaction=True)
def test_another_connection_cannot_take_the_locks_meanwhile(postgres):
    """The types are locked too, not only read (Postgres locks them in one statement)."""
    import psycopg
    from django.db import connection

    event = EventFactory()
    types = [TicketTypeFactory(event=event) for _ in range(2)]
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    other = psycopg.connect(**params, autocommit=True)
    try:
        with transaction.atomic():
            lock_event_and_types(event.pk)
            for table, key in [
                ("core_event", event.pk),
                *(("core_tickettype", t.pk) for t in types),
            ]:
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute(
                        f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [key]
                    )
        other.execute(
            "SELECT 1 FROM core_event WHERE id = %s FOR UPDATE NOWAIT", [event.pk]
        )
    finally:
        other.close()
