"""The purchase service worker's script, scopes and the files it keeps.

Its behaviour in a browser (offline copies, network first, the bound) is
in tests/e2e/test_saved_tickets_browser.py.
"""

import json
import re

import pytest
from django.test import override_settings

from tests.factories import make_paid_order
from tests.test_hosts import HOSTS

pytestmark = pytest.mark.django_db


def worker_config(response) -> dict:
    match = re.search(r"^const CONFIG = (\{.*\});$", response.content.decode(), re.M)
    return json.loads(match.group(1))


def test_the_worker_is_served_at_the_purchase_root_for_ticket_and_order_paths(
    client,
):
    response = client.get("/buy/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == "no-cache"
    assert worker_config(response)["pagePaths"] == ["/buy/t/", "/buy/o/"]


@override_settings(**HOSTS)
def test_on_its_own_host_the_worker_covers_the_hosts_own_paths(client, ticket_type):
    response = client.get("/sw.js", HTTP_HOST="tickets.example.com")
    assert worker_config(response)["pagePaths"] == ["/t/", "/o/"]
    ticket = make_paid_order(ticket_type, 1).tickets.get()
    html = client.get(
        f"/t/{ticket.token}/", HTTP_HOST="tickets.example.com"
    ).content.decode()
    assert f'data-saved-page="/t/{ticket.token}/"' in html
    assert 'data-worker="/sw.js" data-worker-scope="/t/"' in html


def test_ticket_and_order_pages_name_every_static_file_they_load(client, ticket_type):
    """What the worker keeps with a page is what the page needs offline."""
    order = make_paid_order(ticket_type, 1)
    ticket = order.tickets.get()
    for url, scope in (
        (f"/buy/t/{ticket.token}/", "/buy/t/"),
        (f"/buy/o/{order.token}/", "/buy/o/"),
    ):
        response = client.get(url)
        html = response.content.decode()
        loaded = set(re.findall(r'(?:href|src)="(/static/[^"]+)"', html))
        kept = {path.strip() for path in response["X-Offline-Assets"].split(",")}
        assert loaded and loaded == kept
        assert f'data-saved-page="{url}"' in html
        assert f'data-worker="/buy/sw.js" data-worker-scope="{scope}"' in html
        # Hidden until the worker shows a saved copy; it finds it by this text.
        assert "data-saved-copy-note hidden>Offline: showing this " in html


def test_the_page_right_after_paying_keeps_the_order_page(client, ticket_type):
    order = make_paid_order(ticket_type, 1)
    html = client.get(f"/buy/o/{order.token}/done/").content.decode()
    assert f'data-saved-page="/buy/o/{order.token}/"' in html
