import io
import json
import re
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from core.models import ScanLog, Ticket
from core.services.checkin import redeem_ticket
from core.services.events import set_event_active
from core.services.scanner_devices import (
    register_scanner_device,
    revoke_scanner_device,
)
from scanner import api
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    UserFactory,
    make_door_open_event,
    make_paid_order,
    make_staff,
)

pytestmark = pytest.mark.django_db
SCAN = "/api/v1/scan"


@pytest.fixture
def tonight(db):
    return make_door_open_event(name="Door Night")


@pytest.fixture
def general(tonight):
    return TicketTypeFactory(event=tonight, name="General", capacity=40)


@pytest.fixture
def ticket(general):
    order = make_paid_order(general, name="Ana García", email="ana@example.com")
    return order.tickets.get()


def post(client, url, data, **headers):
    return client.post(
        url, data=json.dumps(data), content_type="application/json", **headers
    )


@pytest.fixture
def door_client(door):
    client = Client()
    client.force_login(door)
    return client


def test_the_scan_url_is_the_contracts(ticket):
    assert reverse("api_scan") == SCAN


# --- Who may scan -------------------------------------------------------------


def test_anonymous_scans_are_refused_with_401_and_change_nothing(ticket):
    response = post(Client(), SCAN, {"event": str(ticket.event_id), "code": "x"})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not ScanLog.objects.exists()


def test_signed_in_non_staff_are_refused_with_403(ticket):
    client = Client()
    client.force_login(UserFactory())

    response = post(
        client, SCAN, {"event": str(ticket.event_id), "code": ticket.qr_payload}
    )

    assert response.status_code == 403
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.ISSUED


def test_door_staff_on_another_events_door_are_refused(ticket):
    staff = make_staff("door", username="elsewhere")
    staff.staff_profile.events.add(EventFactory())
    client = Client()
    client.force_login(staff)
    event_id = ticket.event_id

    scan = post(client, SCAN, {"event": str(event_id), "code": ticket.qr_payload})
    snapshot = client.get(f"/api/v1/door/{event_id}/snapshot")
    states = client.get(f"/api/v1/door/{event_id}/tickets")
    page = client.get(reverse("scanner:door_event", args=[event_id]))

    assert scan.status_code == snapshot.status_code == states.status_code == 403
    assert scan.json()["code"] == "forbidden"
    assert page.status_code == 403
    assert not ScanLog.objects.exists()


@pytest.mark.parametrize("role", ["door", "manager", "owner"])
def test_every_staff_role_can_scan(ticket, role):
    client = Client()
    client.force_login(make_staff(role, username=f"{role}-x"))

    response = post(
        client,
        SCAN,
        {"event": str(ticket.event_id), "code": ticket.qr_payload, "device": "D1"},
    )

    assert response.status_code == 200
    assert response.json()["code"] == "ok"


def test_session_scans_need_the_csrf_token(ticket, door):
    client = Client(enforce_csrf_checks=True)
    client.force_login(door)
    page = client.get(reverse("scanner:door_event", args=[ticket.event_id]))
    token = page.context["csrf_token"]
    body = {"event": str(ticket.event_id), "code": ticket.qr_payload}

    refused = post(client, SCAN, body)
    accepted = post(client, SCAN, body, HTTP_X_CSRFTOKEN=str(token))

    assert refused.status_code == 403
    assert accepted.status_code == 200 and accepted.json()["code"] == "ok"


def test_a_phone_signed_in_with_its_csrf_token_uploads_and_undoes(ticket, door):
    """The door page's session: its CSRF check has DRF read the body first."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(door)
    page = client.get(reverse("scanner:door_event", args=[ticket.event_id]))
    token = str(page.context["csrf_token"])
    at = (timezone.now() - timedelta(minutes=2)).isoformat()
    upload = {
        "event": str(ticket.event_id),
        "device": "Door A",
        "admits": [{"code": ticket.qr_payload, "nonce": "a1", "at": at}],
    }

    uploaded = post(client, "/api/v1/scan/offline", upload, HTTP_X_CSRFTOKEN=token)
    undo = {"event": str(ticket.event_id), "ticket": ticket.code, "reason": "Oops"}
    undone = post(client, "/api/v1/scan/undo", undo, HTTP_X_CSRFTOKEN=token)

    assert uploaded.status_code == 200 and uploaded.json()["code"] == "ok"
    assert undone.status_code == 200, undone.content
    too_big = {**undo, "reason": "x" * 200_000}
    refused = post(client, "/api/v1/scan/undo", too_big, HTTP_X_CSRFTOKEN=token)
    assert refused.status_code == 413 and refused.json()["code"] == "too_large"


def test_a_phone_signed_in_as_door_staff_scans_without_reading_its_session_or_role_again(
    ticket, door, general
):
    """A door phone signs every scan with its session: the session comes from
    the cache, the user with its role in one read; whether they may scan the
    event, with the event, is kept from their last scan (core.queries.kept).
    Then the scan's own statements (one on Postgres)."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    door.staff_profile.events.add(ticket.event)
    client = Client()
    client.force_login(door)
    body = {"event": str(ticket.event_id), "code": ticket.qr_payload}
    with CaptureQueriesContext(connection) as first_scan:
        post(client, SCAN, body)  # an admit: this is the repeat
    second = make_paid_order(general).tickets.get()

    with CaptureQueriesContext(connection) as queries:
        response = post(client, SCAN, {**body, "code": second.qr_payload})

    assert response.json()["code"] == "ok"
    assert any("core_staffprofile_events" in q["sql"] for q in first_scan)
    # (Savepoints aside: the test runs in a transaction of its own.)
    statements = [
        q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]
    ]
    # With Redis the session is the cache's; alone, its row is read.
    cached = settings.SESSION_ENGINE.endswith("cached_db")
    session_reads = [sql for sql in statements if "django_session" in sql]
    assert len(session_reads) == (0 if cached else 1)
    reads = [sql for sql in statements if "django_session" not in sql]
    assert "auth_user" in reads[0] and "core_staffprofile" in reads[0]
    assert not any("core_staffprofile_events" in sql for sql in reads)
    if connection.vendor == "postgresql":
        assert len(reads) == 2


