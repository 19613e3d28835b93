"""An owner's edit page left open on a phone while a manager changes the
price: saving it is refused in plain words, what was typed stays, and the
reload link opens the event as it is now."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import Event
from core.services.events import set_event_active
from tests.e2e.test_console_browser import sign_in_as_owner
from tests.factories import EventFactory, TicketTypeFactory, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_page_left_open_cannot_put_back_what_a_manager_changed(live_server, page):
    make_staff("owner", username="boss")
    sam = make_staff("manager", username="sam", first_name="Sam")
    starts = (timezone.now() + timedelta(days=9)).replace(second=0, microsecond=0)
    event = EventFactory(name="Jazz Night", description="Old words", starts_at=starts)
    TicketTypeFactory(event=event, name="General", price=Decimal(20), capacity=8)
    page.set_viewport_size({"width": 390, "height": 844})

    sign_in_as_owner(page, live_server.url, f"/scanner/events/{event.id}/edit/")
    page.locator("#id_description").fill("New words")
    set_event_active(actor=sam, event_id=event.id, active=False)  # meanwhile
    page.get_by_role("button", name="Save changes").click()

    page.get_by_text("Sam changed this event at").wait_for()
    assert page.locator("#id_description").input_value() == "New words"
    assert Event.objects.get(pk=event.pk).is_active is False

    page.get_by_role("link", name="Reload the event as it is now").click()
    page.wait_for_url(f"**/scanner/events/{event.id}/edit/")
    assert page.locator("#id_description").input_value() == "Old words"
    assert not page.get_by_label(
        "On sale: show it on the website and sell tickets"
    ).is_checked()
