import pytest

from core.models import Order, OrderLine
from core.queries.orders import order_and_lines_by_token, order_by_token
from tests.factories import TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {
        f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields
    }


def test_order_by_token_gives_what_the_orm_gives():
    """Its SQL is hand-written; the order and its event must come back exactly
    as the ORM builds them (UUIDs, decimals and times through its converters)."""
    ticket_type = TicketTypeFactory(price="19.95")
    paid = make_paid_order(ticket_type, 2)
    orm = Order.objects.select_related("event").get(pk=paid.pk)

    found = order_by_token(paid.token)

    assert _fields(found) == _fields(orm)
    assert _fields(found.event) == _fields(orm.event)
    assert found.total == orm.total and str(found.total) == str(orm.total)
    assert not found._state.adding and found._state.db == orm._state.db


@pytest.mark.parametrize("token", ["", "nope", "x" * 65])
def test_order_by_token_finds_nothing_for_unknown_tokens(token):
    make_paid_order(TicketTypeFactory(), 1)
    assert order_by_token(token) is None


def test_order_and_lines_by_token_gives_what_the_orm_gives():
    """The same order, and its lines by ticket type, as the ORM's."""
    ticket_type = TicketTypeFactory(price="19.95")
    other_type = TicketTypeFactory(event=ticket_type.event, price="5.00")
    paid = make_paid_order(other_type, 1)
    OrderLine.objects.create(
        order=paid, ticket_type=ticket_type, quantity=2, unit_price="19.95"
    )
    orm = Order.objects.get(pk=paid.pk)

    found, lines = order_and_lines_by_token(paid.token)

    assert _fields(found) == _fields(orm)
    orm_lines = list(OrderLine.objects.filter(order=paid).order_by("ticket_type_id"))
    assert [_fields(line) for line in lines] == [_fields(line) for line in orm_lines]
    assert len(lines) == 2 and not lines[0]._state.adding


@pytest.mark.parametrize("token", ["", "nope", "x" * 65])
def test_order_and_lines_by_token_finds_nothing_for_unknown_tokens(token):
    make_paid_order(TicketTypeFactory(), 1)
    assert order_and_lines_by_token(token) is None
