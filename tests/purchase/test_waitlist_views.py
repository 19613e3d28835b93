import pytest

from core.models import OutboundMessage, TicketType, WaitlistEntry
from core.services.waitlist import offer_freed_seats
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def sold_out():
    event = EventFactory(name="Full House", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=2, max_per_order=4)
    make_paid_order(seat, 2)
    return event, seat


def _post(client, event, **data):
    payload = {
        "name": "Ana",
        "email": "ana@example.com",
        "phone": "",
        "ticket_type_id": "",
        "quantity": "2",
    }
    return client.post(f"/buy/events/{event.slug}/waitlist/", payload | data)


def test_join_form_puts_the_customer_in_line(client, sold_out):
    event, _ = sold_out
    response = _post(client, event)
    entry = WaitlistEntry.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/buy/w/{entry.token}/"
    page = client.get(response["Location"]).content.decode()
    assert "number <strong>1</strong> in line" in page
    assert OutboundMessage.objects.filter(
        kind="waitlist_joined", to="ana@example.com"
    ).exists()


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
    ],
)
def test_bad_input_is_explained_and_changes_nothing(client, sold_out, data, message):
    event, _ = sold_out
    response = _post(client, event, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_joining_an_event_on_sale_says_buy_now(client):
    event = EventFactory()
    TicketTypeFactory(event=event, capacity=5)
    response = _post(client, event, quantity="1")
    assert response.status_code == 400
    assert "buy them right away" in response.content.decode()


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
    assert response.status_code == 302
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


def test_offer_page_shows_what_is_held(client, sold_out):
    event, seat = sold_out
    _post(client, event, quantity="1")
    TicketType.objects.filter(pk=seat.pk).update(capacity=3)
    event.venue_capacity = 3
    event.save()
    offer_freed_seats(event_id=event.id)
    entry = WaitlistEntry.objects.get()
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
