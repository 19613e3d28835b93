"""Pages rendered once per state, then filled in for each request.

In a rush, thousands of buyers ask for the same event page: to load it, and
again when they are refused as sold out. Between two changes to the event's
figures, each of them gets the same page except for the CSRF token and what
they typed. Rendering event.html took about 1.2 ms. Filling in a shell
rendered once takes a few µs.

A shell is rendered without the request, so no context processors run.
Everything it shows comes from the context its caller builds, and the caller's
key must name all of it. Nothing about one visitor can reach another's page.
The holes are filled in HTML-escaped, as the template would have escaped them.
Shells are kept per process, a few dozen at most, in bytes as responses are.
They are dropped when settings change (tests) and when the template is
compiled again (a reload after an edit).
"""

import html
import re
import secrets
from collections.abc import Callable, Hashable

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.loader import get_template

MAX_SHELLS = 64

# Letters and digits only, so autoescaping leaves a hole's marker unchanged.
# It is new in each process, so text a visitor types cannot pose as a hole.
_MARK = secrets.token_hex(8)
_HOLE = re.compile(rf"hole{_MARK}([a-z_]+)end")

_shells: dict[Hashable, "Shell"] = {}


class Shell:
    """Rendered HTML split at its holes, in bytes as a response sends it.

    Encoded once: the page has characters beyond Latin-1 (a dash, a euro
    sign), and encoding the whole of it again for each response cost more
    than filling it in.
    """

    def __init__(self, page: str) -> None:
        pieces = _HOLE.split(page)
        self.charset = settings.DEFAULT_CHARSET
        self.parts = [piece.encode(self.charset) for piece in pieces[0::2]]
        self.holes = pieces[1::2]

    def fill(self, values: dict[str, str]) -> bytes:
        """The page with the holes filled in, as its response's body.

        Each value is escaped once, however many holes it fills, with the
        function Django's escape() wraps (without its check for lazy text).
        """
        filled = {
            name: html.escape(str(value)).encode(self.charset)
            for name, value in values.items()
        }
        out = [self.parts[0]]
        for name, part in zip(self.holes, self.parts[1:], strict=True):
            out.append(filled[name])
            out.append(part)
        return b"".join(out)


def hole(name: str) -> str:
    """What to put in a shell's context where a request's value goes."""
    return f"hole{_MARK}{name}end"


def shell_for(template_name: str, key: Hashable, context: Callable[[], dict]) -> Shell:
    """The shell of `template_name` for `key`, rendered from `context()` if new.

    The compiled template is part of the key: when the template loaders reload
    it after an edit, pages rendered from the old one are not used again.
    """
    template = get_template(template_name)
    full_key = (template.template, key)
    shell = _shells.get(full_key)
    if shell is None:
        shell = Shell(template.render(context()))
        if len(_shells) >= MAX_SHELLS:
            _shells.clear()
        _shells[full_key] = shell
    return shell


@receiver(setting_changed)
def _forget_shells(**kwargs) -> None:
    _shells.clear()
