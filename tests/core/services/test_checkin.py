import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.exceptions import InvalidRequest, NonceReused, NotFound, UndoRefused
from core.models import Event, ScanLog, Ticket
from core.queries.door import checked_in_by_type
from core.services import checkin
from core.services.checkin import (
    MAX_OFFLINE_AGE,
    PHONE_RESULTS,
    OfflineAdmit,
    OfflineRefusal,
    code_digest,
    log_offline_refusals,
    redeem_ticket,
    staff_display_name,
    sync_offline_admits,
    undo_admit,
)
from core.tickets.signing import sign_ticket
from tests.factories import (
    EventFactory,
    TicketTypeFactory,
    make_door_open_event,
    make_paid_order,
    make_staff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def tonight(db):
    return make_door_open_event(name="Tonight")


@pytest.fixture
def vip(tonight):
    return TicketTypeFactory(event=tonight, name="VIP", capacity=30)


@pytest.fixture
def ticket(vip):
    order = make_paid_order(vip, name="Ana García", email="ana@example.com")
    return order.tickets.get()


def _counters(ticket):
    """(checked in at the event, checked in of the ticket's type)."""
    by_type = checked_in_by_type(ticket.event_id)
    return sum(by_type.values()), by_type.get(ticket.ticket_type_id, 0)


def test_a_valid_ticket_is_admitted_with_its_log_row_and_counters(ticket, door):
    result = redeem_ticket(
        event=ticket.event, text=ticket.qr_payload, staff=door, device_label="Door 1"
    )

    assert result.code == "ok" and result.admitted and result.verdict == "admit"
    assert result.ticket["guest_name"] == "Ana García"
    assert result.ticket["ticket_type"] == "VIP"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.USED
    assert ticket.scanned_by == door and ticket.scanned_device == "Door 1"
    assert ticket.scanned_at is not None
    assert _counters(ticket) == (1, 1)
    log = ScanLog.objects.get()
    assert (log.result, log.ticket, log.staff, log.device_label) == (
        "ok",
        ticket,
        door,
        "Door 1",
    )
    assert log.code_digest == code_digest(ticket.qr_payload)


def test_a_second_scan_says_when_where_and_by_whom(ticket, door):
    door.first_name, door.last_name = "Sam", "Lee"
    door.save()
    first_at = timezone.now().replace(second=0, microsecond=0)
    local_first = timezone.localtime(first_at, ticket.event.tz)
    if (local_first + timedelta(minutes=5)).date() != local_first.date():
        # Both scans on one local date: across midnight the message says the day.
        first_at -= timedelta(minutes=10)
    redeem_ticket(
        event=ticket.event,
        text=ticket.qr_payload,
        staff=door,
        device_label="Door 2",
        now=first_at,
    )

    again = redeem_ticket(
        event=ticket.event,
        text=ticket.qr_payload,
        device_label="Door 1",
        now=first_at + timedelta(minutes=5),
    )

    local = timezone.localtime(first_at, ticket.event.tz).strftime("%H:%M")
    assert again.code == "already_used" and not again.admitted
    assert again.verdict == "reject"
    assert again.message == f"Already used at {local} at Door 2 by Sam Lee."
    assert again.info["used_device"] == "Door 2"
    assert again.info["used_by"] == "Sam Lee"
    assert again.info["used_at"] == first_at.isoformat()
    assert _counters(ticket) == (1, 1)
    assert list(ScanLog.objects.order_by("at").values_list("result", flat=True)) == [
        "ok",
        "already_used",
    ]
    assert ScanLog.objects.get(result="already_used").ticket == ticket


@pytest.mark.parametrize(
    ("door", "staff_name", "expected"),
    [
        ("Door 2", "Sam Lee", "Already used at 21:14 at Door 2 by Sam Lee."),
        ("Door 2", "", "Already used at 21:14 at Door 2."),
        ("", "Sam Lee", "Already used at 21:14 by Sam Lee."),
        ("", "", "Already used at 21:14."),
        # What door pages sent for a door left unnamed names no door.
        ("Door", "Sam Lee", "Already used at 21:14 by Sam Lee."),
        ("  the DOOR ", "", "Already used at 21:14."),
        ("  Main   door ", "  ", "Already used at 21:14 at Main door."),
    ],
)
def test_the_already_used_sentence_reads_whole_whatever_is_known(
    door, staff_name, expected
):
    message = checkin.already_used_message(
        when="21:14", door=door, staff_name=staff_name
    )

    assert message == expected


def test_the_already_used_sentence_without_a_time_still_reads():
    assert (
        checkin.already_used_message(when="", door="Door 2", staff_name="")
        == "Already used at Door 2."
    )
    assert checkin.already_used_message(when="", door="", staff_name="") == (
        "Already used."
    )


def test_a_repeat_of_an_admit_at_an_unnamed_door_by_a_device_says_only_when(ticket):
    first_at = timezone.now().replace(second=0, microsecond=0)
    if timezone.localtime(first_at, ticket.event.tz).hour == 23:
        first_at -= timedelta(hours=1)  # both scans on one local date
    redeem_ticket(
        event=ticket.event, text=ticket.qr_payload, device_label="Door", now=first_at
    )

    again = redeem_ticket(
        event=ticket.event, text=ticket.qr_payload, now=first_at + timedelta(minutes=1)
    )

    local = timezone.localtime(first_at, ticket.event.tz).strftime("%H:%M")
    assert again.message == f"Already used at {local}."
    assert again.info["used_device"] == "Door"  # the API still says what was sent


def test_a_typo_typed_by_hand_keeps_the_stable_invalid_code(ticket):
    """The door page turns a typed code that matches no ticket into an amber
    "check the code" from method=manual and code=invalid; the API's answer
    and log stay those of any unknown code."""
    typo = ticket.code[:-1] + ("Z" if ticket.code[-1] != "Z" else "Y")

    result = redeem_ticket(event=ticket.event, text=typo, method="manual")

    assert result.code == "invalid" and result.verdict == "reject"
    assert ScanLog.objects.get().detail["method"] == "manual"


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("hello world", "hello world"),
        ("  <b>VIP</b> list\n", "<b>VIP</b> list"),
        ("abcdefghij", "abcdefghij"),  # well formed: as typed, not cleaned
        ("x" * 5000, "x" * 40 + "\u2026"),
        ("T1." + "A" * 200, "T1." + "A" * 37 + "\u2026"),
    ],
    ids=["words", "markup", "lower-case-code", "5000-chars", "long-payload"],
)
def test_any_text_typed_by_hand_that_names_no_ticket_is_logged_as_the_door_shows_it(
    ticket, typed, shown
):
    """The door's verdict for any typed miss is an amber "No ticket with code
    <what was typed>", long text cut short: so say its log row and feed."""
    result = redeem_ticket(event=ticket.event, text=typed, method="manual")

    assert result.code == "invalid"
    assert result.message == f"No ticket with code {shown}."
    log = ScanLog.objects.get()
    assert log.result == "invalid" and log.detail["message"] == result.message


