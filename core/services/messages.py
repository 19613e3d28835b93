"""Staff actions on the outbox."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.exceptions import InvalidRequest, NotFound, PermissionRefused
from core.models import Order, OutboundMessage, Role, StaffInvite, Ticket
from core.notify.outbox import queue_email
from core.phones import message_time_zone
from core.queries.staff import role_of
from core.services.audit import record_change
from core.services.checkout import clean_email, clean_phone
from core.services.locks import lock_order


@dataclass(frozen=True)
class Resent:
    """What a resend from an order's page did: the message queued again, and
    the order's previous address when it was corrected to the new one."""

    message: OutboundMessage
    corrected_from: str = ""


@transaction.atomic
def resend_order_tickets(
    *, order_id, to: str = "", correct_order: bool = False, actor=None
) -> Resent:
    """Queue the order's confirmation (its tickets) again, to the customer's
    address or a corrected one: the customer lost it, or typed it wrong.

    With `correct_order` and an address other than the order's, the order's
    customer email becomes the new one, and so does the guest email of its
    tickets that had the old one, so the refund notice and every later email
    go there too; the change is in the audit log under `actor`.

    A confirmation that failed, or one still waiting to go out to this
    address (the provider was down), is queued again now (locked, as
    resend_message does) rather than a copy beside it: a failed one stops showing
    on the Messages page, where a second resend would send the tickets twice,
    and a waiting one does not reach the customer twice once the provider is
    back.
    Locks the order, then that message. Raises NotFound, InvalidRequest for
    a bad address, or InvalidRequest when the order has no tickets to send
    (not paid, or refunded).
    """
    order = _lock_order(order_id)
    if order.status != Order.Status.PAID:
        raise InvalidRequest(
            "Only a paid order has tickets to send.", code="order_not_paid"
        )
    to = clean_email((to or "").strip() or order.customer_email)
    corrected_from = ""
    if correct_order and to.lower() != order.customer_email.lower():
        corrected_from = _correct_contact(
            order, field="customer_email", guest_field="guest_email", to=to, actor=actor
        )
    unsent = (
        order.messages.filter(
            channel=OutboundMessage.Channel.EMAIL, kind="order_confirmation"
        )
        .filter(
            Q(status=OutboundMessage.Status.FAILED)
            | Q(status=OutboundMessage.Status.QUEUED, to__iexact=to)
        )
        .order_by("-pk")
        .first()
    )
    if unsent is not None:
        message = _requeue(_lock_message(unsent.pk), to=to)
    else:
        message = queue_email(kind="order_confirmation", to=to, order=order)
    return Resent(message=message, corrected_from=corrected_from)


@transaction.atomic
def resend_order_text(
    *, order_id, message_id: int, to: str = "", correct_order: bool = False, actor=None
) -> Resent:
    """Queue one of an order's texts again from its page, optionally to a
    corrected phone number.

    With `correct_order` and a number other than the order's, the order's
    customer phone becomes the new one (and the guest phone of its tickets
    that had the old one), recorded in the audit log under `actor`. Locks
    the order, then the message. Raises NotFound when the message is not a
    text of this order, InvalidRequest for a bad number, or InvalidRequest
    when the text went out already or has not been tried yet (only one that
    did not reach the customer is offered again).
    """
    order = _lock_order(order_id)
    message = _lock_message(
        message_id, order=order, channel=OutboundMessage.Channel.SMS
    )
    if message is None:
        raise NotFound("That text is not one of this order's.")
    _refuse_unless_undelivered(message)
    to = clean_phone(to, time_zone=order.event.time_zone)
    corrected_from = ""
    if correct_order and to and to != order.customer_phone:
        corrected_from = _correct_contact(
            order, field="customer_phone", guest_field="guest_phone", to=to, actor=actor
        )
    message = _requeue(message, to=to)
    return Resent(message=message, corrected_from=corrected_from)


def _lock_order(order_id) -> Order:
    try:
        return lock_order(order_id)
    except Order.DoesNotExist as exc:
        raise NotFound("That order does not exist.") from exc


def _correct_contact(
    order: Order, *, field: str, guest_field: str, to: str, actor
) -> str:
    """Set the locked order's email or phone, and its tickets' where they were
    the same; record it. Returns the previous value.

    The order's messages still waiting to go to the previous address (the
    provider was down, or the worker has not reached them) go to the new one
    instead, now: a typo'd address may be someone else's. Their attempts
    start again from zero, so a send to the old address under way as this
    commits is not recorded as sent (core.notify.delivery matches its row
    by attempts) and the message goes out again, to the new one.
    """
    previous = getattr(order, field)
    setattr(order, field, to)
    order.save(update_fields=[field, "updated_at"])
    is_email = field == "customer_email"
    # An email address is the same in other letters; a phone number exactly.
    same = "__iexact" if is_email else ""
    now = timezone.now()
    updated = Ticket.objects.filter(
        order=order, **{f"{guest_field}{same}": previous}
    ).update(**{guest_field: to, "updated_at": now})
    order.messages.filter(
        status=OutboundMessage.Status.QUEUED,
        channel=OutboundMessage.Channel.EMAIL
        if is_email
        else OutboundMessage.Channel.SMS,
        **{f"to{same}": previous},
    ).update(to=to, attempts=0, next_attempt_at=now)
    record_change(
        actor=actor,
        action="order.email" if is_email else "order.phone",
        obj=order,
        object_repr=f"{order.code} · {order.customer_name}",
        event=order.event,
        before={field: previous},
        after={field: to, "tickets_updated": updated},
    )
    return previous


