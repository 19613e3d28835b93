"""core.rows: hand-written statements that must give what the ORM gives."""

import pytest

from core.models import Order
from core.queries.orders import order_by_token
from tests.factories import TicketTypeFactory, count_held_seats, make_paid_order

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {
        f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields
    }


def test_planned_statements_are_logged_with_their_sql_once_prepared():
    """Past psycopg's prepare threshold a statement runs prepared; the query
    log (tests, DEBUG, the debug toolbar) must still show its SQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    paid = make_paid_order(TicketTypeFactory(), 1)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(8):
            assert order_by_token(paid.token).pk == paid.pk
    assert len(queries) == 8
    assert all(q["sql"].startswith("SELECT") for q in queries.captured_queries)


def test_insert_row_writes_what_save_would():
    """Defaults, auto_now_add, decimals, JSON and an auto primary key alike."""
    from decimal import Decimal

    from django.utils import timezone

    from core.models import OrderLine, OutboundMessage
    from core.rows import insert_row

    ticket_type = TicketTypeFactory(price="7.50")
    order = insert_row(
        Order(
            event_id=ticket_type.event_id,
            customer_name="Ada",
            customer_email="ada@example.com",
            total=Decimal("15.00"),
            currency="eur",
        )
    )
    line = insert_row(
        OrderLine(order=order, ticket_type=ticket_type, quantity=2, unit_price="7.50")
    )
    message = insert_row(
        OutboundMessage(
            channel="email",
            kind="order_confirmation",
            to="ada@example.com",
            order=order,
            event_id=order.event_id,
            context={"reason": "ümlaut", "n": 2},
            next_attempt_at=timezone.now(),
        )
    )

    assert line.pk is not None and message.pk is not None
    assert not order._state.adding and order.created_at is not None
    stored = Order.objects.get(pk=order.pk)
    assert _fields(stored) == _fields(order)
    assert OrderLine.objects.get(pk=line.pk).unit_price == Decimal("7.50")
    assert OutboundMessage.objects.get(pk=message.pk).context == {
        "reason": "ümlaut",
        "n": 2,
    }
    count_held_seats()  # a pending order written raw, as a checkout would


def test_insert_rows_batches_under_the_parameter_cap_and_returns_every_key():
    from django.utils import timezone

    from core.models import OutboundMessage
    from core.rows import insert_rows

    now = timezone.now()
    messages = insert_rows(
        [
            OutboundMessage(
                channel="email", kind="k", to=f"{n}@example.com", next_attempt_at=now
            )
            for n in range(120)  # SQLite takes 999 parameters: several batches
        ]
    )
    stored = dict(OutboundMessage.objects.values_list("pk", "to"))
    assert len({m.pk for m in messages}) == 120
    assert all(stored[m.pk] == m.to for m in messages)


def test_update_row_saves_the_listed_fields_only_and_refuses_a_gone_row():
    import uuid

    from django.db import DatabaseError
    from django.utils import timezone

    from core.rows import update_row

    order = make_paid_order(TicketTypeFactory(), 1)
    before = Order.objects.get(pk=order.pk)
    order.customer_name = "Changed"
    order.status = Order.Status.REFUNDED
    order.paid_at = timezone.now()
    update_row(order, ["status", "updated_at"])
    stored = Order.objects.get(pk=order.pk)
    assert stored.status == Order.Status.REFUNDED
    assert stored.customer_name == before.customer_name  # not listed
    assert stored.paid_at == before.paid_at
    assert stored.updated_at > before.updated_at  # auto_now ran
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID)
    order.pk = uuid.uuid4()
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        update_row(order, ["status"])


def test_an_order_and_its_lines_are_written_together():
    from decimal import Decimal

    from django.db import IntegrityError, connection, transaction
    from django.test.utils import CaptureQueriesContext

    from core.models import OrderLine
    from core.rows import insert_row_and_rows

    ticket_type = TicketTypeFactory(price="7.50")
    other_type = TicketTypeFactory(event=ticket_type.event, price="7.50")

    def order_with_lines(type_ids):
        order = Order(
            event_id=ticket_type.event_id,
            customer_name="Ada",
            customer_email="ada@example.com",
            total=Decimal("15.00"),
            currency="eur",
        )
        lines = [
            OrderLine(
                order=order, ticket_type_id=type_id, quantity=1, unit_price="7.50"
            )
            for type_id in type_ids
        ]
        return order, lines

    order, lines = order_with_lines([ticket_type.pk, other_type.pk])
    lines[1].quantity = 2
    with CaptureQueriesContext(connection) as queries:
        insert_row_and_rows(order, lines)

    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)
    assert _fields(Order.objects.get(pk=order.pk)) == _fields(order)
    stored = {line.pk: line.quantity for line in OrderLine.objects.filter(order=order)}
    assert stored == {lines[0].pk: 1, lines[1].pk: 2}
    assert not lines[0]._state.adding

    broken, broken_lines = order_with_lines([other_type.pk, other_type.pk])  # twice
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row_and_rows(broken, broken_lines)
    assert not Order.objects.filter(pk=broken.pk).exists()
    count_held_seats()  # pending orders written raw, as a checkout would


def test_insert_row_if_new_writes_once_per_unique_key():
    from decimal import Decimal

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.models import Payment
    from core.rows import insert_row_if_new

    order = make_paid_order(TicketTypeFactory(), 1)

    def payment(amount):
        return Payment(
            order=order,
            provider="stripe",
            provider_reference="pi_once",
            amount=Decimal(amount),
            currency="usd",
            status=Payment.Status.SUCCEEDED,
        )

    first, again = payment("10.00"), payment("99.00")
    with CaptureQueriesContext(connection) as queries:
        assert insert_row_if_new(first, unique=("provider", "provider_reference"))
    assert len(queries) == 1
    assert not insert_row_if_new(again, unique=("provider", "provider_reference"))

    stored = Payment.objects.get(provider_reference="pi_once")
    assert stored.pk == first.pk and not first._state.adding
    assert stored.amount == Decimal("10.00")
    assert again.pk is None and again._state.adding
