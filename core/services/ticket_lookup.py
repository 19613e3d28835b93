"""Find my tickets: email a customer who lost their confirmation the links
to their orders, found by the address they bought with.

The page that asks says the same whether or not anything was found, so the
address's owner learns what it holds from their inbox and nobody else
learns anything (purchase/find_tickets_views.py). How often it may be asked
is the caller's to limit (scanner/throttle.py).
"""

import logging
import zoneinfo
from datetime import datetime

from django.db import transaction
from django.utils import dateformat, timezone

from core.models import OutboundMessage
from core.notify.outbox import queue_email
from core.queries.ticket_lookup import FoundOrder, orders_to_find
from core.services.checkout import clean_email
from core.sites import site_url
from core.templatetags.zones import zone_abbreviation

logger = logging.getLogger(__name__)

KIND = "tickets_lookup"


def lookup_entry(found: FoundOrder) -> dict:
    """One order as the tickets_lookup email lists it: plain JSON, kept in the
    message's context, so a resend says what the first one said."""
    order, event = found.order, found.order.event
    local_start = timezone.localtime(
        event.starts_at, zoneinfo.ZoneInfo(event.time_zone)
    )
    return {
        "event_name": event.name,
        "venue": event.venue,
        "when": f"{dateformat.format(local_start, 'D j M Y, H:i')} "
        f"{zone_abbreviation(local_start)}".strip(),
        "order_code": order.code,
        "valid": found.valid,
        "used": found.used,
        # The link message_context gives each order's own emails (order_url).
        "url": site_url("purchase", "purchase:order", order.token, absolute=True),
    }


@transaction.atomic
def send_tickets_lookup(
    *, email: str, now: datetime | None = None
) -> OutboundMessage | None:
    """Queue one `tickets_lookup` email listing the paid orders bought with
    `email` for events to come or just past (orders_to_find); None, and
    nothing queued, when there are none.

    It goes to the address the latest of those orders holds (the one its
    tickets were sent to), which matches `email` but for case. Takes no
    locks. Raises InvalidRequest (invalid_email) for a malformed address.
    Logs how many orders it listed, never the address.

    An address without orders costs what one with them does: its message
    row is written too, and taken back before the transaction commits. The
    write and the commit are most of a lookup's time, and a page that took
    longer for an address with tickets would tell whoever asked what the
    same answer hides.
    """
    email = clean_email(email)
    found = orders_to_find(email, now=now or timezone.now())
    latest = max(found, key=lambda item: item.order.created_at).order if found else None
    message = queue_email(
        kind=KIND,
        to=latest.customer_email if latest else email,
        context={"orders": [lookup_entry(item) for item in found]},
    )
    if not found:
        OutboundMessage.objects.filter(pk=message.pk).delete()
        logger.info("Tickets lookup: no orders to list; nothing sent")
        return None
    logger.info("Tickets lookup: message %s lists %d orders", message.pk, len(found))
    return message
