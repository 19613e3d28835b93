"""Cancelling an order: asked for on a page of its own, done only by a POST;
a waitlist offer is kept for its holder; paying an order paid meanwhile goes
to its tickets."""

import uuid
from decimal import Decimal

import pytest

from core.models import Order, TicketType, WaitlistEntry
from core.services.waitlist import join_waitlist, local_moment, offer_freed_seats
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_held_order,
    make_paid_order,
    pay_simulated,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"cancel-order-{uuid.uuid4()}",
        }
    }


@pytest.fixture
def seat(db):
    event = EventFactory(name="Quiet Night", venue_capacity=10)
    return TicketTypeFactory(
        event=event, name="Seat", price=Decimal("20.00"), capacity=10
    )


@pytest.fixture
def offer(db) -> Order:
    """A waitlist offer's pending order (a sold-out event, one seat freed)."""
    event = EventFactory(name="Full House", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=2, max_per_order=4)
    make_paid_order(seat, 2)
    join_waitlist(
        event_id=event.id,
        ticket_type_id=None,
        name="Wes",
        email="wes@example.com",
        quantity=1,
    )
    TicketType.objects.filter(pk=seat.pk).update(capacity=3)
    event.venue_capacity = 3
    event.save()
    offer_freed_seats(event_id=event.id)
    order = WaitlistEntry.objects.get().offer_order
    assert order.status == Order.Status.PENDING
    return order


def _cancel_url(order) -> str:
    return f"/buy/o/{order.token}/cancel/"


def test_opening_the_cancel_link_cancels_nothing(client, seat):
    """A link prefetcher or an email scanner opening it releases no hold."""
    order = make_held_order(seat, 2)

    page = client.get(_cancel_url(order))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Cancel this order?" in html
    assert f'href="/buy/o/{order.token}/pay/"' in html
    assert 'method="post"' in html
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_confirming_cancels_and_releases_the_tickets(client, seat):
    order = make_held_order(seat, 2)

    response = client.post(_cancel_url(order), follow=True)

    assert response.redirect_chain[-1][0] == f"/buy/events/{seat.event.slug}/"
    assert "tickets released" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED


def test_back_from_stripe_says_the_payment_was_not_finished(client, seat):
    order = make_held_order(seat, 2)

    html = client.get(_cancel_url(order) + "?from=payment").content.decode()

    assert "Your payment wasn't finished" in html
    assert "Nothing was charged" in html
    assert "Pay now" in html and "Cancel order" in html
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_stripe_is_told_to_come_back_to_that_page(client, seat, settings):
    from purchase.views import _payment_urls

    order = make_held_order(seat, 1)
    request = client.get("/buy/").wsgi_request
    _success, cancel = _payment_urls(request, order)
    assert cancel.endswith(_cancel_url(order) + "?from=payment")


def test_the_cancel_page_of_a_paid_order_goes_to_its_tickets(client, seat):
    order = make_held_order(seat, 1)
    pay_simulated(order)

    for response in (client.get(_cancel_url(order)), client.post(_cancel_url(order))):
        assert response.status_code in (302, 303)
        assert response["Location"] == f"/buy/o/{order.token}/"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_cancelling_a_waitlist_offer_keeps_it_held_and_says_so(client, offer):
    until = local_moment(offer.event, offer.hold_expires_at)
    for send in (client.get, client.post):
        response = send(_cancel_url(offer), follow=True)
        assert response.redirect_chain[-1][0] == f"/buy/o/{offer.token}/pay/"
        assert f"Still held for you until {until}" in response.content.decode()
    offer.refresh_from_db()
    assert offer.status == Order.Status.PENDING


def test_a_waitlist_offer_offers_to_let_the_next_person_have_them(client, offer):
    entry = offer.waitlist_entry
    leave = f'href="/buy/w/{entry.token}/leave/"'
    for url in (f"/buy/o/{offer.token}/", f"/buy/o/{offer.token}/test-payment/"):
        html = client.get(url).content.decode()
        assert "Let the next person in line have them" in html, url
        assert leave in html, url
        assert _cancel_url(offer) not in html, url
        assert 'value="cancel"' not in html, url


def test_the_test_payment_cancel_of_an_offer_goes_back_to_pay(client, offer):
    response = client.post(
        f"/buy/o/{offer.token}/test-payment/", {"action": "cancel"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/buy/o/{offer.token}/pay/"
    assert "Still held for you until" in response.content.decode()


def test_paying_an_order_paid_in_another_tab_goes_to_its_tickets(client, seat):
    order = make_held_order(seat, 1)
    client.get(f"/buy/o/{order.token}/pay/")  # this tab shows Pay
    pay_simulated(order)  # another tab paid

    response = client.post(f"/buy/o/{order.token}/pay/", follow=True)

    assert response.redirect_chain[-1][0] == f"/buy/o/{order.token}/"
    html = response.content.decode()
    assert "cannot be cancelled" not in html
    assert "already paid" in html
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
