import re
import uuid

import pytest
from django.db import connection

from core.models import Order, OutboundMessage, TicketType, WaitlistEntry
from core.notify.rendering import build_email
from core.services.waitlist import offer_freed_seats
from scanner import throttle
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db

NEUTRAL = "a link to see or leave your place."
# 257 characters, valid as an address, longer than the column's 254.
LONG_EMAIL = "a" * 64 + "@" + ".".join(["b" * 63, "c" * 63, "d" * 60]) + ".com"


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """A private in-memory cache per test, so the join limits' counts never
    leak between tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"waitlist-{uuid.uuid4()}",
        }
    }


@pytest.fixture
def sold_out():
    event = EventFactory(name="Full House", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=2, max_per_order=4)
    make_paid_order(seat, 2)
    return event, seat


def _post(client, event, ip="10.0.0.1", **data):
    payload = {
        "name": "Ana",
        "email": "ana@example.com",
        "phone": "",
        "ticket_type_id": "",
        "quantity": "2",
    }
    return client.post(
        f"/buy/events/{event.slug}/waitlist/", payload | data, REMOTE_ADDR=ip
    )


def _emailed_link(to: str) -> str:
    """The entry page's link in the last waitlist email to `to`."""
    message = (
        OutboundMessage.objects.filter(kind="waitlist_joined", to=to)
        .order_by("id")
        .last()
    )
    (link,) = re.findall(
        r"https?://[^/\s]+(/buy/w/[\w-]+/)\n", build_email(message).body
    )
    return link


