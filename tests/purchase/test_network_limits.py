"""Limits per network on the buy form: one network cannot hold, or take for
free, a whole event's tickets (scanner/throttle.py, purchase.views.event_page)."""

import uuid
from decimal import Decimal

import pytest

from core.models import Order, Ticket
from tests.bursts import send_together
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """A private in-memory cache per test, so counts never leak between tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"network-limits-{uuid.uuid4()}",
        }
    }
    settings.HELD_SEATS_PER_NETWORK = 10
    settings.ORDERS_PER_NETWORK_PER_HOUR = 50
    settings.FREE_TICKETS_PER_EMAIL = 0


@pytest.fixture
def show(db):
    event = EventFactory(name="Small Show", venue_capacity=71)
    ga = TicketTypeFactory(
        event=event, name="GA", price=Decimal("20.00"), capacity=71, max_per_order=8
    )
    return event, ga


@pytest.fixture
def free_show(db):
    event = EventFactory(name="Open Day", venue_capacity=40)
    free = TicketTypeFactory(
        event=event, name="Free entry", price=Decimal("0.00"), capacity=40
    )
    return event, free


def _buy(client, event, type_id, n, *, ip="10.0.0.1", email=None, **extra):
    email = email or f"bot{uuid.uuid4().hex[:8]}@example.com"
    data = {"name": "Bot", "email": email, "phone": "", f"qty_{type_id}": n}
    return client.post(f"/buy/events/{event.slug}/", data | extra, REMOTE_ADDR=ip)


def _held(event) -> int:
    return sum(
        line.quantity
        for order in event.orders.filter(status=Order.Status.PENDING)
        for line in order.lines.all()
    )


def test_one_network_cannot_hold_more_than_its_share_of_an_event(client, show):
    event, ga = show
    assert _buy(client, event, ga.id, 4).status_code == 303
    assert _buy(client, event, ga.id, 4).status_code == 303

    refused = _buy(client, event, ga.id, 4)

    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many tickets for this event are held from your internet" in page
    assert "Nothing was reserved" in page
    assert _held(event) == 8, "nothing held for the refused form"
    # What is left within the limit still goes through.
    assert _buy(client, event, ga.id, 2).status_code == 303
    assert _held(event) == 10


def test_another_network_is_not_held_up_by_the_first(client, show):
    event, ga = show
    for _ in range(2):
        _buy(client, event, ga.id, 5, ip="10.0.0.1")
    assert _buy(client, event, ga.id, 1, ip="10.0.0.1").status_code == 429

    assert _buy(client, event, ga.id, 5, ip="10.0.0.2").status_code == 303


def test_ipv6_addresses_of_one_64_count_as_one_network(client, show):
    event, ga = show
    assert _buy(client, event, ga.id, 8, ip="2001:db8:1:2::1").status_code == 303

    same_64 = _buy(client, event, ga.id, 4, ip="2001:db8:1:2:ffff::9")
    other_64 = _buy(client, event, ga.id, 4, ip="2001:db8:1:3::1")

    assert same_64.status_code == 429
    assert other_64.status_code == 303


def test_seats_sent_at_one_instant_are_each_counted(client, show, monkeypatch):
    event, ga = show
    send_together(monkeypatch)

    answers = [_buy(client, event, ga.id, 4).status_code for _ in range(5)]

    assert answers.count(303) == 2
    assert _held(event) == 8


def test_a_refused_order_takes_nothing_from_the_networks_share(client, show):
    event, ga = show
    for _ in range(3):
        assert _buy(client, event, ga.id, 9).status_code == 400  # above max per order
    assert _buy(client, event, ga.id, 8).status_code == 303


def test_a_sold_out_refusal_asks_the_cache_nothing(client, show, monkeypatch):
    """In a rush most forms are refused as sold out before the locks: they
    must not pay for the network's count too (core.services.checkout)."""
    event, ga = show
    ga.capacity = ga.sold_count = 71
    ga.save()
    counted = []
    monkeypatch.setattr(
        "scanner.throttle.BuyAllowance.take",
        lambda self, seats: counted.append(seats),
    )

    refused = [_buy(client, event, ga.id, 4).status_code for _ in range(3)]

    assert refused == [409, 409, 409]
    assert counted == []


def test_the_same_form_sent_again_counts_once(client, show):
    event, ga = show
    key = "k" * 24
    first = _buy(client, event, ga.id, 6, email="ana@example.com", checkout_key=key)
    again = _buy(client, event, ga.id, 6, email="ana@example.com", checkout_key=key)

    assert again["Location"] == first["Location"]
    assert event.orders.count() == 1
    assert _buy(client, event, ga.id, 4).status_code == 303


def test_the_limit_can_be_switched_off(client, show, settings):
    settings.HELD_SEATS_PER_NETWORK = 0
    event, ga = show
    for _ in range(8):
        assert _buy(client, event, ga.id, 8).status_code == 303
    assert _held(event) == 64


def test_orders_placed_per_network_are_limited(client, show, settings):
    settings.HELD_SEATS_PER_NETWORK = 0
    settings.ORDERS_PER_NETWORK_PER_HOUR = 3
    event, ga = show
    for _ in range(3):
        assert _buy(client, event, ga.id, 1).status_code == 303

    refused = _buy(client, event, ga.id, 1)

    assert refused.status_code == 429
    assert (
        "Too many orders for this event from your internet" in refused.content.decode()
    )
    assert event.orders.count() == 3
    assert _buy(client, event, ga.id, 1, ip="10.0.0.2").status_code == 303


def test_free_tickets_count_in_the_networks_share(client, free_show):
    event, free = free_show
    for _ in range(2):
        assert _buy(client, event, free.id, 5).status_code == 303

    refused = _buy(client, event, free.id, 5)

    assert refused.status_code == 429
    assert Ticket.objects.filter(event=event).count() == 10


def test_free_tickets_one_email_gets_are_capped_across_orders(
    client, free_show, settings
):
    settings.HELD_SEATS_PER_NETWORK = 0
    settings.FREE_TICKETS_PER_EMAIL = 4
    event, free = free_show
    assert _buy(client, event, free.id, 3, email="ana@example.com").status_code == 303

    refused = _buy(client, event, free.id, 2, email="Ana@Example.com", ip="10.0.0.9")

    assert refused.status_code == 400
    page = refused.content.decode()
    assert "already has 3 free tickets for this event" in page
    assert "at most 4" in page
    assert Ticket.objects.filter(event=event).count() == 3
    assert _buy(client, event, free.id, 1, email="ana@example.com").status_code == 303
    assert Ticket.objects.filter(event=event).count() == 4


def test_the_allowance_counts_in_the_sites_own_cache(rf, settings):
    """As configured (Redis on the full stack, else memory), not a test's own."""
    from django.core.cache import caches

    from scanner.throttle import BuyAllowance

    settings.CACHES = {
        "default": {
            **caches.settings["default"],
            "KEY_PREFIX": f"allowance-{uuid.uuid4().hex}",
        }
    }
    settings.HELD_SEATS_PER_NETWORK = 7
    request = rf.post("/", REMOTE_ADDR="10.9.9.9")
    event_id = uuid.uuid4()

    first = BuyAllowance(request, event_id).take(3)
    second = BuyAllowance(request, event_id).take(3)
    refused = BuyAllowance(request, event_id).take(3)
    fits = BuyAllowance(request, event_id).take(1)

    assert (first, second, fits) == (None, None, None)
    assert "Nothing was reserved" in refused