@pytest.mark.parametrize("method", ["camera", "keyboard", "api"])
def test_scanned_garbage_stays_not_a_valid_ticket(ticket, method):
    for text in ("hello world", "ABCDEFGHIJ", "x" * 5000):
        result = redeem_ticket(event=ticket.event, text=text, method=method)
        assert result.message == "Not a valid ticket."


def test_another_events_ticket_is_refused_naming_that_event(ticket, door):
    elsewhere = EventFactory(name="Other Night")
    other_type = TicketTypeFactory(event=elsewhere)
    stranger = make_paid_order(other_type).tickets.get()
    # Even when doors are open elsewhere, the door's event decides.
    elsewhere.doors_at = timezone.now()
    elsewhere.save()

    result = redeem_ticket(event=ticket.event, text=stranger.qr_payload, staff=door)

    assert result.code == "wrong_event" and result.verdict == "reject"
    assert "Other Night" in result.message
    stranger.refresh_from_db()
    assert stranger.status == Ticket.Status.ISSUED
    log = ScanLog.objects.get()
    assert log.event == ticket.event and log.result == "wrong_event"
    assert log.ticket is None


def test_a_void_ticket_is_refused(ticket):
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.VOID)

    result = redeem_ticket(event=ticket.event, text=ticket.qr_payload)

    assert result.code == "void"
    assert result.message == "This ticket was refunded or cancelled."
    assert ScanLog.objects.get().result == "void"
    assert _counters(ticket) == (0, 0)


def test_before_checkin_opens_the_ticket_is_not_yet_valid(settings, vip):
    settings.CHECKIN_OPENS_HOURS = 12
    event = vip.event
    event.doors_at = timezone.now() + timedelta(days=2)
    event.save()
    ticket = make_paid_order(vip).tickets.get()

    result = redeem_ticket(event=event, text=ticket.qr_payload)

    assert result.code == "not_yet_valid" and result.verdict == "attention"
    assert result.message.startswith("Not valid yet: check-in opens")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ISSUED
    assert ScanLog.objects.get().result == "not_yet_valid"

    opens = event.doors_at - timedelta(hours=12)
    assert redeem_ticket(event=event, text=ticket.qr_payload, now=opens).admitted


def _mangled(payload: str) -> list:
    flipped = "A" if payload[-1] != "A" else "B"
    return [
        payload[:-1] + flipped,  # altered signature
        payload.replace(payload.split(".")[2], "ZZZZZZZZZZ"),  # altered code
        payload[:60],  # truncated
        payload + "A",  # extended
        "",
        "   ",
        "hello world",
        "https://example.com/?t=" + payload,
        "x" * 100_000,  # very long
        "\x00\x01\x02\xff binary \ud800 \u202e",  # control, NUL, lone surrogate
        "T1." + "A" * 200,
        None,
        12345,
        ["T1"],
    ]


@pytest.mark.parametrize("index", range(14))
def test_forged_damaged_and_garbage_texts_get_a_clear_reject_and_a_log_row(
    ticket, index
):
    text = _mangled(ticket.qr_payload)[index]

    result = redeem_ticket(event=ticket.event, text=text, device_label="Door 1")

    assert result.code == "invalid"
    assert result.message == "Not a valid ticket."
    log = ScanLog.objects.get()
    assert log.result == "invalid" and log.ticket is None
    assert log.code_digest == code_digest(text)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ISSUED


def test_a_forged_code_is_refused_without_reading_tickets(ticket):
    forged = ticket.qr_payload[:-2] + ("AA" if ticket.qr_payload[-2:] != "AA" else "BB")

    with CaptureQueriesContext(connection) as queries:
        redeem_ticket(event=ticket.event, text=forged)

    touched = " ".join(q["sql"] for q in queries.captured_queries)
    assert "core_ticket" not in touched.replace("core_tickettype", "")
    assert "INSERT" in touched  # the log row


def _statements(queries) -> list[str]:
    """SQL that touches tables (transaction control differs between databases)."""
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
    return [
        q["sql"].split()[0].upper()
        for q in queries.captured_queries
        if not q["sql"].upper().startswith(control)
    ]


