"""Log rows of codes refused on the text alone, written in batches (Postgres).

These run with real commits (the batch is written by another thread on its
own connection), so each test flushes the writer before it ends.
"""

import threading
import uuid

import pytest
from django.db import OperationalError, connection, transaction

from core import realtime
from core.exceptions import NonceReused
from core.models import ScanLog
from core.services import scan_log_writer
from core.services.checkin import code_digest, redeem_ticket
from tests.factories import (
    TicketTypeFactory,
    make_door_open_event,
    make_paid_order,
    make_staff,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tonight(postgres):
    event = make_door_open_event(name="Tonight")
    yield event
    assert scan_log_writer.flush(), "rows still waiting after the test"


@pytest.fixture
def held(settings):
    """Rows wait until the test flushes them."""
    settings.SCAN_LOG_WRITE_BEHIND_SECONDS = 60


@pytest.fixture
def ticket(tonight):
    order = make_paid_order(TicketTypeFactory(event=tonight), name="Ana García")
    return order.tickets.get()


def _forged(ticket) -> str:
    payload = ticket.qr_payload
    return payload[:-1] + ("A" if payload[-1] != "A" else "B")


@pytest.fixture
def feed(monkeypatch):
    """The scans the writer announced, by event."""
    sent = []
    real = realtime.announce_scans

    def recording(event_id, *, scans):
        sent.append((event_id, [scan["id"] for scan in scans]))
        real(event_id, scans=scans)

    monkeypatch.setattr(realtime, "announce_scans", recording)
    return sent


def test_an_invalid_code_is_answered_at_once_and_logged_as_answered(ticket, held, feed):
    text = _forged(ticket)
    staff = make_staff("door", username="door-ana")

    result = redeem_ticket(
        event=ticket.event, text=text, staff=staff, device_label="Door 1", nonce="n-1"
    )

    assert result.code == "invalid" and result.message == "Not a valid ticket."
    assert not ScanLog.objects.exists(), "written before the window closed"
    assert feed == []
    assert scan_log_writer.flush()
    log = ScanLog.objects.get()
    assert log.pk == result.scan_id
    assert (log.result, log.device_label, log.nonce, log.offline) == (
        "invalid",
        "Door 1",
        "n-1",
        False,
    )
    assert log.code_digest == code_digest(text) and log.ticket is None
    assert log.staff == staff
    assert log.at == result.at
    assert log.detail["message"] == result.message
    assert feed == [(ticket.event_id, [result.scan_id])]


def test_text_that_needs_escaping_is_written_as_given(ticket, held):
    label = 'Door "2" \\ Süd ✓ {a,b}'
    result = redeem_ticket(
        event=ticket.event, text=_forged(ticket), device_label=label, nonce="n.1:x"
    )

    assert scan_log_writer.flush()
    log = ScanLog.objects.get()
    assert (log.pk, log.device_label, log.nonce) == (result.scan_id, label, "n.1:x")
    assert log.staff is None and log.at == result.at


def test_doors_forging_at_once_get_one_row_each_under_the_id_they_were_told(
    ticket, feed
):
    texts = [f"T1.garbage-{n}" for n in range(200)]
    answers, errors = [], []

    def door(number: int) -> None:
        try:
            for text in texts[number::8]:
                answers.append(
                    redeem_ticket(event=ticket.event, text=text, nonce=uuid.uuid4().hex)
                )
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=door, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert scan_log_writer.flush()
    told = {answer.scan_id for answer in answers}
    assert len(told) == 200
    assert set(ScanLog.objects.values_list("pk", flat=True)) == told
    announced = [scan_id for _, ids in feed for scan_id in ids]
    assert sorted(announced) == sorted(told)


def test_a_retry_while_the_row_waits_gets_the_first_answer(ticket, held):
    text = _forged(ticket)
    first = redeem_ticket(event=ticket.event, text=text, nonce="retry-1")

    again = redeem_ticket(event=ticket.event, text=text, nonce="retry-1")

    assert again.replayed and again.scan_id == first.scan_id
    assert scan_log_writer.flush()
    assert list(ScanLog.objects.values_list("pk", flat=True)) == [first.scan_id]


def test_a_retry_after_the_write_leaves_one_row_and_one_feed_entry(ticket, held, feed):
    text = _forged(ticket)
    first = redeem_ticket(event=ticket.event, text=text, nonce="retry-2")
    assert scan_log_writer.flush()

    again = redeem_ticket(event=ticket.event, text=text, nonce="retry-2")
    assert scan_log_writer.flush()

    assert again.code == "invalid"
    assert list(ScanLog.objects.values_list("pk", flat=True)) == [first.scan_id]
    assert feed == [(ticket.event_id, [first.scan_id])]


def test_a_waiting_nonce_reused_for_another_code_is_an_error(ticket, held):
    redeem_ticket(event=ticket.event, text="T1.one", nonce="shared")

    with pytest.raises(NonceReused):
        redeem_ticket(event=ticket.event, text="T1.two", nonce="shared")


def test_a_forged_code_under_an_admits_nonce_is_still_logged_without_it(ticket, held):
    """A client reusing its nonces: the attempt is kept, marked, and the
    admit's row keeps the nonce."""
    admit = redeem_ticket(event=ticket.event, text=ticket.qr_payload, nonce="n-2")

    forged = redeem_ticket(event=ticket.event, text=_forged(ticket), nonce="n-2")
    assert scan_log_writer.flush()

    assert forged.code == "invalid"
    row = ScanLog.objects.get(pk=forged.scan_id)
    assert row.nonce is None and row.detail["nonce_reused"] is True
    assert ScanLog.objects.get(nonce="n-2").pk == admit.scan_id


def test_a_forged_code_answered_first_keeps_its_row_when_a_ticket_takes_its_nonce(
    ticket, held
):
    forged = redeem_ticket(event=ticket.event, text=_forged(ticket), nonce="n-3")
    admit = redeem_ticket(event=ticket.event, text=ticket.qr_payload, nonce="n-3")
    assert scan_log_writer.flush()

    assert admit.code == "ok"
    assert ScanLog.objects.get(pk=forged.scan_id).detail["nonce_reused"] is True
    assert ScanLog.objects.count() == 2


def test_admits_and_refusals_that_read_the_ticket_are_written_before_the_answer(
    ticket, held
):
    admitted = redeem_ticket(event=ticket.event, text=ticket.qr_payload)
    repeat = redeem_ticket(event=ticket.event, text=ticket.qr_payload)
    unknown = redeem_ticket(event=ticket.event, text="ZZZZZZZZ")  # typed by hand

    assert (admitted.code, repeat.code, unknown.code) == (
        "ok",
        "already_used",
        "invalid",
    )
    assert set(ScanLog.objects.values_list("pk", flat=True)) == {
        admitted.scan_id,
        repeat.scan_id,
        unknown.scan_id,
    }


def test_garbage_typed_by_hand_is_batched_too_and_worded_as_the_door_showed_it(
    ticket, held, feed
):
    """Typed or scanned, a text refused on its own waits for the batch; the
    typed one says what the door's amber verdict said, the scanned one not."""
    scanned = redeem_ticket(
        event=ticket.event, text="x" * 5000, method="camera", nonce="g-1"
    )
    typed = redeem_ticket(
        event=ticket.event, text="x" * 5000, method="manual", nonce="g-2"
    )

    assert not ScanLog.objects.exists(), "written before the window closed"
    assert scanned.message == "Not a valid ticket."
    assert typed.message == f"No ticket with code {'x' * 40}\u2026."
    assert scan_log_writer.flush()
    assert ScanLog.objects.get(pk=scanned.scan_id).detail["message"] == (
        scanned.message
    )
    assert ScanLog.objects.get(pk=typed.scan_id).detail["message"] == typed.message
    assert feed == [(ticket.event_id, [scanned.scan_id, typed.scan_id])]


def test_inside_a_callers_transaction_the_row_is_part_of_it(ticket, held):
    with transaction.atomic():
        result = redeem_ticket(event=ticket.event, text=_forged(ticket))
        assert ScanLog.objects.filter(pk=result.scan_id).exists()


def test_with_the_delay_at_zero_every_row_is_written_before_its_answer(
    ticket, settings
):
    settings.SCAN_LOG_WRITE_BEHIND_SECONDS = 0

    result = redeem_ticket(event=ticket.event, text=_forged(ticket))

    assert ScanLog.objects.filter(pk=result.scan_id).exists()


def test_when_too_many_rows_wait_the_door_writes_its_own(ticket, held, monkeypatch):
    monkeypatch.setattr(scan_log_writer, "MAX_WAITING_ROWS", 1)
    waiting = redeem_ticket(event=ticket.event, text="T1.first")

    written = redeem_ticket(event=ticket.event, text="T1.second")

    assert list(ScanLog.objects.values_list("pk", flat=True)) == [written.scan_id]
    assert scan_log_writer.flush()
    assert ScanLog.objects.filter(pk=waiting.scan_id).exists()


@pytest.mark.parametrize(
    "failure", [OperationalError("the database went away"), ValueError("a bug")]
)
def test_a_batch_that_fails_is_kept_and_written_on_a_retry(
    ticket, held, monkeypatch, failure
):
    monkeypatch.setattr(scan_log_writer, "RETRY_DELAYS", (0.01,))
    real_insert = scan_log_writer._insert
    calls = []

    def down_once(rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise failure
        return real_insert(rows)

    monkeypatch.setattr(scan_log_writer, "_insert", down_once)
    result = redeem_ticket(event=ticket.event, text=_forged(ticket))

    assert scan_log_writer.flush()
    assert calls == [1, 1]
    assert ScanLog.objects.filter(pk=result.scan_id).exists()


def test_rows_of_an_event_deleted_meanwhile_are_dropped_and_the_rest_written(
    ticket, held
):
    other = make_door_open_event(name="Cancelled")
    kept = redeem_ticket(event=ticket.event, text="T1.kept")
    redeem_ticket(event=other, text="T1.dropped")
    other.delete()

    assert scan_log_writer.flush()
    assert list(ScanLog.objects.values_list("pk", flat=True)) == [kept.scan_id]
    later = redeem_ticket(event=ticket.event, text="T1.later")
    assert scan_log_writer.flush(), "the writer kept going"
    assert ScanLog.objects.filter(pk=later.scan_id).exists()
