"""The door's pages as rendered: no template syntax left in them (a `{# #}`
comment spanning lines is printed as text, in the door's header)."""

import pytest
from django.test import Client

from tests.factories import TicketTypeFactory, make_door_open_event

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["list", "event"])
def test_the_door_pages_show_no_template_syntax(door, page):
    event = TicketTypeFactory(event=make_door_open_event()).event
    client = Client()
    client.force_login(door)
    url = "/scanner/door/" if page == "list" else f"/scanner/door/{event.pk}/"

    html = client.get(url).content.decode()

    for syntax in ("{#", "#}", "{%", "%}", "{{", "}}"):
        assert syntax not in html