def test_join_form_puts_the_customer_in_line(client, sold_out):
    event, _ = sold_out
    response = _post(client, event)
    entry = WaitlistEntry.objects.get()
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        "You're on the waitlist for <strong>Full House</strong> / any ticket type."
        ' We\'ve emailed <strong class="contact">ana@example.com</strong>'
        f" {NEUTRAL}"
    ) in page
    # The entry's page is reached through the emailed link only.
    assert entry.token not in page
    link = _emailed_link("ana@example.com")
    assert link == f"/buy/w/{entry.token}/"
    assert "number <strong>1</strong> in line" in client.get(link).content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"quantity": "0"}, "Please ask for at least one ticket."),
        ({"quantity": ""}, "Please say how many tickets you want."),
        ({"name": ""}, "Please enter your name."),
        ({"email": ""}, "Please enter your email address."),
        ({"quantity": "9"}, "at most 4"),
        ({"email": "nope"}, "Please enter a valid email address."),
        (
            {"ticket_type_id": "999999"},
            "Please choose one of the sold-out ticket types.",
        ),
        # Longer than the columns (Postgres refused them with a 500), or NUL.
        ({"name": "x" * 201}, "Please shorten your name to 200 characters."),
        (
            {"email": LONG_EMAIL},
            "Please enter an email address of at most 254 characters.",
        ),
        ({"phone": "1" * 33}, "at most 32 characters"),
        ({"name": "Ana\x00"}, "it contains an invisible null character"),
        ({"email": "ana\x00@example.com"}, "Please enter a valid email address."),
    ],
)
def test_bad_input_is_explained_and_changes_nothing(client, sold_out, data, message):
    event, _ = sold_out
    response = _post(client, event, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WaitlistEntry.objects.exists()
    assert not OutboundMessage.objects.filter(kind="waitlist_joined").exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_with_nothing_sold_out_the_waitlist_page_says_buy_and_has_no_form(
    client, method
):
    """It offered every type, then refused whatever was chosen."""
    event = EventFactory(name="Open House")
    TicketTypeFactory(event=event, name="GA", capacity=5)
    TicketTypeFactory(event=event, name="VIP", capacity=5)
    if method == "get":
        response = client.get(f"/buy/events/{event.slug}/waitlist/")
    else:
        response = _post(client, event, quantity="1")
    page = response.content.decode()
    assert response.status_code == (200 if method == "get" else 409)
    assert "<h1>Tickets are on sale</h1>" in page
    assert "buy them right away" in page
    assert f'href="/buy/events/{event.slug}/">Buy tickets</a>' in page
    assert "data-waitlist-form" not in page
    assert "ticket_type_id" not in page
    assert "Or wait for a sold-out ticket type" not in page
    assert not WaitlistEntry.objects.exists()


def test_join_page_has_the_purchase_styles_and_says_sold_out(client, sold_out):
    event, _ = sold_out
    page = _post(client, event, email="").content.decode()
    assert "css/purchase.css" in page
    assert "This field is required" not in page
    assert "is sold out" in page


@pytest.fixture
def partly_sold_out():
    event = EventFactory(name="Half House", venue_capacity=100)
    vip = TicketTypeFactory(event=event, name="VIP", capacity=2, max_per_order=4)
    make_paid_order(vip, 2)
    ga = TicketTypeFactory(event=event, name="GA", capacity=50, max_per_order=6)
    return event, vip, ga


def test_waitlist_card_offers_only_the_sold_out_types_while_others_sell(
    client, partly_sold_out
):
    event, vip, ga = partly_sold_out
    page = client.get(f"/buy/events/{event.slug}/").content.decode()
    card = page[page.index("data-waitlist-form") :]
    select = card[card.index('name="ticket_type_id"') : card.index("</select>")]
    assert f'value="{vip.id}"' in select
    assert f'value="{ga.id}"' not in select
    assert "Any ticket type" not in select
    assert 'max="4"' in card


def test_waitlist_card_names_the_sold_out_type_not_the_event(client, partly_sold_out):
    event, _, _ = partly_sold_out
    page = client.get(f"/buy/events/{event.slug}/").content.decode()
    card = page[page.index("data-waitlist ") : page.index("data-waitlist-form")]
    assert "VIP is sold out — join its waitlist" in card
    assert "Sold out?" not in card
    assert "Sold out —" not in card


def test_waitlist_card_lists_every_sold_out_type(client, partly_sold_out):
    event, _, _ = partly_sold_out
    box = TicketTypeFactory(event=event, name="Box", capacity=1, max_per_order=2)
    make_paid_order(box, 1)
    page = client.get(f"/buy/events/{event.slug}/").content.decode()
    assert "Box and VIP are sold out — join their waitlist" in page


def test_waitlist_card_of_a_sold_out_event_says_sold_out(client, sold_out):
    event, _ = sold_out
    page = client.get(f"/buy/events/{event.slug}/").content.decode()
    assert "Sold out — join the waitlist" in page


def test_joining_a_partly_sold_out_event_for_a_sold_out_type(client, partly_sold_out):
    event, vip, _ = partly_sold_out
    response = _post(client, event, ticket_type_id=str(vip.id))
    assert response.status_code == 200
    assert "/ VIP. We've emailed" in response.content.decode()
    assert WaitlistEntry.objects.get().ticket_type == vip


@pytest.mark.parametrize("which", ["any", "on sale"])
def test_partly_sold_out_waitlist_page_points_back_to_buying(
    client, partly_sold_out, which
):
    event, _, ga = partly_sold_out
    response = _post(client, event, ticket_type_id="" if which == "any" else ga.id)
    page = response.content.decode()
    assert response.status_code == 400
    assert not WaitlistEntry.objects.exists()
    assert "is sold out" not in page
    assert "still on sale" in page
    assert f'href="/buy/events/{event.slug}/"' in page
    assert "Any ticket type" not in page


def test_unknown_event_is_404(client):
    assert client.get("/buy/events/nope/waitlist/").status_code == 404


def test_leaving_takes_the_customer_off_the_list(client, sold_out):
    event, _ = sold_out
    _post(client, event)
    entry = WaitlistEntry.objects.get()
    assert (
        "Leave the waitlist?"
        in client.get(f"/buy/w/{entry.token}/leave/").content.decode()
    )
    client.post(f"/buy/w/{entry.token}/leave/")
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.LEFT


def _offered_one(client, event, seat) -> WaitlistEntry:
    """Join the sold-out event's list for one ticket through the page, then a
    ticket is freed (capacity 3) and offered: the entry."""
    _post(client, event, quantity="1")
    TicketType.objects.filter(pk=seat.pk).update(capacity=3)
    event.venue_capacity = 3
    event.save()
    offer_freed_seats(event_id=event.id)
    return WaitlistEntry.objects.get()


def test_offer_page_shows_what_is_held(client, sold_out):
    event, seat = sold_out
    entry = _offered_one(client, event, seat)
    page = client.get(f"/buy/w/{entry.token}/").content.decode()
    assert "held for you" in page
    assert "1 × Seat" in page


def test_owner_sees_the_line_and_can_remove_or_offer(client, owner, door, sold_out):
    event, seat = sold_out
    _post(client, event, email="first@example.com", quantity="2")
    _post(client, event, email="second@example.com", quantity="1")
    client.force_login(door)
    assert client.get(f"/scanner/events/{event.id}/waitlist/").status_code == 403
    client.force_login(owner)
    page = client.get(f"/scanner/events/{event.id}/waitlist/").content.decode()
    assert page.index("first@example.com") < page.index("second@example.com")
    assert "2 waiting" in page
    second = WaitlistEntry.objects.get(email="second@example.com")
    response = client.post(
        f"/scanner/events/{event.id}/waitlist/{second.pk}/offer/", follow=True
    )
    assert "Not enough free tickets" in response.content.decode()
    TicketType.objects.filter(pk=seat.pk).update(capacity=3)
    event.venue_capacity = 3
    event.save()
    client.post(f"/scanner/events/{event.id}/waitlist/{second.pk}/offer/")
    second.refresh_from_db()
    assert second.status == WaitlistEntry.Status.OFFERED
    first = WaitlistEntry.objects.get(email="first@example.com")
    client.post(f"/scanner/events/{event.id}/waitlist/{first.pk}/remove/")
    first.refresh_from_db()
    assert first.status == WaitlistEntry.Status.REMOVED


def test_refused_join_summarises_the_errors_with_links_to_the_fields(client, sold_out):
    event, _ = sold_out
    page = _post(client, event, email="nope", quantity="0").content.decode()
    summary = page[page.index("data-error-summary") : page.index('for="id_name"')]
    assert '<a href="#id_email">Please enter a valid email address.</a>' in summary
    assert '<a href="#id_quantity">Please ask for at least one ticket.</a>' in summary


@pytest.mark.parametrize(("hours", "phrase"), [(2, "2 hours"), (1, "1 hour")])
def test_the_waitlist_says_how_long_an_offer_is_held(
    client, settings, sold_out, hours, phrase
):
    """The copy follows WAITLIST_OFFER_HOURS rather than saying "a day"."""
    from core.notify.rendering import build_email

    settings.WAITLIST_OFFER_HOURS = hours
    event, seat = sold_out
    for url in (f"/buy/events/{event.slug}/", f"/buy/events/{event.slug}/waitlist/"):
        page = client.get(url).content.decode()
        assert f"held for {phrase}," in page, url
        assert "a day" not in page, url
    _post(client, event, quantity="1")
    TicketType.objects.filter(pk=seat.pk).update(capacity=3)
    event.venue_capacity = 3
    event.save()
    offer_freed_seats(event_id=event.id)
    for kind in ("waitlist_joined", "waitlist_offer"):
        email = build_email(OutboundMessage.objects.get(kind=kind))
        for part in (email.body, email.alternatives[0][0]):
            assert f" {phrase}" in part and "a day" not in part, kind


# --- Someone else's address ---------------------------------------------------


def _neutral(page: str, email: str) -> str:
    """The page with the typed address and the per-request tokens taken out."""
    page = page.replace(email, "ADDRESS")
    return re.sub(r'(csrfmiddlewaretoken" value="|nonce=")[^"]*', r"\1", page)


def test_joining_with_a_waiting_address_hands_over_nothing(client, sold_out):
    """Anyone who knows a waiting customer's address used to get their place:
    the answer redirected to the entry's page, with its held offer's pay link,
    and the entry took the joiner's name and phone."""
    event, seat = sold_out
    _post(client, event, name="Vera", email="victim@example.com", phone="+34600111222")
    victim = WaitlistEntry.objects.get()
    TicketType.objects.filter(pk=seat.pk).update(capacity=4)
    event.venue_capacity = 4
    event.save()
    offer_freed_seats(event_id=event.id)
    victim.refresh_from_db()
    assert victim.status == WaitlistEntry.Status.OFFERED
    offer = victim.offer_order
    before = (victim.name, victim.phone, victim.quantity, victim.ticket_type_id)

    throttle.reset(throttle.waitlist_address_key("victim@example.com"))  # later
    attacker = type(client)()
    response = _post(
        attacker,
        event,
        ip="192.0.2.66",
        name="Attacker",
        email="VICTIM@example.com",
        phone="+34612345678",
        quantity="1",
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert not response.has_header("Location")
    assert victim.token not in page and offer.token not in page
    assert "/buy/w/" not in page and "/buy/o/" not in page
    # The same page a new address gets: nothing says the address was waiting.
    fresh = _post(attacker, event, ip="192.0.2.67", email="new@example.com").content
    assert _neutral(page, "victim@example.com") == _neutral(
        fresh.decode(), "new@example.com"
    )

    victim.refresh_from_db()
    assert (victim.name, victim.phone, victim.quantity, victim.ticket_type_id) == (
        before
    )
    assert victim.status == WaitlistEntry.Status.OFFERED
    assert victim.offer_order_id == offer.pk
    offer.refresh_from_db()
    assert offer.status == Order.Status.PENDING
    assert offer.customer_phone == "+34600111222"
    assert not OutboundMessage.objects.filter(to="+34612345678").exists()
    # Only the address itself hears of it: its link again, unchanged request.
    again = build_email(
        OutboundMessage.objects.filter(kind="waitlist_joined", to="victim@example.com")
        .order_by("id")
        .last()
    )
    assert "You were already on the waitlist" in again.body
    assert "Tickets are held for you now" in again.body
    assert "Attacker" not in again.body


def test_an_address_is_emailed_once_per_window_however_often_it_is_typed(
    client, sold_out
):
    """The join form used to email whatever address was typed, every time,
    with the typed name at its head."""
    event, _ = sold_out
    spam = "Your card was charged €950 — dispute it at http://evil.example/refund"
    for n in range(5):
        response = _post(client, event, ip=f"10.0.1.{n}", name=spam, quantity="1")
        assert response.status_code == 200
        assert NEUTRAL in response.content.decode()
    sent = OutboundMessage.objects.filter(kind="waitlist_joined")
    assert sent.count() == 1
    email = build_email(sent.get())
    assert email.body.startswith("Hello,\n")
    assert "evil.example" not in email.body
    assert "evil.example" not in email.alternatives[0][0]

    # Once the window has passed, a customer who lost the email asks again.
    throttle.reset(throttle.waitlist_address_key("ana@example.com"))
    response = _post(client, event, quantity="1")
    assert NEUTRAL in response.content.decode()
    assert sent.count() == 2
    assert _emailed_link("ana@example.com") == (
        f"/buy/w/{WaitlistEntry.objects.get().token}/"
    )


def test_one_network_is_refused_after_its_share_of_joins(client, sold_out):
    event, _ = sold_out
    for n in range(throttle.WAITLIST_MAX_REQUESTS):
        response = _post(client, event, email=f"person{n}@example.com", quantity="1")
        assert response.status_code == 200
    response = _post(client, event, email="one-more@example.com", quantity="1")
    page = response.content.decode()
    assert response.status_code == 429
    assert "Too many waitlist requests from this network." in page
    assert "try again in an hour" in page
    assert "css/purchase.css" in page  # the site's layout, not a bare error
    assert not WaitlistEntry.objects.filter(email="one-more@example.com").exists()
    assert not OutboundMessage.objects.filter(to="one-more@example.com").exists()
    # Another network is not held up by this one.
    other = _post(client, event, ip="10.9.9.9", email="one-more@example.com")
    assert other.status_code == 200


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the overlong address needs Postgres"
)
def test_an_overlong_address_is_explained_on_postgres_too(client, sold_out):
    """On Postgres a 257-character address used to reach the INSERT: a 500."""
    event, _ = sold_out
    response = _post(client, event, email=LONG_EMAIL)
    assert response.status_code == 400
    assert "at most 254 characters" in response.content.decode()
    assert not WaitlistEntry.objects.exists()


# --- Follow-ups from a walkthrough on a phone -----------------------------------


@pytest.fixture
def texts_set_up(settings):
    """Twilio configured: the forms ask for a phone number only then."""
    settings.TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000000"
    settings.TWILIO_AUTH_TOKEN = "token"
    settings.TWILIO_FROM_NUMBER = "+15005550006"


def test_the_event_page_waitlist_form_says_what_to_autofill(
    client, partly_sold_out, texts_set_up
):
    event, _, _ = partly_sold_out
    page = client.get(f"/buy/events/{event.slug}/").content.decode()
    form = page[page.index("data-waitlist-form") :]
    assert re.search(r'<input type="text" name="name"[^>]* autocomplete="name"', form)
    assert re.search(
        r'<input type="email" name="email"[^>]* autocomplete="email"', form
    )
    assert re.search(r'<input type="tel" name="phone"[^>]* autocomplete="tel"', form)


@pytest.mark.parametrize("rendered", ["shell", "in full"])
def test_a_sold_out_refusal_carries_what_was_typed_into_the_waitlist_form(
    client, settings, partly_sold_out, rendered, texts_set_up
):
    event, vip, _ = partly_sold_out
    if rendered == "in full":
        client.cookies[settings.SESSION_COOKIE_NAME] = "no-such-session"
    typed = {"name": 'Ana "A" <b>', "email": "ana@example.com", "phone": "+14155550123"}
    response = client.post(f"/buy/events/{event.slug}/", typed | {f"qty_{vip.id}": "1"})
    assert response.status_code == 409
    form = response.content.decode()
    form = form[form.index("data-waitlist-form") :]
    assert (
        'id="id_name" autocomplete="name" value="Ana &quot;A&quot; &lt;b&gt;"' in form
    )
    assert 'value="ana@example.com"' in form
    assert 'value="+14155550123"' in form
    # A page as loaded starts empty.
    client.cookies.pop(settings.SESSION_COOKIE_NAME, None)
    page = client.get(f"/buy/events/{event.slug}/").content.decode()
    form = page[page.index("data-waitlist-form") :]
    assert 'value="ana@example.com"' not in form and "Ana" not in form


def _claimed(client, event, seat, **offer_status):
    entry = _offered_one(client, event, seat)
    order = entry.offer_order
    if offer_status.get("processing"):
        from core.services.payments import record_processing_payment

        record_processing_payment(order_id=order.id)
    else:
        from core.services.fulfilment import fulfil_order

        fulfil_order(
            order_id=order.id,
            provider="simulated",
            provider_reference="wl-view",
            amount=order.total,
            currency=order.currency,
        )
    entry.refresh_from_db()
    return entry


@pytest.mark.parametrize("processing", [False, True])
def test_leaving_once_the_tickets_are_bought_points_to_the_order(
    client, sold_out, processing
):
    """The offer email's "Let the next person have them" asked "Leave the
    waitlist?" after the tickets were paid for, then said "You are off the
    waitlist" beside "You claimed your tickets"."""
    event, seat = sold_out
    entry = _claimed(client, event, seat, processing=processing)
    status, order = entry.status, entry.offer_order
    url = f"/buy/w/{entry.token}/leave/"
    page = client.get(url).content.decode()
    assert "<h1>You have your tickets</h1>" in page
    assert "Leave the waitlist?" not in page
    assert "<form" not in page
    assert f'href="/buy/o/{order.token}/"' in page
    assert "refunded by the organiser" in page
    if processing:
        assert "payment for these tickets" in page

    response = client.post(url, follow=True)
    page = response.content.decode()
    assert response.status_code == 409
    assert "You are off the waitlist" not in page
    assert "<h1>You have your tickets</h1>" in page
    entry.refresh_from_db()
    order.refresh_from_db()
    assert entry.status == status
    assert order.status == (
        Order.Status.PROCESSING if processing else Order.Status.PAID
    )


def test_leaving_twice_says_so_and_changes_nothing(client, sold_out):
    event, _ = sold_out
    _post(client, event)
    entry = WaitlistEntry.objects.get()
    client.post(f"/buy/w/{entry.token}/leave/")
    page = client.get(f"/buy/w/{entry.token}/leave/").content.decode()
    assert "Leave the waitlist?" not in page and "<form" not in page
    assert "there is nothing to leave" in page
    page = client.post(f"/buy/w/{entry.token}/leave/", follow=True).content.decode()
    assert "You are off the waitlist" not in page


def test_the_waitlist_closes_when_offers_no_longer_can_be_made(
    client, settings, sold_out
):
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Event

    settings.HOLD_MINUTES = 15
    event, _ = sold_out
    _post(client, event, email="early@example.com")
    entry = WaitlistEntry.objects.get()
    Event.objects.filter(pk=event.pk).update(
        starts_at=timezone.now() + timedelta(minutes=10)
    )
    for response in (
        client.get(f"/buy/events/{event.slug}/waitlist/"),
        _post(client, event, email="late@example.com"),
    ):
        page = response.content.decode()
        assert "<h1>The waitlist is closed</h1>" in page
        assert "data-waitlist-form" not in page
    assert response.status_code == 409
    assert WaitlistEntry.objects.get() == entry
    page = client.get(f"/buy/w/{entry.token}/").content.decode()
    assert "The waitlist has closed" in page
    assert "in line" not in page and "the moment tickets free up" not in page


def test_an_offer_page_gives_the_real_deadline(client):
    """It said "held for you until Tue 8 Dec, 05:15" for a show starting on
    Monday 7 December at 07:00."""
    from datetime import timedelta

    from django.utils import timezone

    starts = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=2)
    event = EventFactory(starts_at=starts, time_zone="UTC", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=2)
    make_paid_order(seat, 2)
    entry = _offered_one(client, event, seat)
    page = client.get(f"/buy/w/{entry.token}/").content.decode()
    assert (
        f"held for you until {starts:%a} {starts.day} {starts:%b, %H:%M}&nbsp;" in page
    )
    assert "</abbr>, when sales close." in page


