import pytest
from django.utils import timezone

from core.models import Order, Payment, Refund
from core.services.event_cancellation import cancel_event, settle_cancelled_events
from tests.factories import make_paid_order

pytestmark = pytest.mark.django_db


def _url(event):
    return f"/scanner/events/{event.id}/cancel/"


def _detail(event):
    return f"/scanner/events/{event.id}/"


def test_owner_sees_what_will_happen_before_cancelling(client, owner, ticket_type):
    make_paid_order(ticket_type, 2)
    client.force_login(owner)
    detail = client.get(_detail(ticket_type.event)).content.decode()
    assert "Cancel this event…" in detail
    page = client.get(_url(ticket_type.event)).content.decode()
    assert "1 paid order" in page
    assert "refunded in full, to the card" in page
    assert f"Yes, cancel {ticket_type.event.name}" in page
    assert "be put back on sale" in page


def test_manager_sees_a_note_and_cannot_open_the_page(client, manager, event):
    client.force_login(manager)
    detail = client.get(_detail(event)).content.decode()
    assert "Cancel this event…" not in detail
    assert "Only the owner can cancel this event" in detail
    assert client.get(_url(event)).status_code == 403
    assert client.post(_url(event), {"reason": "x", "confirm": "on"}).status_code == 403
    event.refresh_from_db()
    assert event.cancelled_at is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason": "The artist is ill"}, "Tick the box to confirm"),
        ({"reason": "   ", "confirm": "on"}, "Say why the event is cancelled"),
        ({"reason": "x" * 301, "confirm": "on"}, "Keep the reason to 300"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(client, owner, event, data, message):
    client.force_login(owner)
    response = client.post(_url(event), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    event.refresh_from_db()
    assert event.cancelled_at is None and event.is_active


def test_owner_cancels_and_the_event_page_shows_the_banner_and_progress(
    client, owner, ticket_type
):
    event = ticket_type.event
    orders = [
        make_paid_order(ticket_type, 1, email=f"p{i}@example.com") for i in range(2)
    ]
    client.force_login(owner)
    response = client.post(
        _url(event), {"reason": "The artist is ill", "confirm": "on"}
    )
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.cancelled_at and event.cancel_reason == "The artist is ill"
    page = client.get(_detail(event)).content.decode()
    assert "Cancelled" in page and "The artist is ill" in page
    assert "Refunded 0 of 2 paid orders" in page
    assert "Put on sale" not in page and "Cancel this event…" not in page

    settle_cancelled_events()
    page = client.get(_detail(event)).content.decode()
    assert "Refunded 2 of 2 paid orders" in page
    assert all(o.code for o in orders)


def test_a_failed_refund_is_listed_with_what_to_do(client, owner, ticket_type):
    event = ticket_type.event
    order = make_paid_order(ticket_type, 1)
    cancel_event(actor=owner, event_id=event.id, reason="Flooded venue")
    payment = Payment.objects.get(order=order)
    Refund.objects.create(
        order=order,
        payment=payment,
        kind=Refund.Kind.SENT,
        whole_order=True,
        amount=payment.amount,
        currency=order.currency,
        key="refund-x",
        status=Refund.Status.FAILED,
        refusal_reason="Your balance is too low.",
        updated_at=timezone.now(),
    )
    client.force_login(owner)
    page = client.get(_detail(event)).content.decode()
    assert "1 failed" in page
    assert order.code in page and "Your balance is too low." in page
    assert "refund it by hand" in page


def test_cancelling_again_is_refused_with_a_clear_message(client, owner, event):
    cancel_event(actor=owner, event_id=event.id, reason="Ill")
    client.force_login(owner)
    response = client.post(_url(event), {"reason": "Other", "confirm": "on"})
    assert response.status_code == 409
    assert "already cancelled, so nothing changed" in response.content.decode()
    event.refresh_from_db()
    assert event.cancel_reason == "Ill"


def test_put_on_sale_of_a_cancelled_event_is_refused_in_words(client, owner, event):
    cancel_event(actor=owner, event_id=event.id, reason="Ill")
    client.force_login(owner)
    response = client.post(
        f"/scanner/events/{event.id}/on-sale/", {"active": "1"}, follow=True
    )
    assert "cannot go back on sale" in response.content.decode()
    event.refresh_from_db()
    assert not event.is_active
    assert Order.objects.count() == 0


def test_the_event_list_says_cancelled_not_just_off_sale(client, owner, ticket_type):
    event = ticket_type.event
    make_paid_order(ticket_type, 1)
    cancel_event(actor=owner, event_id=event.id, reason="Flooded venue")
    client.force_login(owner)

    html = client.get("/scanner/", {"show": "inactive"}).content.decode()
    row = html[html.index(f'data-live-row="{event.id}"') :]
    row = row[: row.index("</li>")]

    assert ">Cancelled<" in row
    assert "Not on sale" not in row
