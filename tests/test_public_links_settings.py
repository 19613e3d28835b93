"""Links in emails and texts, and the address they come from, belong to the
public server: with DEBUG off, one that answers for a public host does not
start while they would point at this computer, and `check --deploy` says so
whatever the hosts. Each case runs in a fresh interpreter."""

import pytest

from tests.test_deploy import compose
from tests.test_settings import PRODUCTION_ENV, _check, _refusal, _settings

WITHOUT_LINKS = {
    k: v
    for k, v in PRODUCTION_ENV.items()
    if k not in ("PUBLIC_BASE_URL", "DEFAULT_FROM_EMAIL")
}
SENDER = {"DEFAULT_FROM_EMAIL": "Blue Note Bar <tickets@bluenote.example>"}
LINKS = {"PUBLIC_BASE_URL": "https://tickets.example.com"}


@pytest.mark.parametrize(
    "links",
    [
        {},  # not set: the local default
        {"PUBLIC_BASE_URL": ""},  # docker compose passes it on empty
        {"PUBLIC_BASE_URL": "http://127.0.0.1:8000"},  # as .env.example had it
        {"PUBLIC_BASE_URL": "http://localhost:8000/"},
        {"PUBLIC_BASE_URL": "http://[::1]:8000"},
        {
            "MARKETING_HOST": "localhost:8000",
            "PURCHASE_HOST": "127.0.0.1:8000",
            "SCANNER_HOST": "localhost:8001",
        },
    ],
)
def test_a_public_server_linking_to_this_computer_does_not_start(links):
    """A tickets text reading http://127.0.0.1:8000/buy/o/... opens nothing
    on the customer's phone."""
    refused = _refusal(**WITHOUT_LINKS, **SENDER, **links)

    assert "Links in emails and texts" in refused
    assert "tickets.example.com" in refused
    assert "PUBLIC_BASE_URL" in refused


@pytest.mark.parametrize(
    "sender",
    [
        {},  # not set: the local default
        {"DEFAULT_FROM_EMAIL": ""},
        {"DEFAULT_FROM_EMAIL": "Tickets <tickets@localhost>"},
        {"DEFAULT_FROM_EMAIL": "tickets@127.0.0.1"},
        {"DEFAULT_FROM_EMAIL": "tickets@nightpass"},
    ],
)
def test_a_public_server_sending_from_this_computer_does_not_start(sender):
    """SendGrid refuses a sender it has not verified: no ticket would go out."""
    refused = _refusal(**WITHOUT_LINKS, **LINKS, **sender)

    assert "DEFAULT_FROM_EMAIL" in refused
    assert "verified" in refused


def test_with_public_links_and_sender_it_starts():
    assert _refusal(**WITHOUT_LINKS, **LINKS, **SENDER) == ""
    values = _settings(
        ["PUBLIC_BASE_URL", "DEFAULT_FROM_EMAIL"],
        **WITHOUT_LINKS,
        PUBLIC_BASE_URL="https://tickets.example.com/",
        **SENDER,
    )
    assert values == {"PUBLIC_BASE_URL": "https://tickets.example.com"} | SENDER


def test_check_deploy_names_links_and_a_sender_no_customer_can_use():
    """Whatever the hosts (any, say): the deploy check still says so."""
    result = _check("--deploy", **(WITHOUT_LINKS | {"ALLOWED_HOSTS": "*"}))
    said = result.stderr + result.stdout

    assert result.returncode != 0
    assert "ticketing.E017" in said and "http://127.0.0.1:8000" in said
    assert "ticketing.E018" in said and "tickets@localhost" in said
    clean = _check(
        "--deploy",
        "--fail-level",
        "WARNING",
        **(WITHOUT_LINKS | {"ALLOWED_HOSTS": "*"} | LINKS | SENDER),
    )
    assert clean.returncode == 0, clean.stderr + clean.stdout


def test_a_server_for_this_computer_only_still_starts_linking_here():
    """A benchmark or a demo on this computer (bench/serve.sh) needs nothing
    more; nor does `make run`."""
    here = {
        "DEBUG": "false",
        "SECRET_KEY": PRODUCTION_ENV["SECRET_KEY"],
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PAYMENT_PROVIDER": "simulated",
    }
    assert _refusal(**here) == ""
    assert _settings(["PUBLIC_BASE_URL"], **here) == {
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000"
    }
    local = _settings(["PUBLIC_BASE_URL", "DEFAULT_FROM_EMAIL"])
    assert local["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"
    assert local["DEFAULT_FROM_EMAIL"].endswith("<tickets@localhost>")


def test_the_local_sender_is_named_after_the_organisation():
    """Not "Tickets": the inbox says who wrote."""
    named = _settings(["DEFAULT_FROM_EMAIL"], ORGANISATION_NAME="Blue Note Bar")
    assert named == {"DEFAULT_FROM_EMAIL": "Blue Note Bar <tickets@localhost>"}


def test_check_deploy_warns_when_customers_have_no_address_to_ask():
    result = _check("--deploy", **(PRODUCTION_ENV | {"SUPPORT_EMAIL": ""}))
    assert result.returncode == 0, result.stderr + result.stdout  # a warning
    assert "ticketing.W007" in result.stderr + result.stdout


def test_docker_compose_passes_links_and_sender_through():
    """Set in the shell (SITE_ADDRESS=... docker compose up) or in .env."""
    environment = compose()["x-app"]["environment"]

    assert environment["PUBLIC_BASE_URL"] == "${PUBLIC_BASE_URL:-}"
    assert environment["DEFAULT_FROM_EMAIL"] == "${DEFAULT_FROM_EMAIL:-}"