# --- Sales close, before they open, "any type" -------------------------------


def test_a_sold_out_event_with_a_seat_of_each_type_left_offers_any_type(client):
    """Someone waiting for two of "any type" keeps the one free seat of each
    type from the public: the event is sold out, no type is. The waitlist
    page said "you can buy them right away" with no form, and buying was
    refused."""
    from core.models import Event
    from core.queries.availability import get_event_availability

    event = EventFactory(venue_capacity=100)
    stalls = TicketTypeFactory(event=event, name="Stalls", capacity=2, max_per_order=4)
    circle = TicketTypeFactory(event=event, name="Circle", capacity=2, max_per_order=4)
    make_paid_order(stalls, 2)
    make_paid_order(circle, 2, email="b@example.com")
    _post(client, event, quantity="2")
    TicketType.objects.filter(pk__in=[stalls.pk, circle.pk]).update(capacity=3)
    assert offer_freed_seats(event_id=event.id) == []  # 2 of one type: no fit
    availability = get_event_availability(Event.objects.get(pk=event.pk))
    assert availability.is_sold_out
    assert not any(t.sold_out for t in availability.types)

    page = client.get(f"/buy/events/{event.slug}/waitlist/").content.decode()
    assert "buy them right away" not in page
    assert "data-waitlist-form" in page
    assert "is sold out. Leave your details" in page
    options = re.findall(r'<option value="(\d*)"[^>]*>([^<]+)</option>', page)
    labels = [label for _, label in options]
    assert labels[0] == "Any ticket type"
    assert sorted(labels[1:]) == ["Circle", "Stalls"]
    event_page = client.get(f"/buy/events/{event.slug}/").content.decode()
    assert "data-waitlist-heading>Sold out — join the waitlist<" in event_page
    assert re.search(r"<section [^>]*data-waitlist[^>]*>", event_page)
    assert not re.search(r"<section [^>]*data-waitlist[^>]*hidden>", event_page)

    joined = _post(
        client,
        event,
        email="cy@example.com",
        quantity="1",
        ticket_type_id=str(stalls.id),
    )
    assert joined.status_code == 200
    assert "You're on the waitlist" in joined.content.decode()
    assert WaitlistEntry.objects.get(email="cy@example.com").ticket_type == stalls


