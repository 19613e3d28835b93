"""Messages rendered by convention from their `kind`.

Email: templates/emails/<kind>_subject.txt, <kind>.txt and (optional)
<kind>.html, which extends emails/base.html. SMS: templates/sms/<kind>.txt.
Each is rendered with `message`, `order`, `event`, `organisation_name`,
the event's `event_url`, and, when there is an order, its `order_url`,
`lines`, `order_money` (paid, refunded, net: core.queries.money) and
`tickets` (those still valid, each with its absolute `url` and the `cid`
of its QR image); then the row's own `context`, which none of
these replaces: a message says what it was queued to say (the refunded
tickets, say), not what the order holds when it is sent. Kinds listed in
EMAIL_EXTRAS get attachments.
"""

import contextlib
from collections.abc import Callable
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import SafeMIMEMultipart
from django.template import Context, TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.utils.functional import SimpleLazyObject

from core.models import OutboundMessage, Ticket
from core.notify import gsm
from core.notify.ics import event_ics
from core.queries.money import OrderMoney, money_of_orders
from core.sites import site_url
from core.tickets.qr import qr_png


class EmailWithInlineImages(EmailMultiAlternatives):
    """An email whose inline images (attached MIME parts with a Content-ID)
    travel with its HTML part, as RFC 2387 has it:
    mixed[alternative[text, related[html, images...]], files...].

    Django puts them beside the alternatives in multipart/mixed, where Apple
    Mail and Outlook show every QR code again, unlabelled, below the message.
    They stay in `attachments`, so a backend that builds its own message
    (SendGrid) still finds them there.
    """

    def _create_message(self, msg):
        msg = self._create_alternatives(msg)
        inline = [
            part
            for part in self.attachments
            if isinstance(part, MIMEBase) and part["Content-ID"]
        ]
        parts = msg.get_payload() if msg.is_multipart() else []
        html_at = next(
            (
                i
                for i, part in enumerate(parts)
                if part.get_content_type() == "text/html"
            ),
            None,
        )
        if not inline or html_at is None:
            return self._create_attachments(msg)
        encoding = self.encoding or settings.DEFAULT_CHARSET
        related = SafeMIMEMultipart(_subtype="related", encoding=encoding)
        related.set_param("type", "text/html")
        related.attach(parts[html_at])
        for part in inline:
            related.attach(part)
        parts[html_at] = related
        files = [a for a in self.attachments if all(a is not p for p in inline)]
        if not files:
            return msg
        mixed = SafeMIMEMultipart(_subtype=self.mixed_subtype, encoding=encoding)
        mixed.attach(msg)
        for attachment in files:
            if isinstance(attachment, MIMEBase):
                mixed.attach(attachment)
            else:
                mixed.attach(self._create_attachment(*attachment))
        return mixed


def message_context(message: OutboundMessage) -> dict:
    """What a message's templates read: what is known of its order and event
    now, under what the row was queued with (see the module's docstring)."""
    order = message.order
    # A row written with its order alone is about the order's event.
    event = message.event or (order.event if order is not None else None)
    context = {
        "message": message,
        "order": order,
        "event": event,
        "organisation_name": settings.ORGANISATION_NAME,
        "support_email": settings.SUPPORT_EMAIL,
    }
    if event is not None:
        context["event_url"] = site_url(
            "purchase", "purchase:event", event.slug, absolute=True
        )
    if order is not None:
        context["order_url"] = site_url(
            "purchase", "purchase:order", order.token, absolute=True
        )
        context["lines"] = list(order.lines.select_related("ticket_type"))
        # What the order came to (core.queries.money), read only by a
        # template that asks: a confirmation sent again after a partial
        # refund says the net amount and what was refunded.
        context["order_money"] = SimpleLazyObject(
            lambda: money_of_orders([order.pk]).get(order.pk, OrderMoney())
        )
        context["tickets"] = [
            {
                "ticket": ticket,
                "url": site_url(
                    "purchase", "purchase:ticket", ticket.token, absolute=True
                ),
                "cid": f"qr-{ticket.code}",
            }
            for ticket in order.tickets.select_related("ticket_type")
            .exclude(status=Ticket.Status.VOID)
            .order_by("created_at", "code")
        ]
    return context | _queued_context(message)


def _queued_context(message: OutboundMessage) -> dict:
    queued = dict(message.context or {})
    if message.kind == "tickets_refunded" and "refunded_tickets" not in queued:
        # Rows queued before the key had its own name, still resent from
        # the console, called the refunded tickets `tickets`.
        queued["refunded_tickets"] = queued.pop("tickets", [])
    return queued


def _attach_ticket_qrs(email: EmailMultiAlternatives, context: dict) -> None:
    for item in context.get("tickets", []):
        image = MIMEImage(qr_png(item["ticket"].qr_payload), "png")
        image.add_header("Content-ID", f"<{item['cid']}>")
        image.add_header(
            "Content-Disposition",
            "inline",
            filename=f"ticket-{item['ticket'].code}.png",
        )
        email.attach(image)