def _scan_as(client, ticket) -> int:
    body = {"event": str(ticket.event_id), "code": ticket.qr_payload}
    return post(client, SCAN, body).status_code


def test_door_staff_taken_off_the_event_are_refused_at_their_next_scan(
    ticket, door, general, owner, django_capture_on_commit_callbacks
):
    from core.services.staff import update_staff_member

    elsewhere = make_door_open_event(name="Elsewhere")
    door.staff_profile.events.add(ticket.event)
    client = Client()
    client.force_login(door)
    assert _scan_as(client, ticket) == 200
    with django_capture_on_commit_callbacks(execute=True):
        update_staff_member(
            actor=owner, user_id=door.pk, role="door", event_ids=[elsewhere.pk]
        )

    second = make_paid_order(general).tickets.get()
    assert _scan_as(client, second) == 403
    assert Ticket.objects.get(pk=second.pk).status == Ticket.Status.ISSUED


def pin_kept_clock(monkeypatch, clock: list[float]) -> None:
    """core.queries.kept reads `clock[0]` as its monotonic time. Its change
    marker is stamped with this run's time, fixed: the marker lives in the
    shared cache (Redis on CI) past the test, and a stamp an earlier run left
    there must not read as no change."""
    from core.queries import kept

    stamp = time.time_ns()
    monkeypatch.setattr(
        kept, "time", SimpleNamespace(monotonic=lambda: clock[0], time_ns=lambda: stamp)
    )


def test_door_staff_taken_off_the_event_in_another_process_stop_within_a_second(
    ticket, door, general, owner, monkeypatch, django_capture_on_commit_callbacks
):
    """The change is announced through the shared cache after commit; this
    process reads the marker at most every CHECK_SECONDS."""
    from core.queries import kept
    from core.queries.staff import door_access
    from core.services.staff import update_staff_member

    elsewhere = make_door_open_event(name="Elsewhere")
    door.staff_profile.events.add(ticket.event)
    client = Client()
    client.force_login(door)
    clock = [3000.0]
    monkeypatch.setattr(door_access, "_marker_seen", (0.0, None))
    pin_kept_clock(monkeypatch, clock)
    assert _scan_as(client, ticket) == 200

    # Changed in another process: this one's memory is not touched.
    monkeypatch.setattr(door_access, "forget_all", lambda: None)
    with django_capture_on_commit_callbacks(execute=True):
        update_staff_member(
            actor=owner, user_id=door.pk, role="door", event_ids=[elsewhere.pk]
        )
    second, third = make_paid_order(general, 2).tickets.all()
    clock[0] += kept.CHECK_SECONDS / 2
    kept_answer = _scan_as(client, second)
    clock[0] += kept.CHECK_SECONDS
    stopped = _scan_as(client, third)

    assert (kept_answer, stopped) == (200, 403)
    assert Ticket.objects.get(pk=third.pk).status == Ticket.Status.ISSUED


def test_a_door_staff_member_deactivated_is_refused_at_once(
    ticket, door, owner, general
):
    """Who is signed in is read on every scan, never kept."""
    from core.services.staff import set_staff_active

    client = Client()
    client.force_login(door)
    assert _scan_as(client, ticket) == 200
    set_staff_active(actor=owner, user_id=door.pk, active=False)

    second = make_paid_order(general).tickets.get()
    assert _scan_as(client, second) in (401, 403)
    assert Ticket.objects.get(pk=second.pk).status == Ticket.Status.ISSUED


def test_a_device_token_scans_under_the_devices_name(ticket):
    device, token = register_scanner_device(label="Handheld 4")

    response = post(
        Client(),
        SCAN,
        {"event": str(ticket.event_id), "code": ticket.qr_payload, "device": "fake"},
        HTTP_AUTHORIZATION=f"Device {token}",
    )

    assert response.status_code == 200 and response.json()["code"] == "ok"
    log = ScanLog.objects.get()
    assert log.device_label == "Handheld 4" and log.staff is None
    assert device.token_digest != token


def test_a_device_bound_to_another_event_or_revoked_cannot_scan(ticket):
    _bound, bound_token = register_scanner_device(label="Bound", event=EventFactory())
    revoked, revoked_token = register_scanner_device(label="Old")
    revoke_scanner_device(device_id=revoked.pk)
    body = {"event": str(ticket.event_id), "code": ticket.qr_payload}

    wrong = post(Client(), SCAN, body, HTTP_AUTHORIZATION=f"Device {bound_token}")
    gone = post(Client(), SCAN, body, HTTP_AUTHORIZATION=f"Device {revoked_token}")
    junk = post(Client(), SCAN, body, HTTP_AUTHORIZATION="Device \u00e9\u00e9")

    assert wrong.status_code == 403
    assert gone.status_code == 401 and junk.status_code == 401
    assert not ScanLog.objects.exists()


def test_api_views_declare_their_roles_for_the_permission_matrix():
    from django.urls import get_resolver

    from scanner import api_urls

    for pattern in api_urls.urlpatterns:
        callback = (
            get_resolver()
            .resolve(
                "/"
                + str(pattern.pattern).replace(
                    "<uuid:event_id>", "0" * 8 + "-0000-0000-0000-" + "0" * 12
                )
            )
            .func
        )
        assert set(callback.allowed_roles) == {"owner", "manager", "door"}


# --- What a scan answers --------------------------------------------------------


