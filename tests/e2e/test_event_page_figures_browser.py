"""The owner's event page in a phone-sized browser: a scan at the door moves
its "Checked in" without a reload, and free tickets are shown beside sold."""

import pytest

from core.services.checkin import redeem_ticket
from core.services.comps import issue_comp_tickets
from tests.e2e.test_analytics_browser import sign_in
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_checked_in_follows_the_door_and_free_tickets_stand_beside_sold(
    live_server, page
):
    owner = make_staff("owner", username="boss")
    event = EventFactory(name="Guest Night")
    vip = TicketTypeFactory(event=event, name="VIP", capacity=10)
    order = make_paid_order(vip, 3)
    issue_comp_tickets(
        actor=owner,
        event_id=event.id,
        ticket_type_id=vip.id,
        quantity=2,
        guest_name="Gil",
        guest_email="gil@example.com",
    )
    sign_in(page, live_server, "boss")
    page.goto(f"{live_server.url}/scanner/events/{event.id}/")

    summary = page.locator(".summary-line")
    assert summary.inner_text().startswith("3 sold + 2 free")
    checked_in = page.locator('[data-summary-figure="checked_in"]')
    assert checked_in.inner_text() == "0"

    redeem_ticket(
        event=event,
        text=order.tickets.first().qr_payload,
        device_label="Main",
        now=event.starts_at,
    )
    # live.js turns the door feed's pushes into `door:message`; the page
    # refetches its figures (no navigation).
    page.evaluate(
        """id => document.dispatchEvent(new CustomEvent("door:message",
            {detail: {type: "door.scans", event_id: id, scans: [{}]}}))""",
        str(event.id),
    )
    page.wait_for_function(
        """() => document.querySelector('[data-summary-figure="checked_in"]')
            .textContent === "1" """
    )
    assert page.url.endswith(f"/scanner/events/{event.id}/")