def _attach_calendar(email: EmailMultiAlternatives, context: dict) -> None:
    event = context.get("event")
    if event is not None:
        ics = event_ics(
            event, order=context.get("order"), url=context.get("order_url", "")
        )
        email.attach(f"{event.slug}.ics", ics, "text/calendar")


def _attach_cancelled_calendar(email: EmailMultiAlternatives, context: dict) -> None:
    """A file taking the confirmation's calendar entry away (same UID,
    METHOD:CANCEL), once no ticket of the order is left to admit."""
    event = context.get("event")
    if event is None or context.get("tickets_left"):
        return
    ics = event_ics(
        event,
        order=context.get("order"),
        url=context.get("order_url", ""),
        cancelled_at=context["message"].created_at,
    )
    email.attach(f"{event.slug}.ics", ics, "text/calendar")


EMAIL_EXTRAS: dict[str, tuple[Callable, ...]] = {
    "order_confirmation": (_attach_ticket_qrs, _attach_calendar),
    # The same UID, a higher SEQUENCE: moves the confirmation's calendar entry.
    "event_changed": (_attach_calendar,),
    # The same UID, METHOD:CANCEL: takes it away (with no tickets left).
    "event_cancelled": (_attach_cancelled_calendar,),
    "order_refunded": (_attach_cancelled_calendar,),
    "tickets_refunded": (_attach_cancelled_calendar,),
    "comp_cancelled": (_attach_cancelled_calendar,),
}


def render_plain(template_name: str, context: dict) -> str:
    """A subject, text part or SMS: plain text, so nothing is HTML-escaped.

    Rendered as HTML, "Jack's" would reach the customer as "Jack&#x27;s".
    """
    template = get_template(template_name).template
    return template.render(Context(context, autoescape=False))


# Emails to staff, not customers: their questions go to the owner, not to
# the organiser's customer address.
STAFF_KINDS = frozenset({"staff_invite"})


def _reply_to(kind: str) -> list[str]:
    """Where a customer's reply goes: SUPPORT_EMAIL (the footer says so);
    none when it is not set, as the From address may not be read."""
    if settings.SUPPORT_EMAIL and kind not in STAFF_KINDS:
        return [settings.SUPPORT_EMAIL]
    return []


def _sender() -> str:
    """DEFAULT_FROM_EMAIL, named after the organisation when it has no name
    of its own: the inbox shows "Blue Note Bar", not an address."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    if name or not address:
        return settings.DEFAULT_FROM_EMAIL
    return formataddr((settings.ORGANISATION_NAME, address))


def build_email(message: OutboundMessage) -> EmailMultiAlternatives:
    """The Django email for a queued row (TemplateDoesNotExist if its kind has none).

    A customer's (not STAFF_KINDS) ends with a footer saying who sent it and
    where to ask (emails/_footer.*: SUPPORT_EMAIL, the Reply-To).
    """
    kind = message.kind
    context = message_context(message) | {"footer": kind not in STAFF_KINDS}
    subject = " ".join(render_plain(f"emails/{kind}_subject.txt", context).split())
    text = render_plain(f"emails/{kind}.txt", context)
    if context["footer"]:
        text = f"{text.rstrip()}\n\n{render_plain('emails/_footer.txt', context)}\n"
    email = EmailWithInlineImages(
        subject,
        text,
        _sender(),
        [message.to],
        reply_to=_reply_to(kind),
    )
    with contextlib.suppress(TemplateDoesNotExist):
        email.attach_alternative(
            render_to_string(f"emails/{kind}.html", context), "text/html"
        )
    for extra in EMAIL_EXTRAS.get(kind, ()):
        extra(email, context)
    return email


# Every text's budget (templates/sms/*.txt): two segments, 306 GSM-7
# characters (fewer with € or other two-septet characters).
SMS_SEGMENTS = 2
# Shares of their length the typed parts ({% sms_clip %}) keep, tried in turn
# until the text fits.
SMS_SHARES = (1, 0.85, 0.7, 0.55, 0.4, 0.3, 0.2, 0.1, 0)


def build_sms(message: OutboundMessage) -> str:
    """The text of a queued row, in GSM-7 (core.notify.gsm) on one line and
    within SMS_SEGMENTS: its typed parts (names, venues, a reason) are
    shortened between words until it fits, the link never."""
    template = get_template(f"sms/{message.kind}.txt").template
    context = message_context(message)
    text = ""
    for share in SMS_SHARES:
        rendered = template.render(
            Context(context | {"sms_share": share}, autoescape=False)
        )
        text = " ".join(gsm.gsm7(rendered).split())
        if gsm.segments(text) <= SMS_SEGMENTS:
            return text
    return gsm.fit(text, SMS_SEGMENTS)