def test_a_scan_answers_code_message_and_the_guest(door_client, ticket):
    response = post(
        door_client,
        SCAN,
        {
            "event": str(ticket.event_id),
            "code": ticket.qr_payload,
            "nonce": "abc-1",
            "device": "Door 2",
            "method": "camera",
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert body["code"] == "ok" and body["verdict"] == "admit" and body["admitted"]
    assert body["ticket"]["guest_name"] == "Ana García"
    assert body["ticket"]["ticket_type"] == "General"
    assert body["message"] == "Admit Ana García · General"


def test_a_typed_code_that_matches_no_ticket_is_logged_as_the_door_shows_it(
    door_client, ticket
):
    """The door shows an amber "No ticket with code ..."; the log, its feed and
    the CSV say so too, still as `invalid` (what analytics counts)."""
    event_id = str(ticket.event_id)

    typed = post(
        door_client,
        SCAN,
        {"event": event_id, "code": "ABCDEFGHIJ", "method": "manual", "nonce": "t1"},
    ).json()
    camera = post(
        door_client,
        SCAN,
        {"event": event_id, "code": "ABCDEFGHIJ", "method": "camera", "nonce": "c1"},
    ).json()
    forged = post(
        door_client,
        SCAN,
        {"event": event_id, "code": ticket.qr_payload[:-1] + "#", "method": "keyboard"},
    ).json()

    assert typed["code"] == camera["code"] == forged["code"] == "invalid"
    assert typed["message"] == "No ticket with code ABCDEFGHIJ."
    assert camera["message"] == forged["message"] == "Not a valid ticket."
    log = ScanLog.objects.get(nonce="t1")
    assert log.result == "invalid"
    assert log.detail["message"] == "No ticket with code ABCDEFGHIJ."
    recent = door_client.get(f"/api/v1/door/{event_id}/snapshot").json()["recent"]
    assert "No ticket with code ABCDEFGHIJ." in [scan["message"] for scan in recent]


def test_typed_text_not_shaped_like_a_code_is_listed_as_the_door_showed_it(
    door_client, ticket
):
    """Whatever staff type, "Last scans" at every door says what the verdict
    said ("No ticket with code ...", amber), long text cut short; scanned
    garbage stays "Not a valid ticket."."""
    event_id = str(ticket.event_id)
    sent = {
        "words": ("hello world", "manual"),
        "long": ("Z" * 5000, "manual"),
        "markup": ('<img src=x onerror="alert(1)">', "manual"),
        "camera": ("hello world", "camera"),
    }
    answers = {
        name: post(
            door_client,
            SCAN,
            {"event": event_id, "code": code, "method": method, "nonce": name},
        ).json()
        for name, (code, method) in sent.items()
    }

    assert answers["words"]["message"] == "No ticket with code hello world."
    assert answers["long"]["message"] == f"No ticket with code {'Z' * 40}\u2026."
    assert answers["markup"]["message"] == (
        'No ticket with code <img src=x onerror="alert(1)">.'
    )
    assert answers["camera"]["message"] == "Not a valid ticket."
    assert {answer["code"] for answer in answers.values()} == {"invalid"}
    recent = door_client.get(f"/api/v1/door/{event_id}/snapshot").json()["recent"]
    listed = {scan["id"]: scan["message"] for scan in recent}
    for name, answer in answers.items():
        assert listed[answer["scan_id"]] == answer["message"], name
        assert ScanLog.objects.get(nonce=name).detail["message"] == answer["message"]


def test_a_second_scan_answers_already_used_with_when_where_and_who(
    door_client, ticket, door
):
    first = {"event": str(ticket.event_id), "code": ticket.qr_payload}
    post(door_client, SCAN, {**first, "device": "Door 2"})

    body = post(door_client, SCAN, {**first, "device": "Door 1"}).json()

    assert body["code"] == "already_used" and body["verdict"] == "reject"
    assert body["used_device"] == "Door 2" and body["used_by"] == door.username
    assert body["used_at"] and body["used_at_local"]
    assert "at Door 2" in body["message"]


def test_a_retry_with_the_same_nonce_gets_the_same_body(door_client, ticket):
    data = {"event": str(ticket.event_id), "code": ticket.qr_payload, "nonce": "n1"}

    first = post(door_client, SCAN, data).json()
    retry = post(door_client, SCAN, data).json()

    assert retry.pop("replayed") is True and first.pop("replayed") is False
    assert retry == first
    assert ScanLog.objects.count() == 1


def test_another_device_sending_a_nonce_again_is_refused_not_told_admit(ticket):
    _a, token_a = register_scanner_device(label="Door A", event=ticket.event)
    _b, token_b = register_scanner_device(label="Door B", event=ticket.event)
    data = {"event": str(ticket.event_id), "code": ticket.qr_payload, "nonce": "s1"}

    first = post(Client(), SCAN, data, HTTP_AUTHORIZATION=f"Device {token_a}")
    second = post(Client(), SCAN, data, HTTP_AUTHORIZATION=f"Device {token_b}")

    assert first.json()["code"] == "ok"
    assert second.status_code == 409
    assert second.json()["code"] == "nonce_reused" and "admitted" not in second.json()
    assert ScanLog.objects.count() == 1


@pytest.mark.parametrize(
    "code",
    [
        "x" * 100_000,  # far past any QR code, within the door's body limit
        "\u0000\u0001 binary \udfff",
        "T1.ABCDEF12.ABCDEFGH." + "A" * 103,
        "",
        12,
        None,
        ["T1"],
        {"code": "T1"},
    ],
)
def test_garbage_codes_get_a_clear_invalid_and_a_log_row(door_client, ticket, code):
    response = post(door_client, SCAN, {"event": str(ticket.event_id), "code": code})

    assert response.status_code == 200
    body = response.json()
    assert body["code"] == "invalid" and body["message"] == "Not a valid ticket."
    assert ScanLog.objects.filter(result="invalid").count() == 1


@pytest.mark.parametrize("query", ["", "?format=json"], ids=["fast path", "DRF"])
def test_a_scan_body_past_the_door_limit_is_a_413_and_not_logged(
    door_client, ticket, query
):
    big = "x" * (api.MAX_DOOR_BODY + 1)
    data = {"event": str(ticket.event_id), "code": big}

    response = post(door_client, SCAN + query, data)

    assert response.status_code == 413
    assert response.json()["code"] == "too_large" and response.json()["message"]
    assert not ScanLog.objects.exists()


def test_a_scan_body_longer_than_its_length_says_is_a_413(ticket):
    """ASGI hands over the whole body whatever Content-Length says: the fast
    path reads no more than the limit."""
    _device, token = register_scanner_device(label="Door A")
    body = json.dumps(
        {"event": str(ticket.event_id), "code": "x" * (api.MAX_DOOR_BODY + 1)}
    ).encode()
    request = ASGIRequest(
        {
            "type": "http",
            "method": "POST",
            "path": SCAN,
            "query_string": b"",
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"100"),
                (b"authorization", f"Device {token}".encode()),
            ],
        },
        io.BytesIO(body),
    )

    response = api.scan(request)

    assert response.status_code == 413
    assert json.loads(response.content)["code"] == "too_large"
    assert not ScanLog.objects.exists()


