"""Every HTML email read on a phone 320-390 px wide: no word of a table cell
(a label as "Tickets" or "When", a value) broken across lines ("Ticke / ts"),
and nothing wider than the screen."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.models import OutboundMessage
from core.notify.rendering import build_email
from core.services.event_cancellation import cancel_event
from tests.core.notify.samples import queue_every_kind
from tests.core.services.test_event_changes import _edit
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

MADRID = ZoneInfo("Europe/Madrid")
FRIDAY_9PM = datetime(2037, 12, 11, 21, 0, tzinfo=MADRID)

# Each word of a cell of a table inside the card, and whether its line
# boxes sit on more than one line.
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll("table table table td")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set(
          [...range.getClientRects()].map((r) => Math.round(r.bottom))
        );
        if (lines.size > 1) broken.push(word[0]);
      }
    }
  }
  return broken;
}"""


def _every_html_email(owner) -> dict[str, str]:
    rendered = {}
    for (channel, kind), message in queue_every_kind().items():
        email = build_email(message)
        if channel == "email" and email.alternatives:
            rendered[kind] = email.alternatives[0][0]
    event = EventFactory(
        name="Perreo Fridays",
        slug="perreo",
        venue="Sala Apolo, Barcelona",
        time_zone="Europe/Madrid",
        starts_at=FRIDAY_9PM,
        doors_at=FRIDAY_9PM - timedelta(hours=1),
        currency="eur",
    )
    general = TicketTypeFactory(event=event, name="General", price=Decimal("20.00"))
    make_paid_order(general, 2, name="Ana")
    _edit(
        event,
        owner,
        starts_at=FRIDAY_9PM + timedelta(days=1),
        venue="Razzmatazz, Carrer dels Almogàvers 122, Barcelona",
        name="Perreo Fridays: Winter Edition",
    )
    changed = OutboundMessage.objects.get(kind="event_changed", channel="email")
    rendered["event_changed"] = build_email(changed).alternatives[0][0]
    cancel_event(actor=owner, event_id=event.id, reason="The artist is ill")
    cancelled = OutboundMessage.objects.get(kind="event_cancelled", channel="email")
    rendered["event_cancelled"] = build_email(cancelled).alternatives[0][0]
    return rendered


@pytest.mark.parametrize("width", [320, 360, 390])
def test_no_email_breaks_a_word_of_its_tables_on_a_phone(owner, page, width):
    emails = _every_html_email(owner)
    assert {"waitlist_offer", "event_changed", "order_confirmation"} <= set(emails)
    page.set_viewport_size({"width": width, "height": 800})
    broken, wide = {}, {}
    for kind, html in emails.items():
        page.set_content(html)
        if words := page.evaluate(BROKEN_WORDS):
            broken[kind] = words
        if (scroll := page.evaluate("document.documentElement.scrollWidth")) > width:
            wide[kind] = scroll
    assert broken == {}
    assert wide == {}
