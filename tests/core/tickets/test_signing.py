import uuid

import pytest

from core.tickets.signing import InvalidTicketCode, sign_ticket, verify_ticket_code


def test_signed_payload_verifies_and_uses_qr_alphanumeric_characters():
    event_id = uuid.uuid4()
    payload = sign_ticket(event_id=event_id, ticket_code="ABCD234567")
    assert set(payload) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    verified = verify_ticket_code(payload)
    assert verified.ticket_code == "ABCD234567"
    assert verified.event_key == str(event_id).replace("-", "")[:8].upper()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p[:-1] + ("A" if p[-1] != "A" else "B"),  # altered last character
        lambda p: p[:-20]
        + ("A" if p[-20] != "A" else "B")
        + p[-19:],  # altered signature
        lambda p: p.replace("ABCD234567", "ABCD234568"),  # altered ticket code
        lambda p: p[:40],  # truncated
        lambda p: "",
        lambda p: "x" * 10_000,
        lambda p: "\x00\xff binary \u202e",
    ],
)
def test_forged_or_damaged_payloads_are_rejected(mangle):
    payload = sign_ticket(event_id=uuid.uuid4(), ticket_code="ABCD234567")
    with pytest.raises(InvalidTicketCode):
        verify_ticket_code(mangle(payload))


def test_a_different_key_cannot_mint_tickets(settings):
    payload = sign_ticket(event_id=uuid.uuid4(), ticket_code="ABCD234567")
    settings.QR_SIGNING_SECRET = "A" * 43 + "="
    with pytest.raises(InvalidTicketCode):
        verify_ticket_code(payload)
