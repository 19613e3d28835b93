import base64
import itertools
import uuid

import pytest

from core.tickets.signing import (
    InvalidTicketCode,
    _signature_from,
    sign_ticket,
    verify_ticket_code,
)


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


def test_signature_text_decodes_as_base32_and_spare_bits_are_refused():
    """The signature's decoding (one int(), not base64) reads what base64 reads,
    and a text with a spare bit set, which base64 would read the same, is
    refused: only the canonical text of a signature verifies."""
    payload = sign_ticket(event_id=uuid.uuid4(), ticket_code="ABCD234567")
    signature = payload.rsplit(".", 1)[1]
    assert _signature_from(signature) == base64.b32decode(signature + "=")
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".index(signature[-1])
    for spare_bit in (1, 2, 4):
        altered = signature[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[last ^ spare_bit]
        assert base64.b32decode(altered + "=") == base64.b32decode(signature + "=")
        with pytest.raises(InvalidTicketCode):
            verify_ticket_code(payload[: -len(signature)] + altered)


def test_a_text_verified_under_one_key_is_not_remembered_under_the_next(settings):
    """Verified texts are remembered per key: after QR_SIGNING_SECRET changes,
    a text that verified (and is remembered) under the old key is refused."""
    payload = sign_ticket(event_id=uuid.uuid4(), ticket_code="ABCD234567")
    assert verify_ticket_code(payload).ticket_code == "ABCD234567"
    assert verify_ticket_code(f" {payload.lower()}\n").ticket_code == "ABCD234567"
    settings.QR_SIGNING_SECRET = "A" * 43 + "="
    with pytest.raises(InvalidTicketCode):
        verify_ticket_code(payload)


def test_the_servers_check_agrees_with_verification_by_the_public_key():
    """The server checks a text by signing its message again (Ed25519 is
    deterministic); door phones verify with the public key. Both must take
    this server's tickets and refuse the same altered ones, including a
    real signature moved onto another ticket's code."""
    from nacl.exceptions import BadSignatureError

    from core.tickets.signing import public_key

    def verified_by_public_key(text: str) -> bool:
        message, signature = text.rsplit(".", 1)
        try:
            public_key().verify(message.encode(), _signature_from(signature))
        except (BadSignatureError, InvalidTicketCode, ValueError):
            return False
        return True

    def checked_by_server(text: str) -> bool:
        try:
            verify_ticket_code(text)
        except InvalidTicketCode:
            return False
        return True

    event_id = uuid.uuid4()
    real = [
        sign_ticket(event_id=event_id, ticket_code=f"CODE{n:04d}") for n in range(20)
    ]
    swapped = [
        a.rsplit(".", 1)[0] + "." + b.rsplit(".", 1)[1]
        for a, b in itertools.pairwise(real)
    ]
    altered = [
        text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
        for text in real[:3]
        for i in range(-103, 0, 7)
    ]
    assert all(verified_by_public_key(t) and checked_by_server(t) for t in real)
    for text in swapped + altered:
        assert not verified_by_public_key(text), text
        assert not checked_by_server(text), text
