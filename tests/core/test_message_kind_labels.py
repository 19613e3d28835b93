"""The console names each kind of queued message in the owner's words."""

import re
from pathlib import Path

from core.models import OutboundMessage
from core.models.notify import KIND_LABELS

SERVICES = Path(__file__).resolve().parents[2] / "core" / "services"


def test_cancelled_free_tickets_read_as_free_tickets_not_comps():
    message = OutboundMessage(kind="comp_cancelled")

    assert message.kind_label == "Free tickets cancelled"


def test_every_kind_the_services_queue_has_a_label():
    """A kind without one shows its code ("Comp cancelled")."""
    kinds = {
        kind
        for path in SERVICES.glob("*.py")
        # kind="..." in a call, or a module's KIND = "..." constant.
        for kind in re.findall(
            r'(?:\bkind=|\b[A-Z_]*KIND\s*=\s*)"([a-z_]+)"', path.read_text()
        )
    }

    assert kinds, "no kinds found: the pattern no longer matches the services"
    assert sorted(kinds - set(KIND_LABELS)) == []
