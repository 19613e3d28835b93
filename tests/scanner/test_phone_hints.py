"""Staff forms show a mobile number of the country a number typed without its
+code is read as: the event's for free tickets, DEFAULT_PHONE_REGION for
staff invites."""

import pytest
from django.urls import reverse

from core.models import StaffInvite
from tests.factories import EventFactory, TicketTypeFactory

pytestmark = pytest.mark.django_db


def test_the_comp_form_shows_a_number_of_the_event_country(client, owner):
    event = EventFactory(time_zone="Europe/London")
    TicketTypeFactory(event=event)
    client.force_login(owner)
    html = client.get(reverse("scanner:event_comps", args=[event.id])).content.decode()
    example = "+44\xa07400\xa0123456"
    assert f"Optional: also text them the tickets link, e.g. {example}." in html
    assert f'placeholder="{example}"' in html


def test_the_invite_form_shows_a_number_of_the_default_region(client, owner, settings):
    settings.DEFAULT_PHONE_REGION = "ES"
    client.force_login(owner)
    html = client.get(reverse("scanner:staff_invite")).content.decode()
    example = "+34\xa0612\xa034\xa056\xa078"
    assert f"Optional: we also text the invitation, e.g. {example}." in html
    assert "+14155550123" not in html


def test_an_invite_number_is_kept_in_e164(client, owner, settings):
    settings.DEFAULT_PHONE_REGION = "ES"
    client.force_login(owner)
    client.post(
        reverse("scanner:staff_invite"),
        {"email": "sam@example.com", "role": "door", "phone": "612 345 678"},
    )
    assert StaffInvite.objects.get().phone == "+34612345678"