def test_a_drf_body_past_the_limit_is_refused_by_its_length_unread(
    door_client, ticket, monkeypatch
):
    def unread(request):
        raise AssertionError("the body was read")

    monkeypatch.setattr(HttpRequest, "body", property(unread))
    big = "x" * (api.MAX_DOOR_BODY + 1)

    response = post(door_client, SCAN + "?format=json", {"code": big})

    assert response.status_code == 413


def test_an_undo_body_past_the_door_limit_is_a_413(door_client, ticket):
    response = post(
        door_client,
        "/api/v1/scan/undo",
        {
            "event": str(ticket.event_id),
            "ticket": ticket.code,
            "reason": "x" * (api.MAX_DOOR_BODY + 1),
        },
    )

    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_an_offline_upload_of_its_most_admits_fits_and_more_is_a_413(
    door_client, ticket
):
    admit = {
        "code": ticket.qr_payload + " " * 40,  # trailing blanks from a scanner
        "nonce": "n" * 64,
        "at": "2026-12-31T23:59:59.999999+00:00",
    }
    admits = [admit] * api.MAX_OFFLINE_BATCH
    data = {"event": str(ticket.event_id), "device": "D" * 200, "admits": admits}
    assert len(json.dumps(data)) < api.MAX_OFFLINE_BODY // 2

    fits = post(door_client, "/api/v1/scan/offline", {**data, "admits": admits[:1]})
    big = {**data, "admits": [{**admit, "code": "x" * 3_000}] * 500}
    too_big = post(door_client, "/api/v1/scan/offline", big)

    assert fits.status_code == 200
    assert too_big.status_code == 413 and too_big.json()["code"] == "too_large"
    assert ScanLog.objects.count() == 1


def test_a_binary_body_is_a_clear_400(door_client, ticket):
    response = door_client.post(
        SCAN, data=b"\x00\xff\xfe garbage", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize(
    "body",
    [
        {"code": "x"},
        {"event": "not-a-uuid", "code": "x"},
        {"event": "00000000-0000-0000-0000-000000000000", "code": "x"},
    ],
)
def test_a_scan_without_a_real_event_is_refused_clearly(door_client, body):
    response = post(door_client, SCAN, body)

    assert response.status_code in (400, 404)
    assert response.json()["code"] in ("invalid", "not_found")
    assert response.json()["message"]
    assert not ScanLog.objects.exists()


def test_a_malformed_nonce_is_a_400(door_client, ticket):
    response = post(
        door_client,
        SCAN,
        {"event": str(ticket.event_id), "code": ticket.qr_payload, "nonce": "a b"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_nonce"


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"nonce": None},
        {"nonce": ""},
        {"nonce": "n-1", "device": "Door 2", "method": "camera"},
        {"nonce": " n1 "},
        {"nonce": "n" * 64},
        {"nonce": "n" * 65},
        {"nonce": 12},
        {"nonce": "a\u0000"},
        {"nonce": "a\ud800"},
        {"device": None},
        {"device": "  Door  "},
        {"device": "d" * 201},
        {"device": "D\t2"},
        {"method": None},
        {"method": "m" * 21},
        {"method": True},
        {"code": None},
        {"code": 1e999},
        {"code": ["T1"]},
        {"event": 1},
        {"event": True},
        {"event": "{00000000-0000-0000-0000-000000000001}"},
        {"event": " 00000000-0000-0000-0000-000000000001"},
        {"event": None},
    ],
)
def test_the_scan_fast_path_reads_a_body_as_the_serializer_does(extra):
    """What the fast path accepts, it reads exactly as ScanApi's serializer."""
    from scanner.api import ScanApi, _plain_scan_fields

    data = {"event": "00000000-0000-0000-0000-000000000001", "code": "T1", **extra}
    serializer = ScanApi.InputSerializer(data=data)

    fields = _plain_scan_fields(data)

    if fields is not None:
        assert serializer.is_valid() and fields == dict(serializer.validated_data)


@pytest.mark.parametrize(
    "data",
    [
        {"code": "ok", "message": "Admit Zoë · VIP", "admitted": True, "n": 1.5},
        {"message": "line\u2028para\u2029end", "ticket": None, "info": {"a": []}},
        {"message": gettext_lazy("Not a valid ticket."), "at": timezone.now()},
    ],
)
def test_the_scan_fast_path_renders_as_drf_does(data):
    """The scan's body is the bytes DRF's JSONRenderer would have made."""
    from rest_framework.renderers import JSONRenderer

    from scanner.api import _render_json

    assert _render_json(data) == JSONRenderer().render(data)


@pytest.mark.parametrize(
    "text",
    ['{"code": "T1", "n": [1, 2.5, null]}', "\ufeff{}", '{"n": NaN}', "{", ""],
)
def test_the_scan_fast_path_parses_as_json_loads_does(text):
    from rest_framework.utils.json import strict_constant

    from scanner.api import _parse_json

    try:
        expected = json.loads(text, parse_constant=strict_constant)
    except ValueError as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            _parse_json(text)
    else:
        assert _parse_json(text) == expected