def _waitlist_card(html: str) -> str:
    (card,) = re.findall(r"<section [^>]*data-waitlist[^>]*>", html)
    return card


def test_the_event_page_offers_no_waitlist_once_offers_are_closed(client, sold_out):
    """It showed "Sold out — join the waitlist" and its form (any type sold
    out) after online sales ended, and refused everyone who filled it in."""
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Event

    event, _ = sold_out
    Event.objects.filter(pk=event.pk).update(
        sales_end_at=timezone.now() - timedelta(hours=1),
        starts_at=timezone.now() + timedelta(days=1),
    )
    html = client.get(f"/buy/events/{event.slug}/").content.decode()
    card = _waitlist_card(html)
    assert card.endswith(" hidden>")
    assert " data-offers-closed" in card  # purchase.js keeps it hidden
    refused = _post(client, event)
    assert refused.status_code == 409
    assert not WaitlistEntry.objects.exists()


def test_the_event_page_shell_hides_the_waitlist_when_offers_close(
    client, settings, sold_out, monkeypatch
):
    """Offers close with the time, not with the figures the shell is keyed
    on: the page rendered while they were open must not be served after."""
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Event

    settings.HOLD_MINUTES = 15
    event, _ = sold_out
    now = timezone.now()
    Event.objects.filter(pk=event.pk).update(starts_at=now + timedelta(minutes=20))
    url = f"/buy/events/{event.slug}/"
    before = client.get(url)
    card = _waitlist_card(before.content.decode())
    assert not card.endswith(" hidden>") and "data-offers-closed" not in card
    assert "data-offers-until=" in card
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(minutes=6))
    after = client.get(url)
    card = _waitlist_card(after.content.decode())
    assert card.endswith(" hidden>") and " data-offers-closed" in card


