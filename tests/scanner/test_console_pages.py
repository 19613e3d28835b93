"""Every staff page is laid out by the console's stylesheet.

Pages that add their own CSS replace base_scanner.html's head block; without
`{{ block.super }}` they drop console.css, and on a phone the staff menu
shrinks to one clipped row ("Mes…") instead of the grid of buttons every
other staff page shows. Walks the scanner URLconf, so a page added later is
covered too.
"""

import re

import pytest
from django.urls import reverse

from tests.scanner.url_samples import sample_kwargs, scanner_routes

pytestmark = pytest.mark.django_db

CONSOLE_CSS = re.compile(
    r'<link rel="stylesheet" href="[^"]*/css/console(\.\w+)?\.css"'
)
BODY_CLASSES = re.compile(r'<body class="([^"]*)"')
# Pages with the staff menu (body.scanner); the scanning page is in door mode,
# which hides the site header and menu and has door.css of its own.
MUST_BE_CHECKED = {
    "scanner:home",
    "scanner:event_detail",
    "scanner:event_audit",
    "scanner:analytics",
    "scanner:analytics_event",
    "scanner:door",
    "scanner:orders",
    "scanner:staff",
}


def test_every_staff_page_with_the_staff_menu_loads_console_css(
    client, owner, url_samples
):
    client.force_login(owner)
    checked, missing = set(), []
    for route in scanner_routes():
        url = reverse(route.name, kwargs=sample_kwargs(route, url_samples))
        response = client.get(url)
        if response.status_code != 200 or not response.get(
            "Content-Type", ""
        ).startswith("text/html"):
            continue
        html = response.content.decode()
        body = BODY_CLASSES.search(html)
        if body is None or "scanner" not in body.group(1).split():
            continue  # a fragment, or the door's full-screen scanning mode
        checked.add(route.name)
        if not CONSOLE_CSS.search(html):
            missing.append(f"{route.name} ({url})")
    assert not missing, (
        "These staff pages drop console.css (use {{ block.super }} in their head "
        f"block): {', '.join(missing)}"
    )
    assert checked >= MUST_BE_CHECKED, MUST_BE_CHECKED - checked


def test_a_page_replacing_the_head_block_would_be_caught():
    """The pattern matches the base's link and not a page's own stylesheet."""
    assert CONSOLE_CSS.search('<link rel="stylesheet" href="/static/css/console.css">')
    assert CONSOLE_CSS.search(
        '<link rel="stylesheet" href="/static/css/console.3f2a9c.css">'
    )
    assert not CONSOLE_CSS.search(
        '<link rel="stylesheet" href="/static/css/analytics.css">'
    )


def test_the_menu_marks_analytics_not_events_on_an_events_analytics(
    client, owner, url_samples
):
    client.force_login(owner)
    event = url_samples.event
    url = reverse("scanner:analytics_event", args=[event.pk])
    html = client.get(url).content.decode()
    current = re.findall(r'<a href="([^"]*)" aria-current="page">', html)
    assert current == [reverse("scanner:analytics")]
