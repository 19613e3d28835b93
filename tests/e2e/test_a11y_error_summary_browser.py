"""Every console form that comes back with errors brings its error summary
into focus, so a screen reader reads what to fix and a keyboard user starts
there (console.js did it only on the event form and sign-in)."""

import pytest

from tests.e2e.test_console_browser import sign_in_as_owner
from tests.factories import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_refused_staff_invitation_focuses_what_to_fix(live_server, page):
    make_staff("owner", username="boss")
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in_as_owner(page, live_server.url, "/scanner/staff/invite/")
    page.wait_for_url("**/scanner/staff/invite/")
    page.get_by_label("Email").fill("not an email")
    page.get_by_role("button", name="Send the invitation").click()
    page.wait_for_load_state()

    focused = page.evaluate("document.activeElement.hasAttribute('data-error-summary')")
    assert focused
    assert page.title().startswith("Error: ")
