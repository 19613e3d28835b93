import pytest
from django.utils import timezone

from core.models import OutboundMessage, Role
from core.notify.delivery import send_due_messages
from core.services.staff import invite_staff
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


# --- What may be sent again, and where ---------------------------------------


def _invite_message(owner, role, *, status=OutboundMessage.Status.FAILED):
    invite_staff(actor=owner, email="new.staff@example.com", role=role)
    message = OutboundMessage.objects.get(kind="staff_invite")
    message.status = status
    message.attempts = 8
    message.save()
    return message


def _resend(client, message, to):
    return client.post(
        f"/scanner/messages/{message.pk}/resend/", {"to": to}, follow=True
    )


def test_a_manager_cannot_take_an_owners_invitation(client, owner, manager, mailoutbox):
    """Sent to the invitee, then "resent" to the manager's own address, the
    link would make whoever opens it an owner."""
    invite = _invite_message(owner, Role.OWNER, status=OutboundMessage.Status.SENT)
    client.force_login(manager)
    for to in ("mallory@example.com", "new.staff@example.com", ""):
        response = _resend(client, invite, to)
        assert (
            "Only an owner can resend an invitation to join as an owner"
            in response.content.decode()
        )
    # Not even one that failed, to its own address.
    invite.status = OutboundMessage.Status.FAILED
    invite.save()
    _resend(client, invite, "new.staff@example.com")
    before = (invite.to, invite.status, invite.attempts)
    invite.refresh_from_db()
    assert (invite.to, invite.status, invite.attempts) == before
    send_due_messages()
    assert mailoutbox == []


def test_an_invitation_goes_again_only_to_its_own_address(client, owner, mailoutbox):
    invite = _invite_message(owner, Role.MANAGER)
    client.force_login(owner)
    response = _resend(client, invite, "someone.else@example.com")
    assert "goes only to the address it was made for" in response.content.decode()
    invite.refresh_from_db()
    assert invite.status == OutboundMessage.Status.FAILED
    assert invite.to == "new.staff@example.com"

    response = _resend(client, invite, " New.Staff@Example.com ")
    assert "Queued again: Email to new.staff@example.com" in response.content.decode()
    invite.refresh_from_db()
    assert (invite.status, invite.attempts) == (OutboundMessage.Status.QUEUED, 0)
    send_due_messages()
    assert [m.to for m in mailoutbox] == [["new.staff@example.com"]]


def test_a_manager_resends_a_failed_invitation_of_their_role_or_below(
    client, owner, manager
):
    client.force_login(manager)
    for role in (Role.DOOR, Role.MANAGER):
        OutboundMessage.objects.filter(kind="staff_invite").delete()
        invite = _invite_message(owner, role)
        _resend(client, invite, "")
        invite.refresh_from_db()
        assert invite.status == OutboundMessage.Status.QUEUED
        assert invite.to == "new.staff@example.com"


def test_a_message_that_went_out_or_waits_is_not_sent_again(
    client, manager, ticket_type, mailoutbox
):
    """The page offers only failed and retrying messages: the tickets that
    reached their buyer are not sent from here to another address."""
    order = make_paid_order(ticket_type, 1)
    message = order.messages.get(channel="email")
    client.force_login(manager)
    response = _resend(client, message, "mallory@example.com")  # not tried yet
    assert "has not been tried yet" in response.content.decode()
    send_due_messages()
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.SENT
    mailoutbox.clear()
    response = _resend(client, message, "mallory@example.com")
    assert "went out already" in response.content.decode()
    message.refresh_from_db()
    assert (message.status, message.to) == (
        OutboundMessage.Status.SENT,
        order.customer_email,
    )
    send_due_messages()
    assert mailoutbox == []
    # The order's page still sends the tickets again, to a corrected address.
    client.post(
        f"/scanner/orders/{order.id}/resend/",
        {"to": "fixed@example.com", "correct": "yes"},
    )
    send_due_messages()
    assert [m.to for m in mailoutbox] == [["fixed@example.com"]]


def test_a_text_that_went_out_is_not_resent_from_the_order_page(
    client, manager, ticket_type
):
    order = make_paid_order(ticket_type, 1)
    text = OutboundMessage.objects.create(
        channel=OutboundMessage.Channel.SMS,
        kind="order_tickets_link",
        to="+34600000001",
        order=order,
        next_attempt_at=timezone.now(),
        status=OutboundMessage.Status.SENT,
    )
    client.force_login(manager)
    response = client.post(
        f"/scanner/orders/{order.id}/texts/{text.pk}/resend/",
        {"to": "+34600000009", "correct": "yes"},
        follow=True,
    )
    assert "went out already" in response.content.decode()
    text.refresh_from_db()
    order.refresh_from_db()
    assert (text.status, text.to) == (OutboundMessage.Status.SENT, "+34600000001")
    assert order.customer_phone != "+34600000009"
