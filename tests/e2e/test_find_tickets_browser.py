import re
import uuid

import pytest
from django.core import mail

from core.notify.delivery import send_due_messages
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_buyer_who_lost_the_email_gets_back_to_the_tickets_on_a_phone(
    live_server, page, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"find-tickets-{uuid.uuid4()}",
        }
    }
    event = EventFactory(name="Harbour Lights")
    make_paid_order(
        TicketTypeFactory(event=event, name="Standing"), 2, email="ana@example.com"
    )

    page.goto(f"{live_server.url}/buy/")
    page.locator("[data-find-tickets-link]").click()
    page.wait_for_url("**/buy/find/")
    field = page.get_by_label("Email address")
    field.fill("ana@")
    page.get_by_role("button", name="Email me my tickets").click()
    assert page.get_by_text("Please enter a valid email address").is_visible()
    assert page.evaluate("document.activeElement.id") == "id_email"
    # Nothing sideways on a 390px phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_label("Email address").fill("Ana@Example.com")
    page.get_by_role("button", name="Email me my tickets").click()
    assert page.get_by_role("heading", name="Check your email").is_visible()
    assert page.get_by_text("It can take a minute; check spam.").is_visible()

    send_due_messages()
    [email] = [m for m in mail.outbox if m.subject.startswith("Links to your")]
    assert email.to == ["ana@example.com"]
    (link,) = re.findall(rf"{re.escape(live_server.url)}/buy/o/[\w-]+/", email.body)
    page.goto(link)
    assert page.get_by_role("heading", name="Harbour Lights").is_visible()
    assert page.locator(".qr-small svg").count() == 2
