"""A long guest name wraps on a 390px phone: the ticket and order pages stay
as wide as the screen."""

import pytest

from core.models import Ticket
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = "Maximiliana Wolfeschlegelsteinhausenbergerdorff-Featherstonehaugh"


def test_a_long_guest_name_wraps_within_the_phone(live_server, page, tmp_path):
    event = EventFactory(name="Perreo Fridays", time_zone="Europe/Madrid")
    ga = TicketTypeFactory(event=event, name="General Admission")
    order = make_paid_order(ga, name=LONG_NAME)
    ticket = order.tickets.get()
    Ticket.objects.filter(pk=ticket.pk).update(guest_name=LONG_NAME)

    for url in (f"/buy/t/{ticket.token}/", f"/buy/o/{order.token}/"):
        page.goto(f"{live_server.url}{url}")
        page.screenshot(path=tmp_path / "long-name.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    guest = page.goto(f"{live_server.url}/buy/t/{ticket.token}/")
    assert guest.ok
    name = page.get_by_text(LONG_NAME)
    assert name.is_visible()
    box = name.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
