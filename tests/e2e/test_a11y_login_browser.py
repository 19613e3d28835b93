"""A failed staff sign-in is announced: focus moves to what went wrong, as on
the console's other forms, so a screen reader reads it out and a keyboard
user starts from there (WCAG 3.3.1, 4.1.3)."""

import pytest

from tests.factories import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED = "document.activeElement"


def _focused(page) -> dict:
    return page.evaluate(
        f"""() => ({{
            id: {FOCUSED}.id,
            text: {FOCUSED}.textContent.trim(),
            described: ({FOCUSED}.getAttribute("aria-describedby") || "")
                .split(" ").filter(Boolean)
                .map(id => document.getElementById(id).textContent.trim()),
        }})"""
    )


def test_a_wrong_password_moves_focus_to_the_error(live_server, page):
    make_staff("owner", username="boss")
    page.goto(f"{live_server.url}/scanner/login/")
    page.get_by_label("Username or email").fill("boss")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()

    alert = page.get_by_role("alert")
    assert "not right" in alert.inner_text()
    focused = _focused(page)
    assert focused["id"] == "login-error"
    assert "not right" in focused["text"]
    ring = page.locator("#login-error").evaluate(
        "node => getComputedStyle(node).outlineStyle"
    )
    assert ring == "solid"  # seen where focus went
    # Tabbing on from the message reaches the username, which names the error.
    page.keyboard.press("Tab")
    focused = _focused(page)
    assert focused["id"] == "id_username"
    assert any("not right" in text for text in focused["described"])


def test_an_empty_field_takes_the_focus_and_says_what_is_missing(live_server, page):
    page.goto(f"{live_server.url}/scanner/login/")
    page.get_by_label("Username or email").fill("boss")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()

    focused = _focused(page)
    assert focused["id"] == "id_password"
    assert focused["described"] == ["This field is required."]
    assert page.locator("#id_password").get_attribute("aria-invalid") == "true"
