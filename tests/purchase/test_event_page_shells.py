"""The event page served from a shell (purchase/shells.py) is the page in full."""

import re
from decimal import Decimal

import pytest
from django.conf import settings

from core.services.checkout import place_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db

CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


@pytest.fixture
def show(db):
    event = EventFactory(name="Shell Show", venue_capacity=20)
    vip = TicketTypeFactory(
        event=event, name="VIP", price=Decimal("50.00"), capacity=3, max_per_order=4
    )
    ga = TicketTypeFactory(
        event=event, name="GA", price=Decimal("20.00"), capacity=10, max_per_order=6
    )
    return event, vip, ga


def _buy(client, event, quantities, **fields):
    data = {"name": "Ana", "email": "ana@example.com", "phone": ""} | fields
    data |= {f"qty_{type_id}": n for type_id, n in quantities.items()}
    return client.post(f"/buy/events/{event.slug}/", data)


def _rendered_in_full(client, request):
    """The same request with a session cookie, which makes the view render."""
    client.cookies[settings.SESSION_COOKIE_NAME] = "no-such-session"
    try:
        return request()
    finally:
        del client.cookies[settings.SESSION_COOKIE_NAME]


def _same_page(shell_response, full_response) -> None:
    assert shell_response.status_code == full_response.status_code
    assert full_response.templates, "the comparison page was not rendered"
    shell_html = CSRF_VALUE.sub("CSRF", shell_response.content.decode())
    full_html = CSRF_VALUE.sub("CSRF", full_response.content.decode())
    assert shell_html == full_html


def test_the_page_as_loaded_is_rendered_once_then_filled_in(client, show):
    event, _vip, _ga = show
    url = f"/buy/events/{event.slug}/"

    first = client.get(url)
    second = client.get(url)

    assert first.templates, "the first visitor's page is rendered"
    assert not second.templates, "the second one comes from the shell"
    _same_page(second, _rendered_in_full(client, lambda: client.get(url)))
    tokens = CSRF_VALUE.findall(second.content.decode())
    assert len(tokens) == 2 and "hole" not in tokens[0]


def test_a_sold_out_refusal_keeps_what_was_typed_escaped(client, show):
    event, vip, _ga = show
    make_paid_order(vip, 3)
    typed = {"name": '<b>"Ana" & co</b>', "email": "a'b@example.com", "phone": "+14155550123"}

    def refuse():
        return _buy(client, event, {vip.id: 2}, **typed)

    refuse()
    refused = refuse()

    assert refused.status_code == 409
    assert not refused.templates
    html = refused.content.decode()
    assert 'value="&lt;b&gt;&quot;Ana&quot; &amp; co&lt;/b&gt;"' in html
    assert 'value="a&#x27;b@example.com"' in html
    assert "<b>" not in html
    _same_page(refused, _rendered_in_full(client, refuse))


def test_a_refusal_for_more_than_is_left_keeps_the_choice(client, show):
    event, _vip, ga = show
    make_paid_order(ga, 6)
    make_paid_order(ga, 1)  # 3 GA left

    def refuse():
        return _buy(client, event, {ga.id: 5})

    refused = refuse()

    assert refused.status_code == 409
    assert '<option value="0">0</option>' in refused.content.decode()
    _same_page(refused, _rendered_in_full(client, refuse))


def test_a_sale_shows_at_once(client, show):
    event, _vip, ga = show
    url = f"/buy/events/{event.slug}/"
    assert "10 left" in client.get(url).content.decode()

    place_order(
        event_id=event.id,
        quantities={ga.id: 2},
        customer_name="Bo",
        customer_email="bo@example.com",
    )

    assert "8 left" in client.get(url).content.decode()


def test_a_waiting_message_is_shown(client, show):
    event, _vip, ga = show
    _buy(client, event, {ga.id: 1})
    client.get(f"/buy/events/{event.slug}/")  # a shell for this page exists
    order = event.orders.get()

    left = client.post(f"/buy/o/{order.token}/test-payment/", {"action": "cancel"})
    cancelled = client.get(left["Location"])
    page = client.get(cancelled["Location"])

    assert page.templates, "rendered in full, for the message"
    assert 'class="message message-info"' in page.content.decode()
