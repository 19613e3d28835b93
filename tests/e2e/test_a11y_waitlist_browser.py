"""The waitlist's row buttons say whom they act on: a screen reader listing
the page's buttons heard "Offer now" and "Remove" once per person, with
nothing to tell them apart (WCAG 2.4.6, 1.3.1)."""

import pytest
from django.urls import reverse

from core.services.waitlist import join_waitlist
from tests.e2e.test_analytics_browser import sign_in
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_offer_now_and_remove_name_the_person(live_server, page):
    event = EventFactory(name="Full House", venue_capacity=2)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=2, max_per_order=4)
    make_paid_order(seat, 2)
    for name in ("Luis Gomez", "Marta Sanz"):
        join_waitlist(
            event_id=event.id,
            ticket_type_id=None,
            name=name,
            email=f"{name.split()[0].lower()}@example.com",
            phone="",
            quantity=1,
        )
    make_staff("manager", username="mia")
    sign_in(page, live_server, "mia")
    page.goto(live_server.url + reverse("scanner:event_waitlist", args=[event.id]))

    for name in ("Luis Gomez", "Marta Sanz"):
        offer = page.get_by_role("button", name=f"Offer now to {name}", exact=True)
        # A summary has no role of its own: read as its text.
        remove = page.locator("summary", has_text=f"Remove {name}")
        for button in (offer, remove):
            assert button.is_visible()
            # The name is for screen readers: the button looks as it did.
            assert button.bounding_box()["height"] <= 60
