"""The buy form's checkout key: submitting the same form twice places one order."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from core.models import Order, WaitlistEntry
from core.queries.availability import held_by_type
from core.services.fulfilment import fulfil_order
from core.services.orders import cancel_order
from core.services.waitlist import join_waitlist
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    count_held_seats,
    make_paid_order,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def show(db):
    event = EventFactory(name="Key Show", venue_capacity=20, currency="eur")
    vip = TicketTypeFactory(
        event=event, name="VIP", price=Decimal("50.00"), capacity=5, max_per_order=4
    )
    ga = TicketTypeFactory(
        event=event, name="GA", price=Decimal("20.00"), capacity=15, max_per_order=6
    )
    return event, vip, ga


@pytest.fixture
def key():
    return str(uuid.uuid4())


def _buy(
    client,
    event,
    quantities,
    checkout_key=None,
    email="ana@example.com",
    name="Ana García",
    phone="",
):
    data = {"name": name, "email": email, "phone": phone}
    data |= {f"qty_{type_id}": n for type_id, n in quantities.items()}
    if checkout_key is not None:
        data["checkout_key"] = checkout_key
    return client.post(f"/buy/events/{event.slug}/", data)


def _payment_url(order: Order) -> str:
    return f"/buy/o/{order.token}/test-payment/"


def test_the_page_leaves_the_key_to_the_browser(client, show):
    event, _vip, _ga = show
    html = client.get(f"/buy/events/{event.slug}/").content.decode()
    assert (
        '<input type="hidden" name="checkout_key" value="" data-checkout-key>' in html
    )


def test_the_same_form_twice_places_one_order_and_pays_for_it(client, show, key):
    event, vip, ga = show
    first = _buy(client, event, {vip.id: 1, ga.id: 2}, key)
    again = _buy(client, event, {vip.id: 1, ga.id: 2}, key)
    order = Order.objects.get()
    assert first.status_code == again.status_code == 303
    assert first["Location"] == again["Location"] == _payment_url(order)
    assert order.status == Order.Status.PENDING
    assert held_by_type(event_ids=[event.id]) == {vip.id: 1, ga.id: 2}


def test_other_quantities_release_the_first_hold_and_place_a_new_order(
    client, show, key
):
    event, vip, ga = show
    _buy(client, event, {vip.id: 1, ga.id: 2}, key)
    first = Order.objects.get()
    response = _buy(client, event, {ga.id: 3}, key)
    first.refresh_from_db()
    second = Order.objects.exclude(pk=first.pk).get()
    assert first.status == Order.Status.CANCELLED
    assert second.status == Order.Status.PENDING
    assert response["Location"] == _payment_url(second)
    assert held_by_type(event_ids=[event.id]) == {ga.id: 3}
    # The key now names the second order.
    assert _buy(client, event, {ga.id: 3}, key)["Location"] == _payment_url(second)
    assert Order.objects.count() == 2


@pytest.mark.parametrize(
    ("typo", "corrected"),
    [
        ({"email": "ana@exmaple.com"}, {"email": "ana@example.com"}),
        ({"name": "Ana Garcia"}, {"name": "Ana García"}),
        ({"phone": "+34 612 345 678"}, {"phone": "+34 612 345 679"}),
    ],
)
def test_a_corrected_buyer_keeps_the_hold_on_the_same_order(
    client, show, key, typo, corrected
):
    """Seen on the payment page, a typo is put right on the form the buyer
    went back to: the same seats, sent again, stay held by the same order,
    which takes the corrected details (where the tickets and the
    confirmation go); its seats are never let go in between."""
    event, _vip, ga = show
    _buy(client, event, {ga.id: 2}, key, **typo)
    order = Order.objects.get()
    hold = order.hold_expires_at
    response = _buy(client, event, {ga.id: 2}, key, **corrected)
    assert response.status_code == 303
    assert response["Location"] == _payment_url(order)
    field, value = next(iter(corrected.items()))
    wanted = {"name": "Ana García", "email": "ana@example.com", "phone": ""}
    wanted[field] = value.replace(" ", "") if field == "phone" else value
    order.refresh_from_db()
    assert (
        order.customer_name,
        order.customer_email,
        order.customer_phone,
    ) == (wanted["name"], wanted["email"], wanted["phone"])
    assert order.status == Order.Status.PENDING
    assert (order.hold_expires_at, order.checkout_key) == (hold, key)
    assert held_by_type(event_ids=[event.id]) == {ga.id: 2}
    # The key still names the order, now for the corrected buyer.
    again = _buy(client, event, {ga.id: 2}, key, **corrected)
    assert again["Location"] == _payment_url(order)
    assert Order.objects.count() == 1
    # And the tickets go where the corrected details say.
    assert client.post(again["Location"], {"action": "pay"}).status_code == 303
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert set(order.tickets.values_list("guest_email", flat=True)) == {wanted["email"]}


def test_a_corrected_email_keeps_the_last_seats_from_the_waitlist(
    client, key, django_capture_on_commit_callbacks
):
    """The buyer holding the last seats corrects their email while someone
    waits for them: the seats are still theirs, not offered to the next in
    line (nor is the buyer told the event is sold out)."""
    event = EventFactory(name="Last Seats", venue_capacity=2, currency="eur")
    ga = TicketTypeFactory(event=event, name="GA", capacity=2, max_per_order=4)
    assert (
        _buy(client, event, {ga.id: 2}, key, email="ana@exmaple.com").status_code == 303
    )
    order = Order.objects.get()
    join_waitlist(
        event_id=event.id,
        ticket_type_id=None,
        name="Ben",
        email="ben@example.com",
        quantity=2,
    )
    with django_capture_on_commit_callbacks(execute=True):
        again = _buy(client, event, {ga.id: 2}, key, email="ana@example.com")
    assert again.status_code == 303
    assert again["Location"] == _payment_url(order)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.customer_email == "ana@example.com"
    assert Order.objects.count() == 1
    ben = WaitlistEntry.objects.get(email="ben@example.com")
    assert ben.status == WaitlistEntry.Status.WAITING


def test_a_corrected_email_gets_a_new_stripe_page_for_it(
    client, show, key, stripe_stub
):
    """Stripe's page, opened for the mistyped email, is closed, and the
    corrected form goes to a new one for the corrected email, in the same
    minute as the first (its idempotency key is not the first page's); the
    same form sent again goes back to that new page."""
    event, _vip, ga = show
    first = _buy(client, event, {ga.id: 2}, key, email="ana@exmaple.com")
    order = Order.objects.get()
    old_session = order.stripe_checkout_session_id
    assert first["Location"] == stripe_stub.sessions[old_session]["url"]

    again = _buy(client, event, {ga.id: 2}, key, email="ana@example.com")

    order.refresh_from_db()
    new_session = order.stripe_checkout_session_id
    assert new_session != old_session
    assert stripe_stub.sessions[old_session]["status"] == "expired"
    page = stripe_stub.sessions[new_session]
    assert (page["status"], page["customer_email"]) == ("open", "ana@example.com")
    assert again.status_code == 303
    assert again["Location"] == page["url"]
    assert order.status == Order.Status.PENDING
    # The same corrected form again: the new page, as it is.
    repeat = _buy(client, event, {ga.id: 2}, key, email="ana@example.com")
    assert repeat["Location"] == page["url"]
    assert len(stripe_stub.calls("POST", "/v1/checkout/sessions")) == 2
    # A corrected name changes nothing Stripe's page shows: the same page.
    named = _buy(
        client, event, {ga.id: 2}, key, email="ana@example.com", name="Ana Garcia"
    )
    assert named["Location"] == page["url"]
    order.refresh_from_db()
    assert order.customer_name == "Ana Garcia"


def test_the_same_buyer_typed_otherwise_is_the_same_order(client, key):
    """What place_order keeps is compared: an email's case and spaces, a
    phone with or without the event's country code, a name's spaces."""
    event = EventFactory(name="Madrid Show", time_zone="Europe/Madrid")
    ga = TicketTypeFactory(event=event, name="GA", capacity=10)
    first = _buy(
        client, event, {ga.id: 2}, key, email="Ana@Example.com", phone="+34612345678"
    )
    again = _buy(
        client,
        event,
        {ga.id: 2},
        key,
        email=" ana@example.COM ",
        name=" Ana García ",
        phone="612 345 678",
    )
    order = Order.objects.get()
    assert first["Location"] == again["Location"] == _payment_url(order)
    assert order.status == Order.Status.PENDING


def test_a_repeat_with_a_bad_email_is_refused_and_keeps_the_first_order(
    client, show, key
):
    event, _vip, ga = show
    placed = _buy(client, event, {ga.id: 2}, key)
    refused = _buy(client, event, {ga.id: 2}, key, email="ana@")
    assert refused.status_code == 400
    order = Order.objects.get()
    assert order.status == Order.Status.PENDING
    assert held_by_type(event_ids=[event.id]) == {ga.id: 2}
    again = _buy(client, event, {ga.id: 2}, key)
    assert again["Location"] == placed["Location"] == _payment_url(order)


@pytest.mark.parametrize(
    "checkout_key",
    [None, "", "short", "x" * 65, "not a key!", "<script>alert(1)</script>"],
)
def test_without_a_well_formed_key_each_submit_places_an_order(
    client, show, checkout_key
):
    event, _vip, ga = show
    first = _buy(client, event, {ga.id: 1}, checkout_key)
    second = _buy(client, event, {ga.id: 1}, checkout_key)
    assert first.status_code == second.status_code == 303
    assert first["Location"] != second["Location"]
    assert Order.objects.filter(status=Order.Status.PENDING).count() == 2


def _pay(order):
    fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference=f"test-{order.code}",
        amount=order.total,
        currency=order.currency,
    )


def _cancel(order):
    cancel_order(order_id=order.id)


def _expire(order):
    Order.objects.filter(pk=order.pk).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )


def _mark_expired(order):
    _expire(order)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.EXPIRED)
    count_held_seats()  # as the sweep would have


@pytest.mark.parametrize("end", [_pay, _cancel, _expire, _mark_expired])
def test_an_order_no_longer_holding_lets_the_key_place_a_new_one(
    client, show, key, end
):
    event, _vip, ga = show
    _buy(client, event, {ga.id: 2}, key)
    first = Order.objects.get()
    end(first)
    response = _buy(client, event, {ga.id: 2}, key)
    second = Order.objects.exclude(pk=first.pk).get()
    assert response.status_code == 303
    assert response["Location"] == _payment_url(second)
    assert second.status == Order.Status.PENDING
    # From now on the key names the new order.
    assert _buy(client, event, {ga.id: 2}, key)["Location"] == _payment_url(second)
    assert Order.objects.count() == 2


def test_a_key_is_only_good_for_its_own_event(client, show, key):
    event, _vip, ga = show
    other = EventFactory(name="Other Show")
    other_ga = TicketTypeFactory(event=other, name="GA", capacity=10)
    _buy(client, event, {ga.id: 1}, key)
    response = _buy(client, other, {other_ga.id: 1}, key)
    assert Order.objects.filter(event=other).count() == 1
    assert response["Location"] == _payment_url(Order.objects.get(event=other))


def test_a_refused_order_leaves_the_key_free(client, show, key):
    event, _vip, ga = show
    make_paid_order(ga, 6)
    make_paid_order(ga, 6)  # 3 GA left
    refused = _buy(client, event, {ga.id: 4}, key)
    assert refused.status_code == 409
    placed = _buy(client, event, {ga.id: 3}, key)
    assert placed.status_code == 303
    assert Order.objects.filter(status=Order.Status.PENDING).count() == 1


def test_the_same_form_sent_twice_before_any_answer_places_one_order(show, key):
    """Neither request carries the cookie (a double click, or a browser
    resending a POST whose connection dropped): the second still lands on
    the first's order."""
    event, vip, ga = show
    first = _buy(Client(), event, {vip.id: 1, ga.id: 2}, key)
    again = _buy(Client(), event, {vip.id: 1, ga.id: 2}, key)
    order = Order.objects.get()
    assert first.status_code == again.status_code == 303
    assert first["Location"] == again["Location"] == _payment_url(order)
    assert held_by_type(event_ids=[event.id]) == {vip.id: 1, ga.id: 2}
    # And the buyer pays for it.
    paid = Client().post(again["Location"], {"action": "pay"})
    assert paid.status_code == 303
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_another_buyer_with_the_same_key_places_their_own_order(client, show, key):
    """A key the server has seen names an order only for the same buyer."""
    event, _vip, ga = show
    _buy(client, event, {ga.id: 1}, key)
    other = _buy(Client(), event, {ga.id: 1}, key, email="bo@example.com")
    assert other["Location"] == _payment_url(
        Order.objects.get(customer_email="bo@example.com")
    )
    assert Order.objects.filter(status=Order.Status.PENDING).count() == 2


def test_a_tampered_cookie_is_ignored(client, show, key):
    """Unsigned, it cannot make a form with other quantities cancel an order."""
    event, _vip, ga = show
    _buy(client, event, {ga.id: 1}, key)
    first = Order.objects.get()
    client.cookies["checkout"] = f"{key}:{first.id}"  # unsigned
    _buy(client, event, {ga.id: 2}, key)
    first.refresh_from_db()
    assert first.status == Order.Status.PENDING
    assert Order.objects.filter(status=Order.Status.PENDING).count() == 2


def test_the_cookie_lasts_as_long_as_the_hold(client, show, key):
    event, _vip, ga = show
    response = _buy(client, event, {ga.id: 1}, key)
    cookie = response.cookies["checkout"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert 0 < int(cookie["max-age"]) <= 15 * 60


@pytest.mark.parametrize("cached", [False, True])
def test_a_repeat_whose_first_submit_took_the_last_seats_lands_on_that_order(
    settings, key, cached
):
    """Sent again before the first answer (no cookie yet) after the first
    took the last seats: the page's sold-out figures, fresh or cached, must
    not tell the buyer whose order holds them that they are sold out."""
    settings.LIVE_CACHE_SECONDS = 300 if cached else 0
    event = EventFactory(name="Tiny Show", venue_capacity=2, currency="eur")
    vip = TicketTypeFactory(event=event, capacity=2, max_per_order=2)
    first = _buy(Client(), event, {vip.id: 2}, key)
    assert first.status_code == 303
    if cached:  # a sold-out snapshot, as every refusal in a rush reads
        assert _buy(Client(), event, {vip.id: 1}, str(uuid.uuid4())).status_code == 409
    again = _buy(Client(), event, {vip.id: 2}, key)
    assert again.status_code == 303
    assert again["Location"] == first["Location"]
    assert Order.objects.filter(status=Order.Status.PENDING).count() == 1
    # Anyone else's form is still refused on those figures.
    other = _buy(Client(), event, {vip.id: 1}, str(uuid.uuid4()))
    assert other.status_code == 409


def test_a_key_with_an_order_sending_another_form_is_refused_on_the_snapshot(
    settings, key, monkeypatch
):
    """Only the same form sent again gets past the cached refusal: the key's
    note names its event, seats and buyer, so other forms under a key that
    holds an order (another quantity, another email) are refused as anyone's,
    without a read or the event's lock."""
    from core.services import checkout

    settings.LIVE_CACHE_SECONDS = 300
    event = EventFactory(name="Note Show", venue_capacity=3, currency="eur")
    ga = TicketTypeFactory(event=event, capacity=3, max_per_order=3)
    assert _buy(Client(), event, {ga.id: 1}, key).status_code == 303
    assert _buy(Client(), event, {ga.id: 2}, str(uuid.uuid4())).status_code == 303
    assert _buy(Client(), event, {ga.id: 1}, str(uuid.uuid4())).status_code == 409

    fresh_reads = []
    real = checkout._refuse_if_gone_already
    monkeypatch.setattr(
        checkout,
        "_refuse_if_gone_already",
        lambda placing: fresh_reads.append(placing) or real(placing),
    )
    for n in range(3):
        other = _buy(Client(), event, {ga.id: 2}, key, email=f"bot{n}@example.com")
        assert other.status_code == 409
    assert not fresh_reads
    again = _buy(Client(), event, {ga.id: 1}, key)  # the same form: its order
    assert again.status_code == 303 and len(fresh_reads) == 1
