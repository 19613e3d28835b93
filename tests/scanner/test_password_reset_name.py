"""The password-reset email names the organisation, as the invitation
does, not the product: "Jack's Blue Note staff", never "Nightpass Staff"
(nor "Jack&#x27;s" in its plain text)."""

import pytest

from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def test_the_reset_email_names_the_organisation(client, mailoutbox, settings):
    settings.ORGANISATION_NAME = "Jack's Blue Note"
    make_staff(username="alex", email="alex@example.com")

    client.post("/scanner/password-reset/", {"email": "alex@example.com"})

    (email,) = mailoutbox
    html, _ = email.alternatives[0]
    assert email.subject == "Choose a new password for Jack's Blue Note staff"
    assert "your Jack's Blue Note staff account" in email.body
    assert "Jack&#x27;s Blue Note staff" in html
    for part in (email.subject, email.body, html):
        assert "Nightpass" not in part
