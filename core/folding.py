"""How the door compares names: case and accents do not matter.

The door page's offline search folds names the same way in the browser
(`fold` in static/js/door.js), so a guest is found by the same words
online and offline.
"""

import unicodedata


def fold(text: str) -> str:
    """`text` lowercased, with accents and other combining marks removed and
    runs of whitespace made one space: "  Ana  GARCÍA " is "ana garcia".

    Compatibility forms are spelled out ("ﬁ" is "fi"); letters that are not
    an accented letter stay as they are ("ø", "ß", "ł").
    """
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return " ".join(bare.lower().split())