def test_other_shapes_of_scan_request_get_the_answers_they_always_had(ticket):
    _device, token = register_scanner_device(label="Handheld 5")
    auth = {"HTTP_AUTHORIZATION": f"Device {token}"}
    body = {"event": str(ticket.event_id), "code": ticket.qr_payload}

    get = Client().get(SCAN, **auth)
    form = Client().post(SCAN, {}, **auth)
    text = Client().post(SCAN, json.dumps(body), content_type="text/plain", **auth)
    html = post(Client(), SCAN, body, HTTP_ACCEPT="text/html", **auth)
    anonymous = post(Client(), SCAN, body)
    bad_token = post(Client(), SCAN, body, HTTP_AUTHORIZATION="Device nope")

    assert get.status_code == 405 and get.json()["code"] == "method_not_allowed"
    assert form.status_code == 400 and form.json()["errors"]["event"]
    assert text.status_code == 415
    assert html.status_code == 406
    assert anonymous["WWW-Authenticate"] == bad_token["WWW-Authenticate"]
    assert bad_token.json() == {
        "code": "authentication_failed",
        "message": "That device token is not valid or was revoked.",
    }
    assert all(r["Allow"] == "POST, OPTIONS" for r in (get, anonymous, bad_token))
    assert not ScanLog.objects.exists()


# --- Undo, offline upload -----------------------------------------------------


def test_undo_needs_a_reason_and_then_puts_the_ticket_back(door_client, ticket):
    post(door_client, SCAN, {"event": str(ticket.event_id), "code": ticket.code})
    url = "/api/v1/scan/undo"
    base = {"event": str(ticket.event_id), "ticket": ticket.code}

    missing = post(door_client, url, {**base, "reason": "   "})
    done = post(door_client, url, {**base, "reason": "wrong person"})
    again = post(door_client, url, {**base, "reason": "wrong person"})

    assert missing.status_code == 400
    assert done.status_code == 200 and done.json()["code"] == "undone"
    assert again.status_code == 409 and again.json()["code"] == "not_admitted"
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.ISSUED


def test_offline_uploads_report_conflicts(door_client, ticket):
    url = "/api/v1/scan/offline"
    at = (timezone.now() - timedelta(minutes=2)).isoformat()
    phone_a = {
        "event": str(ticket.event_id),
        "device": "Door A",
        "admits": [{"code": ticket.qr_payload, "nonce": "a1", "at": at}],
    }
    phone_b = {
        "event": str(ticket.event_id),
        "device": "Door B",
        "admits": [{"code": ticket.qr_payload, "nonce": "b1", "at": at}],
    }

    first = post(door_client, url, phone_a).json()
    second = post(door_client, url, phone_b).json()

    assert first["code"] == "ok" and first["results"][0]["code"] == "ok"
    assert second["code"] == "conflicts"
    assert second["results"][0]["code"] == "offline_conflict"
    assert ScanLog.objects.filter(offline=True).count() == 2


def test_an_offline_admit_the_server_cannot_record_is_answered_with_the_rest(
    door_client, ticket, general
):
    """A 409 for the whole upload left the phone resending it for ever, and
    the admits after the bad one were never recorded."""
    other = make_paid_order(general, name="Ben").tickets.get()
    # Sent online with a trailing newline; the answer never reached the phone.
    redeem_ticket(event=ticket.event, text=ticket.qr_payload + "\n", nonce="n1")
    at = timezone.now().isoformat()
    upload = {
        "event": str(ticket.event_id),
        "device": "Door A",
        "admits": [
            {"code": ticket.qr_payload, "nonce": "n1", "at": at},
            {"code": other.qr_payload, "nonce": "n2", "at": at},
        ],
    }

    response = post(door_client, "/api/v1/scan/offline", upload)
    again = post(door_client, "/api/v1/scan/offline", upload)

    assert response.status_code == 200
    body = response.json()
    assert body["code"] == "conflicts"
    reused, admitted = body["results"]
    assert (reused["nonce"], reused["code"]) == ("n1", "nonce_reused")
    assert reused["verdict"] == "attention" and reused["scan_id"] is None
    assert (admitted["nonce"], admitted["code"]) == ("n2", "ok")
    assert Ticket.objects.get(pk=other.pk).status == Ticket.Status.USED
    assert again.status_code == 200
    assert [r["code"] for r in again.json()["results"]] == ["nonce_reused", "ok"]


@pytest.mark.parametrize(
    "bad",
    [None, "", "x" * 65, "x" * 5000, " a1", 7, ["a"], {"id": "a"}, "missing"],
)
def test_an_offline_admit_without_a_usable_scan_id_is_answered_with_the_rest(
    door_client, ticket, general, bad
):
    """A 400 for the whole upload: the phone took it as refused for good and
    kept every admit in it, the good ones too."""
    other = make_paid_order(general, name="Ben").tickets.get()
    at = timezone.now().isoformat()
    bad_admit = {"code": ticket.qr_payload, "at": at}
    if bad != "missing":
        bad_admit["nonce"] = bad
    upload = {
        "event": str(ticket.event_id),
        "device": "Door A",
        "admits": [
            {"code": other.qr_payload, "nonce": "good-1", "at": at},
            bad_admit,
        ],
    }

    response = post(door_client, "/api/v1/scan/offline", upload)

    assert response.status_code == 200
    body = response.json()
    assert body["code"] == "conflicts"
    recorded, not_recorded = body["results"]
    assert (recorded["nonce"], recorded["code"]) == ("good-1", "ok")
    assert Ticket.objects.get(pk=other.pk).status == Ticket.Status.USED
    # Its scan id as sent, so the phone forgets it (by index when there is none).
    assert not_recorded["nonce"] == (None if bad == "missing" else bad)
    assert not_recorded["code"] == "invalid_nonce"
    assert not_recorded["verdict"] == "attention"
    assert not_recorded["scan_id"] is None
    assert not_recorded["message"].startswith("Not recorded by the server")
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.ISSUED
    assert ScanLog.objects.count() == 1


def test_offline_uploads_validate_every_item(door_client, ticket):
    response = post(
        door_client,
        "/api/v1/scan/offline",
        {"event": str(ticket.event_id), "admits": ["not an admit"]},
    )

    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not ScanLog.objects.exists()