def test_the_hot_path_is_few_statements(ticket, door):
    """An admit: a read, then claim, two counters and log (on Postgres all in
    one statement). A repeat: the read and its log row (on Postgres the read
    is the admit's statement, which claims nothing); the read brings the name
    of who admitted it, for "by Sam". A forgery: its log row."""
    forged = ticket.qr_payload[:-2] + ("AA" if ticket.qr_payload[-2:] != "AA" else "BB")
    event = ticket.event

    with CaptureQueriesContext(connection) as admit:
        redeem_ticket(event=event, text=ticket.qr_payload, nonce="h-1", staff=door)
    with CaptureQueriesContext(connection) as repeat:
        used = redeem_ticket(event=event, text=ticket.qr_payload, nonce="h-2")
    with CaptureQueriesContext(connection) as forgery:
        redeem_ticket(event=event, text=forged, nonce="h-3")

    if connection.vendor == "postgresql":
        assert _statements(admit) == ["WITH"]
        assert _statements(repeat) == ["WITH", "INSERT"]
    else:
        assert _statements(admit) == ["SELECT", "UPDATE", "INSERT", "INSERT"]
        assert _statements(repeat) == ["SELECT", "INSERT"]
    assert _statements(forgery) == ["INSERT"]
    assert used.info["used_by"] == staff_display_name(door) != ""


def test_each_answer_is_what_its_log_row_says(ticket, door):
    """The log rows are written in plain SQL: reading one back through the
    ORM gives the very answer the scan returned, field for field."""
    forged = ticket.qr_payload[:-2] + ("AA" if ticket.qr_payload[-2:] != "AA" else "BB")
    event = ticket.event
    answers = [
        redeem_ticket(
            event=event,
            text=ticket.qr_payload,
            staff=door,
            device_label="Door 2",
            nonce="r-1",
            method="camera",
        ),
        redeem_ticket(event=event, text=ticket.qr_payload, device_label="Door 1"),
        redeem_ticket(event=event, text=forged, nonce="r-3"),
    ]

    for answer in answers:
        log = ScanLog.objects.get(pk=answer.scan_id)
        assert checkin._result_from(log) == answer
        assert log.event_id == event.pk and log.at == answer.at
    admit, used, bad = (ScanLog.objects.get(pk=a.scan_id) for a in answers)
    assert (admit.ticket_id, admit.staff, admit.nonce) == (ticket.pk, door, "r-1")
    assert admit.detail["method"] == "camera" and admit.device_label == "Door 2"
    assert (used.ticket_id, used.staff, used.nonce) == (ticket.pk, None, None)
    assert bad.ticket_id is None and bad.code_digest == checkin.code_digest(forged)
    assert [a.code for a in answers] == ["ok", "already_used", "invalid"]


def test_the_ticket_read_for_a_refusal_is_what_the_orm_reads(ticket, door, vip):
    other = make_paid_order(vip).tickets.get()
    redeem_ticket(event=ticket.event, text=ticket.qr_payload, staff=door)

    for code in (ticket.code, other.code, "NOSUCHCODE"):
        expected = (
            Ticket.objects.filter(code=code).values(*checkin._ticket_fields()).first()
        )
        assert checkin._read_ticket(code) == expected
    assert checkin._read_ticket(ticket.code)["scanned_by_id"] == door.pk


def test_a_code_signed_by_another_key_is_invalid(ticket, settings):
    settings.QR_SIGNING_SECRET = "A" * 43 + "="
    minted = sign_ticket(event_id=ticket.event_id, ticket_code=ticket.code)
    settings.QR_SIGNING_SECRET = ""

    assert redeem_ticket(event=ticket.event, text=minted).code == "invalid"


def test_a_well_signed_code_with_no_ticket_is_invalid(tonight):
    payload = sign_ticket(event_id=tonight.pk, ticket_code="NOSUCH2345")

    assert redeem_ticket(event=tonight, text=payload).code == "invalid"


def test_the_short_code_typed_by_hand_admits(ticket):
    result = redeem_ticket(
        event=ticket.event, text=f"  {ticket.code.lower()} ", method="manual"
    )

    assert result.admitted
    assert ScanLog.objects.get().detail["method"] == "manual"


def test_a_repeated_nonce_returns_the_first_answer_and_admits_once(ticket):
    first = redeem_ticket(event=ticket.event, text=ticket.qr_payload, nonce="n-1")
    retry = redeem_ticket(event=ticket.event, text=ticket.qr_payload, nonce="n-1")

    assert first.code == retry.code == "ok"
    assert retry.replayed and not first.replayed
    assert retry.scan_id == first.scan_id
    assert retry.message == first.message
    assert ScanLog.objects.count() == 1
    assert _counters(ticket) == (1, 1)


def test_a_repeated_nonce_replays_a_refusal_even_once_the_door_opens(vip):
    event = vip.event
    event.doors_at = timezone.now() + timedelta(days=3)
    event.save()
    ticket = make_paid_order(vip).tickets.get()
    first = redeem_ticket(event=event, text=ticket.qr_payload, nonce="n-2")

    later = event.doors_at
    retry = redeem_ticket(event=event, text=ticket.qr_payload, nonce="n-2", now=later)

    assert first.code == retry.code == "not_yet_valid" and retry.replayed
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ISSUED
    assert ScanLog.objects.count() == 1


def test_a_nonce_reused_for_another_code_is_an_error(ticket):
    redeem_ticket(event=ticket.event, text=ticket.qr_payload, nonce="n-3")

    with pytest.raises(NonceReused):
        redeem_ticket(event=ticket.event, text="garbage", nonce="n-3")
    assert ScanLog.objects.count() == 1


