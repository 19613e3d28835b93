"""Texts in GSM-7, the SMS alphabet (GSM 03.38).

One character outside it (a curly quote or a dash from a phone keyboard,
an accent it lacks, an emoji) makes the whole text UCS-2: 70 characters a
segment instead of 160, so two or three times the segments billed. Typed
text is spelled in GSM-7 here, where it can be, and shortened between words
without an ellipsis ("…" is UCS-2 too).
"""

import math
import re
import unicodedata

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Each takes two septets (an escape, then the character).
GSM_EXTENDED = frozenset("^{}\\[~]|€")

# What phone keyboards, word processors and Django's filters put in text,
# spelled in GSM-7; "" drops it (zero-width joiners, emoji variation marks).
_SPELLED = {
    **dict.fromkeys("‘’‚‛′´`ʼ‹›", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−·•", "-"),
    **dict.fromkeys("\u00a0\u2002\u2003\u2007\u2009\u200a\u202f\u3000\t", " "),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\ufe0e\ufe0f", ""),
    "…": "...",
    "×": "x",
    "→": "->",
    "←": "<-",
    "⁄": "/",
    # Letters Unicode does not decompose into a GSM-7 letter and an accent.
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "œ": "oe",
    "Œ": "OE",
    "þ": "th",
    "Þ": "Th",
    "ı": "i",
}


def _spelled(char: str) -> str:
    if char in GSM_BASIC or char in GSM_EXTENDED:
        return char
    if char in _SPELLED:
        return _SPELLED[char]
    # "í" is "i" and an accent; the "fi" ligature is "f" and "i".
    bare = "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    )
    if bare and all(c in GSM_BASIC or c in GSM_EXTENDED for c in bare):
        return bare
    if unicodedata.category(char) in ("So", "Sk", "Mn", "Me", "Cf"):
        return ""  # an emoji, a skin tone, a stray accent: no letter lost
    return char  # a letter of another script: kept, even as UCS-2


def gsm7(text: str) -> str:
    """`text` spelled in GSM-7 where it can be: curly quotes straight, dashes
    and bullets "-", "…" "...", odd spaces plain, accents GSM-7 lacks dropped
    ("í" "i"; "é" and "ü" are GSM-7), emoji gone. Letters of other scripts
    stay as they are."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        return text
    return "".join(_spelled(c) for c in text)


def is_gsm7(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENDED for c in text)


def segments(text: str) -> int:
    """How many SMS a network bills for `text`: 160 septets in one, 153 a
    segment when split; 70 and 67 once any character is outside GSM-7."""
    if is_gsm7(text):
        septets = len(text) + sum(c in GSM_EXTENDED for c in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


# What a shortened part may end on before what follows it (", 21:00", ": ").
_TRAILING = " ,;:-–—."


def clip(text: str, most: int) -> str:
    """`text` in GSM-7 on one line, cut between words to at most `most`
    characters, with no ellipsis and no punctuation left dangling."""
    text = " ".join(gsm7(text or "").split())
    if len(text) <= most:
        return text
    cut = text[: most + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space > most // 2 else text[:most]
    return cut.rstrip(_TRAILING)


def sentence(text: str, most: int) -> str:
    """clip(), ended by one full stop: "Artist ill." stays so, "Sorry!" too,
    and a cut, a "…" or a "..." ends in ".", never in "..", ".." or ",."."""
    text = clip(text, most).rstrip(_TRAILING)
    if not text:
        return ""
    return text if text.endswith(("!", "?")) else f"{text}."


_LINK_AT_END = re.compile(r"\s*(https?://\S+)$")


def fit(text: str, most_segments: int) -> str:
    """`text` cut between words before its closing link until it fits in
    `most_segments`: the last resort when shortening its typed parts was
    not enough. The link is kept whole."""
    if segments(text) <= most_segments:
        return text
    found = _LINK_AT_END.search(text)
    head, link = (text[: found.start()], found.group(1)) if found else (text, "")
    words = head.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(_TRAILING)
        candidate = f"{candidate}: {link}" if link else candidate
        if segments(candidate) <= most_segments:
            return candidate
    return link or text
