"""A request waiting on Stripe gives its pooled database connection back."""

from decimal import Decimal

import pytest
from django.db import connections, transaction

from core.models import Event
from core.outside import database_connection_returned
from core.services.checkout import place_order
from core.services.payments import start_payment
from tests.factories import EventFactory, TicketTypeFactory


@pytest.fixture
def pooled_database(postgres, transactional_db):
    """The default connection drawn from a psycopg pool, as on the servers
    (the tests' own connections are plain ones: tests/conftest.py)."""
    db = connections["default"]
    db.close()
    options = db.settings_dict.setdefault("OPTIONS", {})
    options["pool"] = {"min_size": 1, "max_size": 2}
    try:
        # Its first connection ready before the test takes it: a first
        # request that had to wait would make the pool open a second one in
        # the background, which the counts below would take for lent out.
        db.pool.open(wait=True, timeout=10)
        yield db.pool
    finally:
        db.close()
        db.close_pool()
        del options["pool"]


def _lent_out(pool) -> int:
    stats = pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


def test_the_connection_waits_in_the_pool_and_the_next_query_takes_one(
    pooled_database,
):
    db = connections["default"]
    Event.objects.count()
    assert _lent_out(pooled_database) == 1

    with database_connection_returned():
        assert db.connection is None
        assert _lent_out(pooled_database) == 0

    assert Event.objects.count() == 0
    assert _lent_out(pooled_database) == 1


def test_inside_a_transaction_the_connection_stays(pooled_database):
    db = connections["default"]
    with transaction.atomic():
        Event.objects.count()
        held = db.connection
        with database_connection_returned():
            assert db.connection is held
        assert Event.objects.count() == 0


def test_without_a_pool_the_connection_stays(db):
    connection = connections["default"]
    Event.objects.count()
    held = connection.connection
    with database_connection_returned():
        assert connection.connection is held


def test_a_checkout_holds_no_connection_while_stripe_creates_its_session(
    pooled_database, stripe_stub
):
    event = EventFactory()
    ticket_type = TicketTypeFactory(event=event, price=Decimal("20.00"))
    order = place_order(
        event_id=event.id,
        quantities={ticket_type.id: 2},
        customer_name="Ana",
        customer_email="ana@example.com",
    )
    lent_while_stripe_answered = []

    def note_connections_lent_out(request) -> float:
        lent_while_stripe_answered.append(_lent_out(pooled_database))
        return 0.0  # answer at once

    stripe_stub.delay_for = note_connections_lent_out

    url = start_payment(
        order_id=order.id,
        order=order,
        success_url="https://tickets.test/done/",
        cancel_url="https://tickets.test/cancel/",
    )

    assert lent_while_stripe_answered == [0]
    order.refresh_from_db()
    assert stripe_stub.sessions[order.stripe_checkout_session_id]["url"] == url