@pytest.mark.parametrize("at", ["yesterday", "2026-02-30T10:00:00Z", None, 5, ""])
def test_an_offline_admit_whose_time_cannot_be_read_is_recorded_at_the_upload(
    door_client, ticket, at
):
    """A 400 for the whole upload would leave every admit in it on the phone,
    for good; the time is only when the guest came in."""
    before = timezone.now()
    response = post(
        door_client,
        "/api/v1/scan/offline",
        {
            "event": str(ticket.event_id),
            "admits": [{"code": ticket.qr_payload, "nonce": "a1", "at": at}],
        },
    )

    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["code"] == "ok" and result["nonce"] == "a1"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.USED
    assert before <= ticket.scanned_at <= timezone.now()


def test_an_offline_upload_logs_the_refusals_the_phone_made_beside_its_admits(
    door_client, door, ticket, general
):
    other = make_paid_order(general, name="Ben").tickets.get()
    at = (timezone.now() - timedelta(minutes=3)).isoformat()
    upload = {
        "event": str(ticket.event_id),
        "device": "Door A",
        "admits": [{"code": other.qr_payload, "nonce": "a1", "at": at}],
        "refusals": [
            {"code": ticket.qr_payload, "nonce": "r1", "at": at, "result": "void"},
            {"code": "forged", "nonce": "r2", "at": at, "result": "invalid"},
        ],
    }

    response = post(door_client, "/api/v1/scan/offline", upload)

    assert response.status_code == 200
    body = response.json()
    assert body["code"] == "ok"
    [admitted] = body["results"]  # the admits' answers, as ever
    assert (admitted["nonce"], admitted["code"]) == ("a1", "ok")
    first, second = body["refusals"]
    assert (first["nonce"], first["recorded"], first["code"]) == ("r1", True, "void")
    assert first["ticket"]["guest_name"] == "Ana García"
    assert (second["nonce"], second["recorded"], second["code"]) == (
        "r2",
        True,
        "invalid",
    )
    rows = ScanLog.objects.filter(nonce__in=["r1", "r2"]).order_by("nonce")
    assert [(r.result, r.offline, r.device_label, r.staff) for r in rows] == [
        ("void", True, "Door A", door),
        ("invalid", True, "Door A", door),
    ]
    assert rows[0].ticket == ticket and rows[0].at.isoformat() == at
    assert rows[0].detail["method"] == "offline"
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.ISSUED


def test_a_refusal_is_never_taken_for_an_admit(door_client, ticket):
    """Whatever it names and says, a refusal admits nobody: a phone's
    `ok` there is logged as the attempt it was, not as an entry."""
    upload = {
        "event": str(ticket.event_id),
        "admits": [],
        "refusals": [{"code": ticket.qr_payload, "nonce": "r1", "result": "ok"}],
    }

    body = post(door_client, "/api/v1/scan/offline", upload).json()

    assert body["results"] == []
    [refusal] = body["refusals"]
    assert refusal["recorded"] and refusal["code"] == "invalid"
    assert refusal["admitted"] is False and refusal["verdict"] == "attention"
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.ISSUED
    log = ScanLog.objects.get()
    assert log.result == "invalid" and log.detail["info"] == {"phone_result": "ok"}


def test_an_upload_of_refusals_sent_again_logs_nothing_twice(door_client, ticket):
    at = timezone.now().isoformat()
    upload = {
        "event": str(ticket.event_id),
        "device": "Door A",
        "admits": [],
        "refusals": [
            {"code": ticket.qr_payload, "nonce": "r1", "at": at, "result": "void"}
        ],
    }

    first = post(door_client, "/api/v1/scan/offline", upload).json()
    again = post(door_client, "/api/v1/scan/offline", upload).json()

    assert ScanLog.objects.count() == 1
    assert again["refusals"][0]["recorded"] and again["refusals"][0]["replayed"]
    assert again["refusals"][0]["scan_id"] == first["refusals"][0]["scan_id"]


def test_refusals_the_server_cannot_log_are_answered_each_with_the_rest(
    door_client, ticket
):
    """No part of an upload is refused for one bad refusal: the phone drops
    each one answered, so none is sent again for ever."""
    upload = {
        "event": str(ticket.event_id),
        "admits": [],
        "refusals": [
            "not a refusal",
            {},
            {"code": ticket.qr_payload, "nonce": 7, "result": "void"},
            {"code": ["junk"], "nonce": "r4", "at": "yesterday", "result": {"a": 1}},
        ],
    }

    response = post(door_client, "/api/v1/scan/offline", upload)

    assert response.status_code == 200
    answers = response.json()["refusals"]
    assert [(a["nonce"], a["recorded"]) for a in answers] == [
        (None, False),
        (None, False),
        (7, False),
        ("r4", True),
    ]
    assert {a["code"] for a in answers[:3]} == {"invalid_nonce"}
    assert answers[3]["code"] == "invalid"
    log = ScanLog.objects.get()
    assert log.nonce == "r4" and log.detail["info"] == {"phone_result": ""}


def test_an_upload_without_refusals_is_answered_as_before(door_client, ticket):
    upload = {
        "event": str(ticket.event_id),
        "admits": [{"code": ticket.qr_payload, "nonce": "a1", "at": None}],
    }

    body = post(door_client, "/api/v1/scan/offline", upload).json()

    assert set(body) == {"code", "message", "results"}
    assert body["message"] == "1 offline scans uploaded."


def test_an_upload_of_too_many_refusals_is_refused_whole(door_client, ticket):
    refusal = {"code": "x", "nonce": "r", "result": "invalid"}
    upload = {
        "event": str(ticket.event_id),
        "admits": [],
        "refusals": [refusal] * (api.MAX_OFFLINE_BATCH + 1),
    }

    response = post(door_client, "/api/v1/scan/offline", upload)

    assert response.status_code == 400
    assert not ScanLog.objects.exists()


# --- Snapshot, ticket states, guest list --------------------------------------