def test_before_sales_open_the_waitlist_page_says_when_they_do(client):
    """It said "The waitlist is closed: ticket sales for this event are
    over"."""
    import zoneinfo
    from datetime import timedelta

    from django.utils import timezone

    opens = (timezone.now() + timedelta(days=2)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    event = EventFactory(
        sales_start_at=opens,
        starts_at=opens + timedelta(days=30),
        time_zone="America/New_York",
    )
    TicketTypeFactory(event=event, name="GA", capacity=10)
    local = timezone.localtime(opens, zoneinfo.ZoneInfo(event.time_zone))
    for response in (
        client.get(f"/buy/events/{event.slug}/waitlist/"),
        _post(client, event),
    ):
        page = response.content.decode()
        assert "<h1>Tickets are not on sale yet</h1>" in page
        assert f"go on sale {local:%a} {local.day} {local:%b, %H:%M}&nbsp;" in page
        assert ">EST</abbr>" in page or ">EDT</abbr>" in page
        assert "are over" not in page
        assert "data-waitlist-form" not in page
    assert response.status_code == 409
    assert not WaitlistEntry.objects.exists()


def test_a_waiting_place_is_not_closed_by_sales_moved_later(client, sold_out):
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Event

    event, _ = sold_out
    _post(client, event, quantity="1")
    entry = WaitlistEntry.objects.get()
    Event.objects.filter(pk=event.pk).update(
        sales_start_at=timezone.now() + timedelta(days=1)
    )
    page = client.get(f"/buy/w/{entry.token}/").content.decode()
    assert "The waitlist has closed" not in page
    assert "number <strong>1</strong> in line" in page


def test_an_offer_whose_payment_failed_is_not_shown_as_held(client, sold_out):
    """A bank debit that failed cancels the offer's order; its page still said
    "Tickets are held for you until…" with a button to pay."""
    from core.services.payments import record_failed_payment

    event, seat = sold_out
    entry = _offered_one(client, event, seat)
    record_failed_payment(order_id=entry.offer_order_id)
    page = client.get(f"/buy/w/{entry.token}/").content.decode()
    assert "held for you until" not in page and "data-claim-offer" not in page
    assert "Your payment did not go through" in page
    assert 'data-waitlist-status="expired"' in page
    assert "Leave the waitlist" not in page


def test_the_owner_is_told_why_an_offer_cannot_be_made(client, owner, sold_out):
    """After sales closed, "Offer now" said "Not enough free tickets … Raise
    the capacity first", which changes nothing."""
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Event

    event, seat = sold_out
    _post(client, event, quantity="1")
    entry = WaitlistEntry.objects.get()
    TicketType.objects.filter(pk=seat.pk).update(capacity=10)
    Event.objects.filter(pk=event.pk).update(
        venue_capacity=10, sales_end_at=timezone.now() - timedelta(minutes=5)
    )
    client.force_login(owner)
    page = client.post(
        f"/scanner/events/{event.id}/waitlist/{entry.pk}/offer/", follow=True
    ).content.decode()
    assert "Ticket sales for this event are over" in page
    assert "Raise the capacity" not in page
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.WAITING