@pytest.mark.parametrize(
    "other",
    [{"device_label": "Door B"}, {"staff": "other"}, {"device_label": ""}],
    ids=["another door", "another staff member", "no door"],
)
def test_a_nonce_sent_again_by_someone_else_is_refused_not_replayed(ticket, other):
    """Only the phone that sent a nonce may get its answer back: another door
    sending the same nonce is told so, not shown the first door's ADMIT."""
    door_a = make_staff("door", username="door-a")
    first = {"staff": door_a, "device_label": "Door A"}
    redeem_ticket(event=ticket.event, text=ticket.qr_payload, nonce="n-4", **first)
    if other.get("staff") == "other":
        other = {**first, "staff": make_staff("door", username="door-b")}
    else:
        other = {**first, **other}

    with pytest.raises(NonceReused) as caught:
        redeem_ticket(event=ticket.event, text=ticket.qr_payload, nonce="n-4", **other)
    assert "another door" in caught.value.message
    assert ScanLog.objects.count() == 1

    again = redeem_ticket(
        event=ticket.event, text=ticket.qr_payload, nonce="n-4", **first
    )
    assert again.admitted and again.replayed


@pytest.mark.parametrize("nonce", ["x" * 65, "bad nonce", "\x00", 7])
def test_a_malformed_nonce_is_refused_before_anything_is_written(ticket, nonce):
    with pytest.raises(InvalidRequest) as caught:
        redeem_ticket(event=ticket.event, text=ticket.qr_payload, nonce=nonce)
    assert caught.value.code == "invalid_nonce"
    assert not ScanLog.objects.exists()


def test_device_labels_are_cleaned_of_control_characters(ticket):
    redeem_ticket(
        event=ticket.event, text=ticket.qr_payload, device_label="Door\x00 2\n" * 40
    )

    label = ScanLog.objects.get().device_label
    assert "\x00" not in label and "\n" not in label
    assert label.startswith("Door 2 Door 2") and len(label) <= 100