def test_the_snapshot_has_counters_per_type_and_last_scans(door_client, ticket):
    redeem_ticket(event=ticket.event, text=ticket.qr_payload, device_label="Door 9")
    TicketTypeFactory(event=ticket.event, name="VIP", capacity=5)

    body = door_client.get(f"/api/v1/door/{ticket.event_id}/snapshot").json()

    assert body["totals"] == {
        "checked_in": 1,
        "sold": 1,
        "free": 0,
        "tickets": 1,
        "capacity": 100,
    }
    types = {t["name"]: t for t in body["types"]}
    assert types["General"] == {
        "id": ticket.ticket_type_id,
        "name": "General",
        "checked_in": 1,
        "sold": 1,
        "free": 0,
        "capacity": 40,
    }
    assert types["VIP"]["checked_in"] == 0
    [scan] = body["recent"]
    assert scan["code"] == "ok" and scan["device"] == "Door 9"
    assert scan["guest_name"] == "Ana García"


def test_ticket_states_for_the_offline_copy(door_client, ticket, general):
    other = make_paid_order(general, name="Ben").tickets.get()
    sam = make_staff("door", username="sam", first_name="Sam", last_name="Okafor")
    redeem_ticket(
        event=ticket.event, text=ticket.qr_payload, device_label="Door 1", staff=sam
    )

    body = door_client.get(f"/api/v1/door/{ticket.event_id}/tickets").json()

    states = {t["code"]: t for t in body["tickets"]}
    assert states[ticket.code]["status"] == "used"
    assert states[ticket.code]["used_device"] == "Door 1"
    assert states[ticket.code]["used_by"] == "Sam Okafor"
    assert states[other.code]["status"] == "issued"
    assert states[other.code]["used_by"] == ""
    assert "guest_email" not in states[other.code]
    assert body["public_key"] and body["event_key"] == ticket.qr_payload.split(".")[1]

    since = body["generated_at"]
    redeem_ticket(event=ticket.event, text=other.qr_payload)
    delta = door_client.get(
        f"/api/v1/door/{ticket.event_id}/tickets", {"since": since}
    ).json()
    assert [t["code"] for t in delta["tickets"]] == [other.code]
    bad = door_client.get(f"/api/v1/door/{ticket.event_id}/tickets", {"since": "x"})
    assert bad.status_code == 400


def test_guest_search_finds_by_name_or_email_and_admits_by_code(
    door_client, ticket, general
):
    make_paid_order(general, name="Zoe Park", email="zoe@example.org")
    url = f"/api/v1/door/{ticket.event_id}/guests"

    by_name = door_client.get(url, {"q": "garcía"}).json()["guests"]
    by_email = door_client.get(url, {"q": "ZOE@"}).json()["guests"]
    too_short = door_client.get(url, {"q": "a"}).json()["guests"]

    assert [g["guest_name"] for g in by_name] == ["Ana García"]
    assert [g["guest_email"] for g in by_email] == ["zo…@example.org"]  # masked
    assert too_short == []
    admit = post(
        door_client,
        SCAN,
        {
            "event": str(ticket.event_id),
            "code": by_name[0]["code"],
            "method": "guest_list",
        },
    ).json()
    assert admit["code"] == "ok"
    assert ScanLog.objects.get().detail["method"] == "guest_list"


@pytest.mark.parametrize(
    ("name", "queries"),
    [
        ("Ana García", ["garcia", "GARCÍA", "ana garc", "Ana  Garcia"]),
        ("José Núñez", ["nunez", "NÚÑEZ", "jose"]),
        ("Jürgen Müller", ["muller", "MÜLLER", "jurgen mu"]),
        ("Søren Kierkegaard", ["søren", "SØREN"]),  # ø has no accent to strip
        ("Zoë Ångström", ["zoe", "angstrom"]),
    ],
)
def test_guest_search_ignores_accents_and_case_like_the_offline_search(
    door_client, general, name, queries
):
    ticket = make_paid_order(general, name=name).tickets.get()
    make_paid_order(general, name="Someone Else")
    url = f"/api/v1/door/{ticket.event_id}/guests"

    for query in queries:
        found = door_client.get(url, {"q": query}).json()["guests"]
        assert [g["guest_name"] for g in found] == [name], query


def test_guest_search_of_accents_alone_finds_nobody(door_client, ticket):
    url = f"/api/v1/door/{ticket.event_id}/guests"

    found = door_client.get(url, {"q": "\u0301\u0301"}).json()["guests"]

    assert found == []


# --- Pages --------------------------------------------------------------------


def test_door_pages_need_a_staff_login(ticket):
    response = Client().get(reverse("scanner:door"))

    assert response.status_code == 302 and "login" in response["Location"]


def test_door_staff_see_only_their_events(ticket, tonight):
    mine = make_staff("door", username="mine")
    mine.staff_profile.events.add(tonight)
    EventFactory(name="Not Mine", starts_at=timezone.now() + timedelta(days=1))
    client = Client()
    client.force_login(mine)

    page = client.get(reverse("scanner:door")).content.decode()

    assert "Door Night" in page and "Not Mine" not in page


