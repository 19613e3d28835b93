from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.exceptions import InvalidRequest, NotFound, SalesClosed, SoldOut
from core.models import Order
from core.queries.availability import get_event_availability
from core.services.checkout import place_order
from core.services.orders import cancel_order
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


def _order(ticket_type, quantity, **kwargs):
    params = {
        "event_id": ticket_type.event_id,
        "quantities": {ticket_type.id: quantity},
        "customer_name": "Ana",
        "customer_email": "ana@example.com",
    } | kwargs
    return place_order(**params)


def test_place_order_holds_seats_with_a_total(ticket_type):
    order = _order(ticket_type, 2)
    assert order.status == Order.Status.PENDING
    assert order.total == ticket_type.price * 2
    assert order.hold_expires_at > timezone.now()
    assert order.lines.get().quantity == 2


@pytest.mark.parametrize("quantity", [0, -1, "two"])
def test_bad_quantities_are_refused_and_hold_nothing(ticket_type, quantity):
    with pytest.raises(InvalidRequest):
        _order(ticket_type, quantity)
    assert not Order.objects.exists()


def test_above_max_per_order_is_refused(ticket_type):
    with pytest.raises(InvalidRequest, match="at most"):
        _order(ticket_type, ticket_type.max_per_order + 1)


def test_place_order_fails_when_sold_out():
    ticket_type = TicketTypeFactory(capacity=3)
    _order(ticket_type, 3)
    with pytest.raises(SoldOut):
        _order(ticket_type, 1)
    assert Order.objects.count() == 1


def test_a_request_seen_sold_out_is_refused_without_taking_a_lock():
    ticket_type = TicketTypeFactory(capacity=2)
    _order(ticket_type, 2)
    seen = get_event_availability(ticket_type.event)
    with CaptureQueriesContext(connection) as queries, pytest.raises(SoldOut):
        _order(ticket_type, 1, seen_availability=seen)
    statements = [q["sql"] for q in queries.captured_queries]
    assert not any("FOR UPDATE" in sql or "core_" in sql for sql in statements)


def test_a_stale_snapshot_never_lets_an_order_through():
    ticket_type = TicketTypeFactory(capacity=2)
    seen = get_event_availability(ticket_type.event)  # 2 free when read
    _order(ticket_type, 2)
    with pytest.raises(SoldOut):
        _order(ticket_type, 1, seen_availability=seen)
    assert Order.objects.count() == 1


def test_an_older_snapshot_is_checked_afresh_before_it_refuses():
    ticket_type = TicketTypeFactory(capacity=2)
    first = _order(ticket_type, 2)
    seen = get_event_availability(ticket_type.event)  # sold out when read
    cancel_order(order_id=first.id)  # seats freed since
    _order(ticket_type, 1, seen_availability=seen, seen_is_current=False)
    assert Order.objects.filter(status=Order.Status.PENDING).count() == 1
    with pytest.raises(SoldOut):  # the same snapshot, taken as current
        _order(ticket_type, 2, seen_availability=seen)


def test_venue_capacity_bounds_all_types_together():
    event = EventFactory(venue_capacity=5)
    a = TicketTypeFactory(event=event, capacity=5)
    b = TicketTypeFactory(event=event, capacity=5)
    _order(a, 4)
    with pytest.raises(SoldOut, match="Only 1"):
        _order(b, 2)


def test_malformed_email_is_refused(ticket_type):
    with pytest.raises(InvalidRequest, match="valid email"):
        _order(ticket_type, 1, customer_email="not-an-email")


def test_inactive_event_is_not_on_sale():
    ticket_type = TicketTypeFactory(event__is_active=False)
    with pytest.raises(NotFound):
        _order(ticket_type, 1)


def test_sales_window_is_enforced():
    ticket_type = TicketTypeFactory(sales_start_at=timezone.now() + timedelta(days=1))
    with pytest.raises(SalesClosed):
        _order(ticket_type, 1)


def test_unknown_ticket_type_is_refused(event):
    other = TicketTypeFactory()
    with pytest.raises(InvalidRequest):
        place_order(
            event_id=event.id,
            quantities={other.id: 1},
            customer_name="A",
            customer_email="a@example.com",
        )


def test_availability_is_announced_after_commit(
    ticket_type, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        _order(ticket_type, 1)
    assert callbacks, "a hold must broadcast availability once committed"


@pytest.fixture
def free_type(db):
    event = EventFactory(venue_capacity=40)
    return TicketTypeFactory(event=event, price=0, capacity=40, max_per_order=10)


def test_free_tickets_one_email_gets_are_capped_across_its_orders(settings, free_type):
    settings.FREE_TICKETS_PER_EMAIL = 5
    _order(free_type, 3)
    with pytest.raises(InvalidRequest) as refused:
        _order(free_type, 3, customer_email="ANA@example.com ")
    assert refused.value.code == "free_tickets_per_email"
    assert "already has 3 free tickets" in refused.value.message
    assert "You can still get 2." in refused.value.message
    assert Order.objects.count() == 1
    _order(free_type, 2)
    assert Order.objects.count() == 2


def test_free_tickets_given_back_or_staff_issued_do_not_count(settings, free_type):
    settings.FREE_TICKETS_PER_EMAIL = 4
    cancel_order(order_id=_order(free_type, 4).id)
    _order(free_type, 4, source=Order.Source.COMP, free=True)
    _order(free_type, 4)  # the cancelled and the comp ones are not counted
    with pytest.raises(InvalidRequest, match="at most 4 free tickets"):
        _order(free_type, 5, customer_email="bo@example.com")


def test_paid_tickets_are_not_capped_per_email(settings, ticket_type):
    settings.FREE_TICKETS_PER_EMAIL = 1
    _order(ticket_type, 3)
    _order(ticket_type, 3)
    assert Order.objects.count() == 2
