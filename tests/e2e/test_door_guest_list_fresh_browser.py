"""Guest-list results follow what happens meanwhile, in real Chromium: a ticket
cancelled or let in elsewhere after the search no longer shows "Not in yet"
with an Admit button (the door's feed tells the page something changed)."""

import pytest

from core.models import Ticket
from tests.e2e import test_door_browser as door
from tests.e2e.test_door_cancelled_browser import open_live_door_page

door_ticket = door.door_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_search_results_follow_a_ticket_cancelled_after_the_search(
    browser, asgi_server, door_ticket
):
    context, page = open_live_door_page(
        browser, asgi_server, door_ticket, username="doorlist"
    )
    page.fill("[data-guest-query]", "ana")
    page.press("[data-guest-query]", "Enter")
    ana = page.locator(f"[data-guest-results] li[data-guest='{door_ticket.code}']")
    ana.wait_for(state="visible")
    assert "Not in yet" in ana.inner_text()
    assert ana.get_by_role("button", name="Admit").is_visible()

    # Her free ticket is cancelled from the console; what reaches the door
    # is the counters' push (a sale here, as any change of what is sold).
    Ticket.objects.filter(pk=door_ticket.pk).update(status=Ticket.Status.VOID)
    asgi_server.run("sell", ticket_type_id=door_ticket.ticket_type_id)

    page.wait_for_selector(
        f"[data-guest-results] li[data-guest='{door_ticket.code}'][data-status='void']",
        timeout=8_000,
    )
    assert "Refunded / void" in ana.inner_text()
    assert ana.get_by_role("button", name="Admit").count() == 0
    context.close()