def door_list(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get(reverse("scanner:door")).content.decode()


def test_an_event_taken_off_sale_is_still_on_every_door_list_and_scans(
    ticket, tonight, owner
):
    """Owners stop online sales at doors-open: the door goes on working."""
    lena = make_staff("door", username="lena")
    lena.staff_profile.events.add(tonight)
    anyone = make_staff("door", username="anyone")  # on no event: scans all
    set_event_active(actor=owner, event_id=tonight.pk, active=False)

    for user in (owner, lena, anyone):
        page = door_list(user)
        assert "Door Night" in page and "Off sale online" in page
        assert "No events" not in page and "ask a manager" not in page

    client = Client()
    client.force_login(lena)
    event_id = str(tonight.pk)
    scan = post(client, SCAN, {"event": event_id, "code": ticket.qr_payload})
    snapshot = client.get(f"/api/v1/door/{event_id}/snapshot")
    states = client.get(f"/api/v1/door/{event_id}/tickets")
    page = client.get(reverse("scanner:door_event", args=[event_id]))
    assert scan.status_code == 200 and scan.json()["code"] == "ok"
    assert snapshot.status_code == states.status_code == page.status_code == 200
    assert snapshot.json()["recent"][0]["guest_name"] == "Ana García"


def test_an_unpublished_event_today_is_listed_too(owner):
    EventFactory(name="Secret Gig", is_active=False, starts_at=timezone.now())

    assert "Secret Gig" in door_list(owner)


def test_the_door_list_keeps_events_for_a_day_after_they_start(owner):
    EventFactory(name="Last Night", starts_at=timezone.now() - timedelta(hours=20))
    EventFactory(name="Last Week", starts_at=timezone.now() - timedelta(days=2))

    page = door_list(owner)

    assert "Last Night" in page and "Last Week" not in page


def test_an_empty_door_list_says_why(owner):
    finished = EventFactory(name="Gone", starts_at=timezone.now() - timedelta(days=3))
    limited = make_staff("door", username="limited")
    limited.staff_profile.events.add(finished)

    assert "No events to scan: none is on today or coming up." in door_list(owner)
    assert "ask a manager" not in door_list(owner)
    page = door_list(limited)
    assert "The events you scan are over" in page and "ask a manager" in page


def test_the_door_page_declares_its_live_feed_and_offline_key(door_client, ticket):
    page = door_client.get(reverse("scanner:door_event", args=[ticket.event_id]))

    html = page.content.decode()
    assert f'data-live-door="{ticket.event_id}"' in html
    assert 'data-public-key="' in html and "qr-scanner.min.js" in html
    assert 'rel="manifest"' in html


def test_the_service_worker_and_manifest_serve_the_door_scope(door_client):
    worker = door_client.get(reverse("scanner:door_sw"))
    manifest = door_client.get(reverse("scanner:door_manifest")).json()

    assert worker["Content-Type"].startswith("text/javascript")
    assert "js/door.js" in worker.content.decode()
    assert manifest["scope"] == manifest["start_url"] == reverse("scanner:door")
    assert {icon["sizes"] for icon in manifest["icons"]} == {"192x192", "512x512"}


def test_revoking_a_device_that_has_scanned_stops_it_at_once(ticket, general):
    device, token = register_scanner_device(label="Lost phone")
    auth = {"HTTP_AUTHORIZATION": f"Device {token}"}
    first = post(
        Client(), SCAN, {"event": str(ticket.event_id), "code": ticket.code}, **auth
    )
    assert first.status_code == 200

    revoke_scanner_device(device_id=device.pk)
    other = make_paid_order(general).tickets.get()
    after = post(
        Client(), SCAN, {"event": str(ticket.event_id), "code": other.code}, **auth
    )

    assert after.status_code == 401
    assert Ticket.objects.get(pk=other.pk).status == Ticket.Status.ISSUED


def test_a_device_revoked_in_another_process_stops_here_within_a_second(
    ticket, monkeypatch, django_capture_on_commit_callbacks
):
    """The revoking process moves the shared cache's marker after commit;
    this one reads it at most every CHECK_SECONDS and forgets its devices,
    rather than trusting them for DEVICE_CACHE_SECONDS."""
    from core.queries import kept
    from core.queries.devices import found_devices

    device, token = register_scanner_device(label="Lost phone 3")
    auth = {"HTTP_AUTHORIZATION": f"Device {token}"}
    event = str(ticket.event_id)
    clock = [2000.0]
    monkeypatch.setattr(found_devices, "_marker_seen", (0.0, None))
    pin_kept_clock(monkeypatch, clock)
    assert (
        post(Client(), SCAN, {"event": event, "code": "x"}, **auth).status_code == 200
    )

    # Revoked in another process: this one's memory is not touched.
    monkeypatch.setattr(found_devices, "forget", lambda digest: None)
    monkeypatch.setattr(found_devices, "forget_all", lambda: None)
    with django_capture_on_commit_callbacks(execute=True):
        revoke_scanner_device(device_id=device.pk)
    clock[0] += kept.CHECK_SECONDS / 2
    cached = post(Client(), SCAN, {"event": event, "code": "y"}, **auth)
    clock[0] += kept.CHECK_SECONDS
    stopped = post(Client(), SCAN, {"event": event, "code": ticket.code}, **auth)

    assert cached.status_code == 200
    assert stopped.status_code == 401
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.ISSUED


def test_devices_keep_scanning_when_the_cache_is_unreachable(
    ticket, monkeypatch, caplog
):
    from core.queries import kept
    from core.queries.devices import found_devices

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache is down")

    _, token = register_scanner_device(label="Door 4")
    monkeypatch.setattr(found_devices, "_marker_seen", (0.0, None))
    monkeypatch.setattr(kept.cache, "get", unreachable)

    response = post(
        Client(),
        SCAN,
        {"event": str(ticket.event_id), "code": ticket.code},
        HTTP_AUTHORIZATION=f"Device {token}",
    )

    assert response.status_code == 200
    assert response.json()["code"] == "ok"
    assert "scanner-devices change marker" in caplog.text


def test_a_device_revoked_by_another_process_stops_within_the_cache_time(
    ticket, general, monkeypatch
):
    """Each process keeps found devices DEVICE_CACHE_SECONDS: a revocation made
    elsewhere (a plain update here, no forget in this process) holds by then."""
    from core.models import ScannerDevice
    from core.queries import devices, kept

    device, token = register_scanner_device(label="Lost phone 2")
    auth = {"HTTP_AUTHORIZATION": f"Device {token}"}
    event = str(ticket.event_id)
    clock = [1000.0]
    monkeypatch.setattr(kept, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    assert (
        post(Client(), SCAN, {"event": event, "code": "x"}, **auth).status_code == 200
    )

    ScannerDevice.objects.filter(pk=device.pk).update(is_active=False)
    clock[0] += devices.DEVICE_CACHE_SECONDS - 1
    cached = post(Client(), SCAN, {"event": event, "code": "y"}, **auth)
    clock[0] += 2
    expired = post(Client(), SCAN, {"event": event, "code": ticket.code}, **auth)

    assert cached.status_code == 200
    assert expired.status_code == 401
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.ISSUED
