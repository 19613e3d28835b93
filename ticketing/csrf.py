"""Django's CSRF token masking, same algorithm, a fraction of the CPU.

Every form POST unmasks its token, and every page with a form masks one
(a sold-out refusal re-renders the buy form). Django draws the 32-character
mask with one `secrets.choice` per character (an OS random read each) and
ciphers it through nested generators with `str.index` per character: about
0.3 M instructions to mask and 0.12 M to unmask, a seventh of a sold-out
refusal. These give the same tokens for the same mask: one read of the OS's
random source for the mask, each character drawn uniformly from the same 62
by rejection sampling, and a lookup table instead of `str.index`.

`install()` puts them in place of Django's (core's AppConfig.ready); the
tests check them against Django's own.
"""

from secrets import token_bytes

from django.middleware import csrf

CHARS = csrf.CSRF_ALLOWED_CHARS
SECRET_LENGTH = csrf.CSRF_SECRET_LENGTH
_WIDTH = len(CHARS)
# Random bytes at or above the largest multiple of 62 that fits a byte are
# dropped, so `byte % 62` is uniform over the characters.
_REJECTED = bytes(range(256 - 256 % _WIDTH, 256))
# byte value -> the character at (value % 62): turns random bytes, and sums
# or differences of positions, into characters.
_TO_CHAR = bytes(ord(CHARS[value % _WIDTH]) for value in range(256))
# character -> its position in CHARS; any other byte -> 0xFF (caught below).
_TO_POSITION = bytes(
    CHARS.index(chr(value)) if chr(value) in CHARS else 0xFF for value in range(256)
)
# 62 in every byte: added before subtracting positions (0..61) so that no
# byte of the difference goes below zero and borrows from its neighbour.
_NO_BORROW = int.from_bytes(bytes([_WIDTH]) * SECRET_LENGTH, "big")

DJANGO_GET_NEW_CSRF_STRING = csrf._get_new_csrf_string
DJANGO_MASK_CIPHER_SECRET = csrf._mask_cipher_secret
DJANGO_UNMASK_CIPHER_TOKEN = csrf._unmask_cipher_token


def new_csrf_string() -> str:
    """32 characters drawn uniformly from CHARS by the OS's random source."""
    while True:
        drawn = token_bytes(SECRET_LENGTH + 8).translate(_TO_CHAR, _REJECTED)
        if len(drawn) >= SECRET_LENGTH:  # all but about 1 in 300,000 draws
            return drawn[:SECRET_LENGTH].decode("ascii")


def _positions(text: str) -> bytes:
    """Each character's position in CHARS, one byte each; ValueError (as
    Django's str.index raises) for any other character."""
    try:
        positions = text.encode("ascii").translate(_TO_POSITION)
    except UnicodeEncodeError:
        positions = b"\xff"
    if b"\xff" in positions:
        raise ValueError("substring not found")
    return positions


def mask_cipher_secret(secret: str) -> str:
    """A new random mask, then the secret shifted by it (Django's token):
    each character's position plus its mask character's, modulo 62, all
    positions at once as the bytes of two integers (61 + 61 never carries)."""
    mask = csrf._get_new_csrf_string()
    length = min(len(secret), len(mask))
    total = int.from_bytes(_positions(secret[:length]), "big") + int.from_bytes(
        _positions(mask[:length]), "big"
    )
    return mask + total.to_bytes(length, "big").translate(_TO_CHAR).decode("ascii")


def unmask_cipher_token(token: str) -> str:
    """The secret a masked token carries: the second half's positions less
    the first half's, modulo 62."""
    cipher, mask = token[SECRET_LENGTH:], token[:SECRET_LENGTH]
    length = min(len(cipher), len(mask))
    difference = (
        int.from_bytes(_positions(cipher[:length]), "big")
        + (_NO_BORROW >> (8 * (SECRET_LENGTH - length)))
        - int.from_bytes(_positions(mask[:length]), "big")
    )
    return difference.to_bytes(length, "big").translate(_TO_CHAR).decode("ascii")


def install() -> None:
    csrf._get_new_csrf_string = new_csrf_string
    csrf._mask_cipher_secret = mask_cipher_secret
    csrf._unmask_cipher_token = unmask_cipher_token
