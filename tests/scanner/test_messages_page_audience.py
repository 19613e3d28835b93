"""The messages page says whom its figures count: staff invitations are
among them (and listed, to be resent), so not "to customers" alone."""

import pytest

from core.models import OutboundMessage, Role
from core.services.staff import invite_staff
from tests.factories import make_paid_order

pytestmark = pytest.mark.django_db


def test_the_count_says_it_holds_staff_invitations_too(client, owner, ticket_type):
    make_paid_order(ticket_type, 1)
    invite_staff(actor=owner, email="new@example.com", role=Role.DOOR)
    OutboundMessage.objects.update(status=OutboundMessage.Status.SENT)
    sent = OutboundMessage.objects.count()
    assert OutboundMessage.objects.filter(kind="staff_invite").exists()
    client.force_login(owner)

    html = client.get("/scanner/messages/").content.decode()

    assert "Emails and texts to customers and staff." in html
    assert "to customers." not in html
    assert f"Sent: {sent} " in html
