import pytest
from django.utils import timezone

from core.models import Order
from core.services.checkin import redeem_ticket
from core.services.event_cancellation import cancel_event, settle_cancelled_events
from tests.factories import make_door_open_event, make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(ticket_type):
    return make_paid_order(ticket_type, 2)


def _cancel(owner, event):
    cancel_event(actor=owner, event_id=event.id, reason="The artist is ill")


def test_order_page_says_cancelled_with_refund_state_and_no_qr(client, owner, paid):
    _cancel(owner, paid.event)
    page = client.get(f"/buy/o/{paid.token}/").content.decode()
    assert "This event is cancelled: The artist is ill" in page
    assert "is being refunded to your card" in page
    assert "<svg" not in page
    assert "Open ticket" not in page

    settle_cancelled_events()
    page = client.get(f"/buy/o/{paid.token}/").content.decode()
    assert "was refunded to your card" in page


def test_ticket_page_says_cancelled_and_shows_no_qr(client, owner, paid):
    ticket = paid.tickets.first()
    assert "<svg" in client.get(f"/buy/t/{ticket.token}/").content.decode()
    _cancel(owner, paid.event)
    page = client.get(f"/buy/t/{ticket.token}/").content.decode()
    assert "This event is cancelled: The artist is ill" in page
    assert "<svg" not in page
    assert "Void" in page


def test_public_page_of_a_cancelled_event_says_so(client, owner, event):
    _cancel(owner, event)
    response = client.get(f"/buy/events/{event.slug}/")
    assert response.status_code == 200
    assert "is cancelled" in response.content.decode()
    assert "The artist is ill" in response.content.decode()


def test_public_page_of_an_event_off_sale_is_still_not_found(client, event):
    event.is_active = False
    event.save()
    assert client.get(f"/buy/events/{event.slug}/").status_code == 404


def test_a_ticket_of_a_cancelled_event_scans_as_void(owner):
    from tests.factories import TicketTypeFactory

    event = make_door_open_event()
    ticket_type = TicketTypeFactory(event=event)
    ticket = make_paid_order(ticket_type, 1).tickets.get()
    _cancel(owner, event)
    event.refresh_from_db()
    # Before the worker has refunded it, and after.
    result = redeem_ticket(event=event, text=ticket.qr_payload)
    assert result.code == "void"
    assert result.message == "Event cancelled — do not let in."
    settle_cancelled_events()
    assert Order.objects.get(pk=ticket.order_id).status == "refunded"
    result = redeem_ticket(event=event, text=ticket.qr_payload)
    assert result.code == "void"
    assert timezone.now()


def test_the_marketing_page_of_a_cancelled_event_says_so(client, owner, event):
    """The link people share is the marketing site's: it must not say "not
    found" for a show that was cancelled."""
    _cancel(owner, event)

    response = client.get(f"/events/{event.slug}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "is cancelled" in page and "The artist is ill" in page


def test_no_free_tickets_for_a_cancelled_event(client, owner, ticket_type):
    from core.exceptions import InvalidRequest
    from core.services.comps import issue_comp_tickets

    _cancel(owner, ticket_type.event)

    with pytest.raises(InvalidRequest, match="cancelled"):
        issue_comp_tickets(
            actor=owner,
            event_id=ticket_type.event_id,
            ticket_type_id=ticket_type.id,
            quantity=1,
            guest_name="Late Guest",
            guest_email="late@example.com",
        )
    assert not Order.objects.filter(customer_email="late@example.com").exists()
    client.force_login(owner)
    console = client.get(f"/scanner/events/{ticket_type.event_id}/").content.decode()
    assert "Free tickets</a>" not in console
    assert "hidden from the website" not in console
    assert "Not selling: the event is cancelled" in console
    assert "event off sale" not in console


def test_a_checkout_the_cancellation_released_says_why_on_its_pay_page(
    client, owner, ticket_type
):
    from tests.factories import make_held_order

    held = make_held_order(ticket_type, 1)
    _cancel(owner, ticket_type.event)

    response = client.get(f"/buy/o/{held.token}/pay/", follow=True)

    page = response.content.decode()
    assert "is cancelled" in page and "The artist is ill" in page
    assert "See what's left" not in page
