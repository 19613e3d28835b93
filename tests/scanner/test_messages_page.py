import pytest
from django.utils import timezone

from core.models import OutboundMessage
from tests.factories import make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_email(ticket_type):
    order = make_paid_order(ticket_type, 1)
    message = order.messages.get(channel="email")
    message.status = OutboundMessage.Status.FAILED
    message.attempts = 8
    message.last_error = "DeliveryError: SendGrid 503"
    message.save()
    return message


def test_door_staff_and_strangers_cannot_see_messages(client, door, failed_email):
    assert client.get("/scanner/messages/").status_code == 302
    client.force_login(door)
    assert client.get("/scanner/messages/").status_code == 403
    response = client.post(f"/scanner/messages/{failed_email.pk}/resend/")
    assert response.status_code == 403
    failed_email.refresh_from_db()
    assert failed_email.status == OutboundMessage.Status.FAILED


@pytest.mark.parametrize("who", ["owner", "manager"])
def test_managers_see_failed_sends_and_resend_them(client, request, who, failed_email):
    client.force_login(request.getfixturevalue(who))
    page = client.get("/scanner/messages/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "SendGrid 503" in html and failed_email.to in html
    assert "Tickets (order confirmation)" in html and "order_confirmation" not in html
    assert "Messages" in html  # the nav link to this page
    # Its order is a tap away, to check the customer's details.
    assert f'href="/scanner/orders/{failed_email.order_id}/"' in html

    response = client.post(
        f"/scanner/messages/{failed_email.pk}/resend/", {"to": "fixed@example.com"}
    )
    assert response.status_code == 302
    failed_email.refresh_from_db()
    assert failed_email.status == OutboundMessage.Status.QUEUED
    assert failed_email.attempts == 0
    assert failed_email.to == "fixed@example.com"
    assert failed_email.next_attempt_at <= timezone.now()


def test_resend_refuses_a_bad_address(client, owner, failed_email):
    client.force_login(owner)
    response = client.post(
        f"/scanner/messages/{failed_email.pk}/resend/", {"to": "nope"}, follow=True
    )
    assert "valid email address" in response.content.decode()
    failed_email.refresh_from_db()
    assert failed_email.status == OutboundMessage.Status.FAILED


def test_resend_is_post_only(client, owner, failed_email):
    client.force_login(owner)
    assert client.get(f"/scanner/messages/{failed_email.pk}/resend/").status_code == 405
