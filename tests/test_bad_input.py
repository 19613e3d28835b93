"""Bad input gets a clear 400 or 404, never a 500.

Postgres refuses text longer than its column and any NUL character; Python's
json refuses JSON nested past its recursion limit with a RecursionError. Each
test here fails without its fix on SQLite too (run it on Postgres as well,
see CONTRIBUTING.md), since the 404s are decided before any query and the
400s before any write.
"""

import json

import pytest
from django.test import Client
from django.urls import Resolver404, resolve

from core.exceptions import InvalidRequest
from core.models import Order, ScanLog, WaitlistEntry
from core.models.orders import new_access_token
from core.services.checkout import clean_contact
from tests.factories import TicketTypeFactory, make_door_open_event, make_paid_order

pytestmark = pytest.mark.django_db

DOMAIN = "@example.com"


def address(length: int) -> str:
    """A valid email address exactly `length` characters long."""
    local = (("a" * 60 + ".") * 5)[: length - len(DOMAIN)]
    if local.endswith("."):
        local = local[:-1] + "b"
    return local + DOMAIN


# --- Tokens and names in paths: junk is a 404 before any query ---------------

NUL_PATHS = [
    "/buy/o/ab%00cd/",
    "/buy/o/ab%00cd/pay/",
    "/buy/o/ab%00cd/calendar.ics",
    "/buy/o/ab%00cd/done/",
    "/buy/o/ab%00cd/cancel/",
    "/buy/o/ab%00cd/test-payment/",
    "/buy/t/ab%00cd/",
    "/buy/w/ab%00cd/",
    "/buy/w/ab%00cd/leave/",
    "/scanner/invite/ab%00cd/",
    "/functions/v1/event-availability/a%00b",
]


@pytest.mark.parametrize("url", NUL_PATHS)
def test_a_nul_in_a_token_or_event_name_is_a_404(client, url):
    client.raise_request_exception = False

    assert client.get(url).status_code == 404
    with pytest.raises(Resolver404):
        resolve(url.replace("%00", "\x00"))


@pytest.mark.parametrize("junk", ["ab.cd", "ab%20cd", "ab~cd", "%C3%A9t%C3%A9"])
def test_tokens_outside_their_alphabet_are_not_routed(junk):
    with pytest.raises(Resolver404):
        resolve(f"/buy/o/{junk}/".replace("%20", " ").replace("%C3%A9", "é"))


def test_every_token_we_make_is_routed():
    for _ in range(200):
        token = new_access_token()
        assert resolve(f"/buy/o/{token}/").kwargs == {"token": token}
        assert resolve(f"/scanner/invite/{token}/").kwargs == {"token": token}


def test_event_names_with_spaces_and_accents_still_resolve():
    match = resolve("/functions/v1/event-availability/Noche de Jazz — García's")
    assert match.kwargs == {"name": "Noche de Jazz — García's"}


# --- The buy form's contact details --------------------------------------------


def _buy(client, event, **fields):
    tt = TicketTypeFactory(event=event)
    data = {"name": "Ana", "email": "ana@example.com", "phone": "", f"qty_{tt.id}": "1"}
    client.raise_request_exception = False
    return client.post(f"/buy/events/{event.slug}/", data | fields)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "N" * 201}, "name"),
        ({"name": "Ana\x00"}, "name"),
        ({"email": address(255)}, "email"),
        ({"email": "ana\x00@example.com"}, "email"),
        ({"phone": "+34 612\x00345 678"}, "phone"),
    ],
)
def test_the_buy_form_refuses_what_cannot_be_stored_on_its_field(
    client, event, fields, field
):
    response = _buy(client, event, **fields)

    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="{field}-error"' in html
    assert not Order.objects.exists()


def test_the_buy_form_takes_the_longest_name_and_email_that_fit(client, event):
    assert len(address(254)) == 254
    response = _buy(client, event, name="N" * 200, email=address(254))

    assert response.status_code == 303
    order = Order.objects.get()
    assert len(order.customer_name) == 200 and len(order.customer_email) == 254


def test_the_long_name_message_says_how_long(client, event):
    html = _buy(client, event, name="N" * 201).content.decode()
    assert "200 characters" in html