def test_every_scan_is_broadcast_to_the_door_after_commit(
    ticket, door, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(checkin.realtime, "send_all", lambda sends: sent.extend(sends))

    with django_capture_on_commit_callbacks(execute=True):
        redeem_ticket(
            event=ticket.event, text=ticket.qr_payload, staff=door, device_label="D1"
        )
        redeem_ticket(event=ticket.event, text="forged", device_label="D2")

    groups = {group for group, _ in sent}
    assert groups == {f"event.{ticket.event_id}.door"}
    scans = [scan for _, msg in sent for scan in msg["scans"]]
    assert [s["code"] for s in scans] == ["ok", "invalid"]
    assert scans[0]["guest_name"] == "Ana García" and scans[0]["device"] == "D1"
    assert scans[0]["staff"] == door.username


def test_nothing_is_broadcast_for_a_scan_that_rolled_back(
    ticket, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(checkin.realtime, "send_all", lambda sends: sent.extend(sends))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        redeem_ticket(event=ticket.event, text=ticket.qr_payload)
    assert len(callbacks) == 1 and not sent


# --- Undo ---------------------------------------------------------------------


def test_an_admit_can_be_undone_with_a_reason_and_the_ticket_admits_again(ticket, door):
    redeem_ticket(event=ticket.event, text=ticket.qr_payload, device_label="Door 1")

    result = undo_admit(
        event=ticket.event,
        ticket_code=ticket.code,
        reason="Scanned the friend's ticket",
        staff=door,
    )

    assert result.code == "undone"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ISSUED and ticket.scanned_at is None
    assert _counters(ticket) == (0, 0)
    log = ScanLog.objects.get(result="undone")
    assert log.staff == door
    assert log.detail["info"]["reason"] == "Scanned the friend's ticket"
    assert log.detail["info"]["admitted_device"] == "Door 1"
    assert redeem_ticket(event=ticket.event, text=ticket.qr_payload).admitted
    assert _counters(ticket) == (1, 1)


def test_undo_needs_a_reason(ticket):
    redeem_ticket(event=ticket.event, text=ticket.qr_payload)

    with pytest.raises(InvalidRequest) as caught:
        undo_admit(event=ticket.event, ticket_code=ticket.code, reason="  \n ")
    assert caught.value.code == "reason_required"
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.USED


def test_undo_of_a_ticket_not_admitted_is_refused(ticket):
    with pytest.raises(UndoRefused):
        undo_admit(event=ticket.event, ticket_code=ticket.code, reason="oops")
    assert not ScanLog.objects.exists()


def test_undo_only_finds_tickets_of_its_event(ticket):
    redeem_ticket(event=ticket.event, text=ticket.qr_payload)
    other = EventFactory()

    with pytest.raises(NotFound):
        undo_admit(event=other, ticket_code=ticket.code, reason="oops")


# --- Offline ------------------------------------------------------------------


def test_offline_admits_are_recorded_at_their_own_time(ticket):
    at = timezone.now() - timedelta(minutes=7)

    [result] = sync_offline_admits(
        event=ticket.event,
        admits=[
            OfflineAdmit(
                text=ticket.qr_payload, nonce="off-1", at=at, device_label="Door 3"
            )
        ],
    )

    assert result.admitted and result.offline
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.USED and ticket.scanned_at == at
    log = ScanLog.objects.get()
    assert log.offline and log.at == at and log.device_label == "Door 3"
    assert _counters(ticket) == (1, 1)


def test_one_ticket_admitted_offline_at_two_doors_is_one_admit_and_a_conflict(
    ticket,
):
    now = timezone.now()
    door_a = OfflineAdmit(
        text=ticket.qr_payload,
        nonce="a-1",
        at=now - timedelta(minutes=3),
        device_label="Door A",
    )
    door_b = OfflineAdmit(
        text=ticket.qr_payload,
        nonce="b-1",
        at=now - timedelta(minutes=2),
        device_label="Door B",
    )

    [first] = sync_offline_admits(event=ticket.event, admits=[door_a])
    [second] = sync_offline_admits(event=ticket.event, admits=[door_b])
    [again] = sync_offline_admits(event=ticket.event, admits=[door_b])

    assert first.code == "ok"
    assert second.code == "offline_conflict" and second.verdict == "attention"
    assert second.message.startswith("Let in twice: admitted offline at Door B, but ")
    assert "Door A" in second.message
    assert again.replayed and again.scan_id == second.scan_id
    assert _counters(ticket) == (1, 1)
    results = sorted(ScanLog.objects.values_list("result", "device_label"))
    assert results == [("offline_conflict", "Door B"), ("ok", "Door A")]
    assert ScanLog.objects.get(result="offline_conflict").ticket == ticket


def test_an_offline_admit_of_a_ticket_admitted_online_is_a_conflict(ticket):
    redeem_ticket(event=ticket.event, text=ticket.qr_payload, device_label="Door 1")

    [result] = sync_offline_admits(
        event=ticket.event,
        admits=[OfflineAdmit(text=ticket.qr_payload, nonce="o-1", at=timezone.now())],
    )

    assert result.code == "offline_conflict"
    # An unnamed door's upload names no door of its own (never "here").
    assert result.message.startswith("Let in twice: admitted offline, but already used")
    assert _counters(ticket) == (1, 1)


def test_an_offline_retry_of_a_scan_that_reached_the_server_is_not_a_conflict(
    ticket,
):
    """The phone lost the answer, admitted offline with the same nonce, uploads it."""
    redeem_ticket(event=ticket.event, text=ticket.qr_payload, nonce="same-1")

    [result] = sync_offline_admits(
        event=ticket.event,
        admits=[
            OfflineAdmit(text=ticket.qr_payload, nonce="same-1", at=timezone.now())
        ],
    )

    assert result.code == "ok" and result.replayed
    assert ScanLog.objects.count() == 1


def test_offline_times_from_the_future_are_clamped_to_now(ticket):
    now = timezone.now()

    sync_offline_admits(
        event=ticket.event,
        admits=[
            OfflineAdmit(
                text=ticket.qr_payload, nonce="f-1", at=now + timedelta(days=9)
            )
        ],
        now=now,
    )

    assert ScanLog.objects.get().at == now


def test_an_offline_admit_without_its_nonce_is_answered_not_recorded(ticket, vip):
    other = make_paid_order(vip, name="Ben").tickets.get()
    now = timezone.now()

    missing, recorded = sync_offline_admits(
        event=ticket.event,
        admits=[
            OfflineAdmit(text=ticket.qr_payload, nonce="", at=now),
            OfflineAdmit(text=other.qr_payload, nonce="n-2", at=now),
        ],
    )

    assert missing.code == "invalid_nonce" and missing.verdict == "attention"
    assert missing.scan_id is None and missing.offline
    assert missing.message == (
        "Not recorded by the server: every offline admit needs its scan id."
    )
    assert recorded.admitted
    assert ScanLog.objects.get().ticket == other


def test_one_admit_the_server_cannot_record_does_not_hold_up_the_rest(tonight, vip):
    """Its scan id came online with another text (the phone lost the answer):
    that admit is answered, the ones after it are recorded, and the same
    upload again gets the same answers (the phone may not have heard them)."""
    first, second = make_paid_order(vip, 2).tickets.order_by("code")
    online = redeem_ticket(event=tonight, text=first.qr_payload + "\n", nonce="n1")
    now = timezone.now()
    batch = [
        OfflineAdmit(text=first.qr_payload, nonce="n1", at=now),
        OfflineAdmit(text=second.qr_payload, nonce="n2", at=now),
    ]

    reused, admitted = sync_offline_admits(event=tonight, admits=batch)
    again = sync_offline_admits(event=tonight, admits=batch)

    assert online.admitted
    assert reused.code == "nonce_reused" and reused.verdict == "attention"
    assert reused.message.startswith("Not recorded by the server: this scan id")
    assert reused.scan_id is None and reused.at == now
    assert admitted.admitted and not admitted.replayed
    second.refresh_from_db()
    assert second.status == Ticket.Status.USED
    assert [r.code for r in again] == ["nonce_reused", "ok"] and again[1].replayed
    assert ScanLog.objects.count() == 2


# --- Refusals a phone made on its own, uploaded later ------------------------


def _refusal(text, nonce="r-1", *, result="already_used", at=None, door="Door 3"):
    return OfflineRefusal(
        text=text,
        nonce=nonce,
        at=at or timezone.now() - timedelta(minutes=4),
        result=result,
        device_label=door,
    )


def test_a_refusal_a_phone_made_offline_is_logged_as_it_showed_it(ticket, door):
    at = timezone.now() - timedelta(minutes=4)

    [result] = log_offline_refusals(
        event=ticket.event,
        refusals=[_refusal(ticket.qr_payload, "r-1", at=at)],
        staff=door,
    )

    assert result.code == "already_used" and result.verdict == "reject"
    assert result.offline and not result.admitted and result.scan_id is not None
    log = ScanLog.objects.get()
    assert log.pk == result.scan_id
    assert (log.result, log.offline, log.at, log.nonce) == (
        "already_used",
        True,
        at,
        "r-1",
    )
    assert (log.device_label, log.staff, log.ticket) == ("Door 3", door, ticket)
    assert log.detail["method"] == "offline"
    assert log.detail["ticket"]["guest_name"] == "Ana García"
    assert log.code_digest == code_digest(ticket.qr_payload)


@pytest.mark.parametrize(
    ("shown", "verdict"),
    [
        ("already_used", "reject"),
        ("wrong_event", "reject"),
        ("void", "reject"),
        ("invalid", "reject"),
        ("not_yet_valid", "attention"),
    ],
)
def test_each_refusal_code_a_phone_shows_is_the_rows_result(ticket, shown, verdict):
    [result] = log_offline_refusals(
        event=ticket.event, refusals=[_refusal(ticket.qr_payload, result=shown)]
    )

    assert (result.code, result.verdict) == (shown, verdict)
    log = ScanLog.objects.get()
    assert log.result == shown and log.offline
    assert "phone_result" not in log.detail["info"]


@pytest.mark.parametrize(
    ("shown", "kept"),
    [
        ("ok", "ok"),  # a phone never admits through this door
        ("unknown", "unknown"),
        ("offline_conflict", "offline_conflict"),
        ("admitted\x00 here\n", "admitted here"),
        (7, ""),
        (None, ""),
        ("x" * 500, "x" * 40),
    ],
)
def test_anything_else_a_phone_says_is_logged_invalid_keeping_its_code(
    ticket, shown, kept
):
    [result] = log_offline_refusals(
        event=ticket.event, refusals=[_refusal(ticket.qr_payload, result=shown)]
    )

    assert result.code == "invalid" and result.verdict == "attention"
    # In words at every door, never the phone's raw code ("(unknown)").
    assert result.message == PHONE_RESULTS.get(
        kept, "Not let in: checked on a door phone offline."
    )
    assert f"({kept})" not in result.message
    log = ScanLog.objects.get()
    assert log.result == "invalid" and log.detail["info"] == {"phone_result": kept}


def test_a_logged_refusal_never_admits_or_changes_its_ticket(ticket):
    before = Ticket.objects.filter(pk=ticket.pk).values().get()

    log_offline_refusals(
        event=ticket.event,
        refusals=[
            _refusal(ticket.qr_payload, f"r-{shown}", result=shown)
            for shown in ("ok", "already_used", "void", "not_yet_valid")
        ],
    )

    assert Ticket.objects.filter(pk=ticket.pk).values().get() == before
    assert _counters(ticket) == (0, 0)
    assert ScanLog.objects.filter(result="ok").count() == 0
    assert redeem_ticket(event=ticket.event, text=ticket.qr_payload).admitted


def test_an_upload_repeated_after_a_lost_answer_writes_nothing_twice(ticket, door):
    upload = [
        _refusal(ticket.qr_payload, "r-1"),
        _refusal("forged", "r-2", result="invalid"),
    ]

    first = log_offline_refusals(event=ticket.event, refusals=upload, staff=door)
    again = log_offline_refusals(event=ticket.event, refusals=upload, staff=door)

    assert ScanLog.objects.count() == 2
    assert [r.scan_id for r in again] == [r.scan_id for r in first]
    assert all(r.replayed for r in again) and not any(r.replayed for r in first)
    assert [r.code for r in again] == ["already_used", "invalid"]


def test_a_refusal_whose_scan_reached_the_server_online_is_not_logged_again(ticket):
    """The phone sent the scan, lost the answer, refused it from its copy
    under the same scan id: one attempt, one row (the server's)."""
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.VOID)
    online = redeem_ticket(
        event=ticket.event, text=ticket.qr_payload, nonce="same", device_label="D"
    )

    [result] = log_offline_refusals(
        event=ticket.event,
        refusals=[_refusal(ticket.qr_payload, "same", result="void", door="D")],
    )

    assert result.replayed and result.scan_id == online.scan_id
    assert ScanLog.objects.get().offline is False


def _other_events_code(ticket) -> str:
    elsewhere = EventFactory(name="Other Night")
    return make_paid_order(TicketTypeFactory(event=elsewhere)).tickets.get().qr_payload


@pytest.mark.parametrize(
    "text",
    [
        "forged",
        "other event",
        "other event's short code",
        "signed, no such ticket",
        "signed by another key",
        "garbage",
    ],
)
def test_only_a_code_naming_a_ticket_of_this_event_links_it(ticket, settings, text):
    flipped = "A" if ticket.qr_payload[-1] != "A" else "B"
    if text == "signed by another key":
        settings.QR_SIGNING_SECRET = "A" * 43 + "="
        scanned = sign_ticket(event_id=ticket.event_id, ticket_code=ticket.code)
        settings.QR_SIGNING_SECRET = ""
    elif text.startswith("other event"):
        other = _other_events_code(ticket)
        scanned = other if text == "other event" else other.split(".")[2]
    else:
        scanned = {
            "forged": ticket.qr_payload[:-1] + flipped,
            "signed, no such ticket": sign_ticket(
                event_id=ticket.event_id, ticket_code="NOSUCH2345"
            ),
            "garbage": "x" * 5000,
        }[text]

    log_offline_refusals(event=ticket.event, refusals=[_refusal(scanned)])
    log_offline_refusals(
        event=ticket.event, refusals=[_refusal(f" {ticket.qr_payload}\n", "r-2")]
    )
    # Typed by hand from the ticket: as hard to guess, as the scan API says.
    log_offline_refusals(event=ticket.event, refusals=[_refusal(ticket.code, "r-3")])

    unlinked, linked, typed = ScanLog.objects.order_by("id")
    assert unlinked.ticket is None and unlinked.detail["ticket"] is None
    assert linked.ticket == ticket
    assert typed.ticket == ticket


@pytest.mark.parametrize(
    "nonce", [None, "", "x" * 65, " a1", 7, ["a"], {"id": "a"}, "taken"]
)
def test_a_refusal_the_server_cannot_log_is_answered_with_the_rest(ticket, nonce):
    redeem_ticket(event=ticket.event, text="another text", nonce="taken")
    before = ScanLog.objects.count()

    bad, good = log_offline_refusals(
        event=ticket.event,
        refusals=[_refusal(ticket.qr_payload, nonce), _refusal("forged", "r-2")],
    )

    assert bad.scan_id is None and bad.offline and bad.verdict == "attention"
    assert bad.code in ("invalid_nonce", "nonce_reused")
    assert bad.message.startswith("Not recorded by the server: ")
    assert good.scan_id is not None and good.code == "already_used"
    assert ScanLog.objects.count() == before + 1


def test_refusal_times_are_clamped_as_admits_are(ticket):
    now = timezone.now()

    log_offline_refusals(
        event=ticket.event,
        refusals=[
            _refusal("a", "r-1", at=now + timedelta(days=9)),
            _refusal("b", "r-2", at=now - timedelta(days=9)),
            OfflineRefusal(text="c", nonce="r-3", at=None, result="invalid"),
        ],
        now=now,
    )

    times = list(ScanLog.objects.order_by("nonce").values_list("at", flat=True))
    assert times == [now, now - MAX_OFFLINE_AGE, now]


def test_each_logged_refusal_reaches_the_door_feed_after_commit(
    ticket, door, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(checkin.realtime, "send_all", lambda sends: sent.extend(sends))
    upload = [
        _refusal(ticket.qr_payload, "r-1"),
        _refusal("forged", "r-2", result="invalid"),
    ]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        log_offline_refusals(event=ticket.event, refusals=upload, staff=door)
    assert callbacks and not sent  # nothing before commit
    for callback in callbacks:
        callback()
    with django_capture_on_commit_callbacks(execute=True):
        log_offline_refusals(event=ticket.event, refusals=upload, staff=door)

    assert {group for group, _ in sent} == {f"event.{ticket.event_id}.door"}
    scans = [scan for _, msg in sent for scan in msg["scans"]]
    assert [(s["code"], s["offline"]) for s in scans] == [
        ("already_used", True),
        ("invalid", True),
    ]  # the repeated upload announced nothing again
    assert scans[0]["guest_name"] == "Ana García" and scans[0]["device"] == "Door 3"
    assert scans[0]["id"] == ScanLog.objects.get(nonce="r-1").pk


# --- Postgres: two doors, one ticket ------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_doors_scanning_one_ticket_at_once_admit_exactly_once(postgres):
    now = timezone.now()
    event = EventFactory(starts_at=now + timedelta(hours=1))
    ticket_type = TicketTypeFactory(event=event)
    ticket = make_paid_order(ticket_type).tickets.get()
    staff = [make_staff("door", username=f"door-{i}") for i in range(20)]
    barrier = threading.Barrier(20)
    results, errors = [], []

    def scan(index: int) -> None:
        try:
            barrier.wait()
            results.append(
                redeem_ticket(
                    event=event,
                    text=ticket.qr_payload,
                    staff=staff[index],
                    device_label=f"Door {index}",
                    nonce=uuid.uuid4().hex,
                )
            )
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    codes = sorted(result.code for result in results)
    assert codes == ["already_used"] * 19 + ["ok"]
    assert ScanLog.objects.filter(event=event).count() == 20
    assert ScanLog.objects.filter(event=event, result="ok").count() == 1
    assert checked_in_by_type(event.pk) == {ticket_type.pk: 1}
    winner = next(r for r in results if r.admitted)
    ticket.refresh_from_db()
    assert ticket.scanned_device == f"Door {staff.index(ticket.scanned_by)}"
    assert all(ticket.scanned_device in r.message for r in results if not r.admitted), (
        "every loser is told where the winner admitted"
    )
    assert winner.scan_id == ScanLog.objects.get(result="ok").pk


@pytest.mark.django_db(transaction=True)
def test_an_admit_that_loses_a_deadlock_is_retried(monkeypatch, vip):
    from django.db import OperationalError

    ticket = make_paid_order(vip).tickets.get()
    # The admit's write: one statement on Postgres, a transaction elsewhere.
    real = {name: getattr(checkin, name) for name in ("_claim", "_admit_by_code")}
    calls = []

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    def losing_once(name):
        def write(*args, **kwargs):
            calls.append(name)
            if len(calls) == 1:
                raise OperationalError("deadlock detected") from DeadlockDetected()
            return real[name](*args, **kwargs)

        return write

    for name in real:
        monkeypatch.setattr(checkin, name, losing_once(name))

    result = redeem_ticket(event=vip.event, text=ticket.qr_payload)

    assert result.admitted and len(calls) == 2
    assert ScanLog.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_writer_locking_event_then_ticket_cannot_break_an_admit(postgres):
    """A refund-like writer taking the rows in the other order: no error at the door."""
    now = timezone.now()
    event = EventFactory(starts_at=now + timedelta(hours=1))
    ticket_type = TicketTypeFactory(event=event)
    ticket = make_paid_order(ticket_type).tickets.get()
    event_locked, outcome = threading.Event(), {}

    def reverse_order_writer() -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                Event.objects.filter(pk=event.pk).update(name="Locked first")
                event_locked.set()
                # Wait until the admit holds the ticket and waits for the event.
                with connection.cursor() as cursor:
                    while True:
                        cursor.execute(
                            "SELECT count(*) FROM pg_locks WHERE NOT granted"
                        )
                        if cursor.fetchone()[0]:
                            break
                Ticket.objects.filter(pk=ticket.pk).update(status="void")
            outcome["writer"] = "committed"
        except Exception as exc:
            outcome["writer"] = type(exc).__name__
        finally:
            connection.close()

    def admit() -> None:
        try:
            event_locked.wait()
            outcome["door"] = redeem_ticket(event=event, text=ticket.qr_payload).code
        except Exception as exc:
            outcome["door"] = repr(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=reverse_order_writer),
        threading.Thread(target=admit),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ticket.refresh_from_db()
    event.refresh_from_db()
    if outcome["writer"] == "committed":
        # The door lost the deadlock, retried after the writer, saw the void.
        assert outcome["door"] == "void" and ticket.status == "void"
        assert checked_in_by_type(event.pk) == {}
    else:
        assert outcome["writer"] == "OperationalError"
        assert outcome["door"] == "ok" and ticket.status == "used"
        assert sum(checked_in_by_type(event.pk).values()) == 1
    assert ScanLog.objects.filter(event=event).count() == 1


@pytest.mark.parametrize("guest", ["Ana García", ""])
def test_the_one_statement_admit_logs_what_the_two_statement_one_does(
    postgres, vip, monkeypatch, guest
):
    """On Postgres the admit's log row is built in SQL; it must be the row
    the Python path writes (kept on SQLite, and here forced for comparison)."""
    staff = make_staff("door", username="sam", first_name="Sam", last_name="Lee")
    order = make_paid_order(vip, 2)
    order.tickets.update(
        guest_name=guest
    )  # comps and other channels may leave it blank
    one, two = order.tickets.all()

    def admit(ticket, nonce):
        result = redeem_ticket(
            event=vip.event,
            text=ticket.qr_payload,
            staff=staff,
            device_label="Door 2",
            nonce=nonce,
            method="camera",
        )
        return result, ScanLog.objects.get(pk=result.scan_id)

    in_sql, sql_log = admit(one, "one-statement")
    monkeypatch.setattr(checkin, "_admit_by_code_query", lambda alias: None)
    in_python, python_log = admit(two, "two-statements")

    assert in_sql.message == f"Admit {guest or 'Guest'} · VIP" == in_python.message
    assert sql_log.detail["ticket"]["code"] == one.code
    python_log.detail["ticket"]["code"] = one.code
    assert sql_log.detail == python_log.detail
    assert sql_log.detail == {
        "message": in_sql.message,
        "verdict": "admit",
        "method": "camera",
        "ticket": in_sql.ticket,
        "staff_name": "Sam Lee",
        "info": {},
    }
    for field in ("result", "staff_id", "device_label", "offline", "event_id"):
        assert getattr(sql_log, field) == getattr(python_log, field)
    assert (sql_log.ticket_id, sql_log.nonce) == (one.pk, "one-statement")
    one.refresh_from_db()
    assert (one.status, one.scanned_device, one.scanned_by_id) == (
        "used",
        "Door 2",
        staff.pk,
    )


@pytest.mark.parametrize(("hour", "minute"), [(0, 5), (9, 7), (12, 0), (23, 59)])
def test_a_time_earlier_today_reads_as_date_format_would_write_it(hour, minute):
    """The message's `21:14` is written without date_format: same text."""
    import zoneinfo
    from datetime import datetime
    from types import SimpleNamespace

    from django.utils.formats import date_format

    from core.services.checkin import _local_time_text

    zone = zoneinfo.ZoneInfo("America/St_Johns")  # a half-hour offset
    at = datetime(2026, 3, 8, hour, minute, 30, tzinfo=zone)
    event = SimpleNamespace(tz=zone)

    text = _local_time_text(event, at, now=at)

    assert text == date_format(timezone.localtime(at, zone), "H:i")


def _ticket_scans(plan: dict) -> list[str]:
    """How each node of an EXPLAIN (FORMAT JSON) plan reads core_ticket."""
    found = []
    if plan.get("Relation Name") == Ticket._meta.db_table and "Scan" in plan.get(
        "Node Type", ""
    ):
        found.append(plan.get("Index Name") or plan["Node Type"])
    for child in plan.get("Plans", []):
        found += _ticket_scans(child)
    return found


def test_the_admit_reads_and_claims_its_ticket_by_key_whatever_the_statistics(
    postgres, vip
):
    """Before the first ANALYZE (a restored dump, autovacuum off, a new
    deployment's first sale) Postgres costs every index alike, and an admit
    whose claim said `event_id = ... AND status = ...` could take an index
    on the event: one scan through every ticket of the night, per admit."""
    for _ in range(3):
        make_paid_order(vip, 10)
    first, second = Ticket.objects.filter(event=vip.event)[:2]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = %s::regclass",
            [Ticket._meta.db_table],
        )
        cursor.execute(
            "DELETE FROM pg_statistic WHERE starelid = %s::regclass",
            [Ticket._meta.db_table],
        )
    executed = []

    def spy(execute, sql, params, many, context):
        executed.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        redeem_ticket(event=vip.event, text=second.qr_payload, device_label="Door 1")
    ((admit_sql, params),) = [(q, p) for q, p in executed if q.startswith("WITH t AS")]
    assert first.code not in params

    with connection.cursor() as cursor:
        # The next ticket's admit, planned as any admit is (not run).
        params = [first.code if p == second.code else p for p in params]
        cursor.execute("EXPLAIN (FORMAT JSON) " + admit_sql, params)
        scans = _ticket_scans(cursor.fetchone()[0][0]["Plan"])

    assert scans and set(scans) <= {"core_ticket_pkey", "ticket_code_unique"}, scans