@transaction.atomic
def resend_message(*, message_id: int, actor, to: str = "") -> OutboundMessage:
    """Queue again for the worker a message that did not go out, optionally
    to a corrected address: the Messages page's resend, by `actor`.

    Only what that page lists is sent again: a failed message, or one being
    retried. A staff invitation carries its link to join, and whoever opens
    that joins with the invited role: it goes only to the address it was
    made for (another one is a new invitation, from the Staff page), and only
    staff of that role or above send it again (a manager never handles an
    owner's invitation).

    Locks the message row. Its attempts start again from zero. Raises
    NotFound; PermissionRefused for an invitation above the actor's role;
    InvalidRequest for a message that went out already or has not been tried
    yet, an invitation to another address, or an address that is not an
    email address (email) or a phone number (SMS). Nothing is changed when
    it raises.
    """
    message = _lock_message(message_id)
    if message is None:
        raise NotFound("That message does not exist.")
    if message.kind == "staff_invite":
        to = _invitation_address(message, actor=actor, to=to)
    _refuse_unless_undelivered(message)
    return _requeue(message, to=to)


# Who may send an invitation to join with each role again.
_ROLE_RANK = {Role.DOOR: 0, Role.MANAGER: 1, Role.OWNER: 2}
_ROLE_AS = {Role.OWNER: "an owner", Role.MANAGER: "a manager", Role.DOOR: "door staff"}


def _invitation_address(message: OutboundMessage, *, actor, to: str) -> str:
    """The address a staff invitation may go to again: its own (the
    invitation's email or phone, as the owner gave it). Refuses another one,
    and an actor whose role is below the invited one."""
    invite = _invite_of(message)
    role = invite.role if invite is not None else message.context.get("role")
    if role not in _ROLE_RANK:
        role = Role.OWNER  # unknown: only an owner
    actor_role = role_of(actor)
    if actor_role not in _ROLE_RANK or _ROLE_RANK[actor_role] < _ROLE_RANK[role]:
        who = "an owner" if role == Role.OWNER else "an owner or a manager"
        raise PermissionRefused(
            f"Only {who} can resend an invitation to join as {_ROLE_AS[role]}.",
            code="invite_above_role",
        )
    is_email = message.channel == OutboundMessage.Channel.EMAIL
    own = message.to
    if invite is not None and (invite.email if is_email else invite.phone):
        own = invite.email if is_email else invite.phone
    to = (to or "").strip()
    if to:
        typed = (
            clean_email(to).lower()
            if is_email
            else clean_phone(to, time_zone=message_time_zone(message))
        )
        if typed != (own.lower() if is_email else own):
            raise InvalidRequest(
                "A staff invitation goes only to the address it was made for. "
                "To invite someone at another address, send a new invitation "
                "from the Staff page.",
                code="invite_elsewhere",
                field="to",
            )
    return own


def _invite_of(message: OutboundMessage) -> StaffInvite | None:
    """The invitation a staff_invite message carries the link of (its token
    is the link's last part)."""
    url = (message.context or {}).get("invite_url") or ""
    token = urlsplit(str(url)).path.rstrip("/").rsplit("/", 1)[-1]
    return StaffInvite.objects.filter(token=token).first() if token else None


def _refuse_unless_undelivered(message: OutboundMessage) -> None:
    if message.status == OutboundMessage.Status.SENT:
        raise InvalidRequest(
            "That message went out already, so it is not sent again from here.",
            code="already_sent",
        )
    if not message.undelivered:
        raise InvalidRequest(
            "That message has not been tried yet: it goes out in a moment.",
            code="not_tried_yet",
        )


def _lock_message(message_id, **filters) -> OutboundMessage | None:
    return (
        OutboundMessage.objects.select_for_update()
        .filter(pk=message_id, **filters)
        .first()
    )


def _requeue(message: OutboundMessage, *, to: str = "") -> OutboundMessage:
    """Queue the locked message again, to `to` when given. Its attempts
    start again from zero. InvalidRequest for an address that is not an
    email address (email) or a phone number (SMS)."""
    to = (to or "").strip()
    if to:
        is_email = message.channel == OutboundMessage.Channel.EMAIL
        message.to = (
            clean_email(to)
            if is_email
            else clean_phone(to, time_zone=message_time_zone(message))
        )
    message.status = OutboundMessage.Status.QUEUED
    message.attempts = 0
    message.next_attempt_at = timezone.now()
    message.save(update_fields=["to", "status", "attempts", "next_attempt_at"])
    return message