@pytest.mark.parametrize(
    ("name", "email", "phone", "code"),
    [
        ("N" * 201, "ana@example.com", "", "invalid_name"),
        ("A\x00na", "ana@example.com", "", "invalid_name"),
        ("Ana", address(255), "", "invalid_email"),
        ("Ana", "an\x00a@example.com", "", "invalid_email"),
        ("Ana", "ana@example.com", "+3461234\x005678", "invalid_phone"),
    ],
)
def test_clean_contact_refuses_with_the_fields_code(name, email, phone, code):
    with pytest.raises(InvalidRequest) as refused:
        clean_contact(name, email, phone)
    assert refused.value.code == code


def test_a_too_long_email_on_the_waitlist_is_a_400(client, event):
    tt = TicketTypeFactory(event=event, capacity=1)
    make_paid_order(tt, 1)
    client.raise_request_exception = False

    response = client.post(
        f"/buy/events/{event.slug}/waitlist/",
        {"name": "Ana", "email": address(255), "quantity": "1", "ticket_type_id": ""},
    )

    assert response.status_code == 400
    assert not WaitlistEntry.objects.exists()


# --- The door's API ---------------------------------------------------------------


@pytest.fixture
def door_client(door):
    client = Client(raise_request_exception=False)
    client.force_login(door)
    return client


@pytest.fixture
def guest(db):
    event = make_door_open_event(name="Door Night")
    tt = TicketTypeFactory(event=event, name="General", capacity=10)
    return make_paid_order(tt, name="Ana García", email="ana@example.com").tickets.get()


@pytest.mark.parametrize("since", ["2026-02-30T10:00:00Z", "2026-01-01T25:00:00Z"])
def test_a_since_shaped_like_a_time_but_none_is_invalid_since(
    door_client, guest, since
):
    url = f"/api/v1/door/{guest.event_id}/tickets"

    response = door_client.get(url, {"since": since})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_since"


def test_a_nul_in_the_guest_search_counts_as_a_space(door_client, guest):
    make_paid_order(guest.ticket_type, name="Zoe Park", email="zoe@example.org")
    url = f"/api/v1/door/{guest.event_id}/guests"

    response = door_client.get(url, {"q": "\x00garcía\x00"})

    assert response.status_code == 200
    assert [g["guest_name"] for g in response.json()["guests"]] == ["Ana García"]


def _post(client, url, body: str):
    return client.post(url, body, content_type="application/json")


def test_a_deeply_nested_scan_body_is_a_400_on_the_fast_path(door_client, guest):
    response = _post(door_client, "/api/v1/scan", "[" * 100_000)

    assert response.status_code == 400
    assert response.json() == {
        "code": "parse_error",
        "message": "JSON parse error - nested too deeply.",
    }


def test_no_depth_of_scanned_code_is_a_500(door_client, guest):
    """A `code` nested just short of the parser's limit parses, then is too
    deep for the serializer's JSONField check, which runs deeper in the stack."""
    event = str(guest.event_id)
    answers = set()
    for depth in range(850, 1000):
        code = "[" * depth + "]" * depth
        body = f'{{"event": "{event}", "code": {code}}}'
        answers.add(_post(door_client, "/api/v1/scan", body).status_code)
    assert answers <= {200, 400}
    assert not ScanLog.objects.filter(result="ok").exists()


def test_the_json_parser_refuses_deep_nesting_as_a_parse_error():
    from io import BytesIO

    from rest_framework.exceptions import ParseError

    from core.api import JSONParser

    with pytest.raises(ParseError, match="nested too deeply"):
        JSONParser().parse(BytesIO(b"[" * 100_000))
    assert JSONParser().parse(BytesIO(b'{"a": [1]}')) == {"a": [1]}


@pytest.mark.parametrize(
    "url", ["/api/v1/scan?via=drf", "/api/v1/scan/undo", "/api/v1/scan/offline"]
)
def test_a_deeply_nested_body_is_a_400_on_every_drf_endpoint(door_client, guest, url):
    response = _post(door_client, url, "[" * 100_000)

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_a_plain_scan_body_still_parses(door_client, guest):
    body = json.dumps({"event": str(guest.event_id), "code": guest.qr_payload})
    assert _post(door_client, "/api/v1/scan", body).json()["code"] == "ok"
