"""The waitlist: people wait in order; freed seats are held for them as offers.

An offer is a pending order (source "waitlist") whose hold lasts
WAITLIST_OFFER_HOURS, but never past the close of its ticket type's sales
(offer_ends), so the existing hold arithmetic keeps the seats from everyone
else, and paying for it goes through the ordinary fulfilment path. An offer
that would leave less than HOLD_MINUTES to pay is not made: from then on the
event's waitlist offers nothing, and takes no new entries.
While anyone is waiting, place_order keeps the seats they wait for from the
public (core.queries.availability.waiting_by_type).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import dateformat, timezone

from core import realtime
from core.exceptions import InvalidRequest, NotFound, SalesClosed, TicketingError
from core.models import Event, Order, OrderLine, TicketType, WaitlistEntry
from core.notify.outbox import queue_email, queue_sms
from core.phones import lacks_country_code
from core.queries.availability import (
    EventAvailability,
    compute_availability,
    get_event_availability,
    held_by_type,
)
from core.queries.waitlist import offer_held_to_sales_close, types_to_wait_for
from core.rows import insert_row_and_rows
from core.services.audit import jsonable, record_change
from core.services.checkout import clean_contact, event_time_zone, new_held_order
from core.services.counters import move_held, release_held
from core.sites import site_url
from core.templatetags.zones import zone_abbreviation

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = (WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED)


class NotSoldOut(TicketingError):
    code = "not_sold_out"
    message = "Tickets are still on sale: you can buy them right away."
    http_status = 409


class AlreadyClaimed(TicketingError):
    """The entry's offer is paid for, or its payment is under way: leaving
    would change nothing (refunds are the organiser's)."""

    code = "already_claimed"
    message = (
        "You have already bought these tickets, so there is no waitlist place to"
        " leave. To give them back, ask the organiser about a refund."
    )
    http_status = 409


WAITLIST_CLOSED = (
    "The waitlist has closed: ticket sales for this event are over, or end too"
    " soon for any more tickets to be offered."
)
TYPE_CLOSED = (
    "The waitlist for {} tickets is closed: they are not on sale, or their sales"
    " end too soon for any more to be offered."
)
NOT_ON_SALE_YET = (
    "Tickets for this event are not on sale yet, so there is no waitlist to"
    " join: sales open {}."
)


class OfferRefused(TicketingError):
    """The owner's "Offer now" made no offer; the message says why."""

    code = "offer_refused"
    message = "No offer was made."
    http_status = 409


def sales_close(event: Event, ticket_type: TicketType | None = None):
    """When sales close for `ticket_type`, or for the event without one: the
    checkout's window (Event.sales_open, TicketType.sales_open), that is the
    event's sales end, else its start, or the type's own sales end if sooner."""
    close = event.sales_end_at or event.starts_at
    if ticket_type is not None and ticket_type.sales_end_at:
        close = min(close, ticket_type.sales_end_at)
    return close


def sales_not_started(event: Event, now) -> bool:
    """Whether the event's sales have yet to open (its sales_start_at)."""
    return bool(event.sales_start_at and now < event.sales_start_at)


def local_moment(event: Event, moment: datetime) -> str:
    """ "Sat 12 Dec, 21:00 CET": `moment` in the event's zone, for messages."""
    local = timezone.localtime(moment, event.tz)
    return (
        f"{dateformat.format(local, 'D j M, H:i')} {zone_abbreviation(local)}".strip()
    )


def _least_offer() -> timedelta:
    """The shortest offer worth making: as long as a buyer's checkout hold."""
    return timedelta(minutes=settings.HOLD_MINUTES)


def offers_until(event: Event):
    """When the event's waitlist stops making offers: HOLD_MINUTES before its
    sales close (offers_open)."""
    return sales_close(event) - _least_offer()


def offers_open(event: Event, now=None) -> bool:
    """Whether the event's waitlist can still make offers: it is on sale,
    and its sales close no sooner than HOLD_MINUTES from now."""
    now = now or timezone.now()
    return event.is_active and event.sales_open(now) and now <= offers_until(event)


def waitlist_stage(event: Event, availability: EventAvailability, now) -> str:
    """Whether the event takes waitlist joins now: "open", or why not:
    "not_yet" (sales have yet to open), "on_sale" (nothing to wait for:
    buy instead), "closed" (no offer can be made any more, offers_open).
    The event page shows its waitlist card, and the waitlist page its form,
    only when "open"; join_waitlist refuses the same joins."""
    if sales_not_started(event, now):
        return "not_yet"
    waited_for, _ = types_to_wait_for(availability)
    if not waited_for and event.sales_open(now):
        return "on_sale"
    if not offers_open(event, now):
        return "closed"
    return "open"


def offers_over(event: Event, ticket_type: TicketType | None = None, now=None) -> bool:
    """Whether someone waiting (for `ticket_type`, else any type) can get no
    offer any more: the event, or the type, is off sale, or its sales close
    in under HOLD_MINUTES or are over. Not so before sales open: offers
    start then. `ticket_type`'s event is `event`."""
    now = now or timezone.now()
    if not event.is_active or (ticket_type is not None and not ticket_type.is_active):
        return True
    return sales_close(event, ticket_type) - now < _least_offer()


def offer_ends(event: Event, ticket_type: TicketType, now):
    """When an offer of `ticket_type` made `now` ends, or None if none can be
    made: WAITLIST_OFFER_HOURS from now, but no later than its sales close,
    and only while that leaves at least HOLD_MINUTES to pay. `ticket_type`'s
    event is `event` (sales_open reads it)."""
    if not ticket_type.sales_open(now):
        return None
    ends = min(
        now + timedelta(hours=settings.WAITLIST_OFFER_HOURS),
        sales_close(event, ticket_type),
    )
    return ends if ends - now >= _least_offer() else None


@transaction.atomic
def join_waitlist(
    *,
    event_id,
    ticket_type_id: int | None,
    name: str,
    email: str,
    phone: str = "",
    quantity,
    resend: bool = True,
) -> WaitlistEntry:
    """Put someone on a sold-out event's waitlist; for an address already on
    it, send its link again.

    Nobody has shown they own the address typed, so whoever joins with an
    address already waiting changes nothing: that entry keeps its name,
    phone, request and place in line, and the address is emailed the link
    to it (the only way to its page) if `resend` (the caller's per-address
    limit) allows. Every check runs for both, so the answer does not say
    whether the address was on the list. Locks the event row. Raises
    NotFound, InvalidRequest or NotSoldOut.
    """
    time_zone = event_time_zone(event_id) if lacks_country_code(phone) else None
    name, email, phone = clean_contact(name, email, phone, time_zone=time_zone)
    _check_fits(name=name, email=email)
    try:
        quantity = int(quantity)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(
            "Quantity must be a whole number.", code="invalid_quantity"
        ) from exc
    event = (
        Event.objects.select_for_update().filter(pk=event_id, is_active=True).first()
    )
    if event is None:
        raise NotFound("This event is not on sale.", code="unknown_event")
    ticket_type = None
    if ticket_type_id not in (None, ""):
        ticket_type = TicketType.objects.filter(
            pk=ticket_type_id, event=event, is_active=True
        ).first()
        if ticket_type is None:
            raise InvalidRequest(
                "That ticket type does not exist for this event.",
                code="unknown_ticket_type",
            )
    types = (
        [ticket_type]
        if ticket_type
        else list(event.ticket_types.filter(is_active=True))
    )
    # A place that can never be offered anything is no place: not once sales
    # are over or about to be (nor would "still on sale" below be true).
    now = timezone.now()
    for each in types:
        each.event = event
    if sales_not_started(event, now):
        raise SalesClosed(
            NOT_ON_SALE_YET.format(local_moment(event, event.sales_start_at)),
            code="not_on_sale_yet",
        )
    if not offers_open(event, now):
        raise SalesClosed(WAITLIST_CLOSED)
    if not any(offer_ends(event, t, now) for t in types):
        raise SalesClosed(
            TYPE_CLOSED.format(ticket_type.name) if ticket_type else WAITLIST_CLOSED
        )
    most = max((t.max_per_order for t in types), default=0)
    if quantity < 1:
        raise InvalidRequest("Ask for at least one ticket.", code="invalid_quantity")
    if quantity > most:
        raise InvalidRequest(
            f"You can wait for at most {most} tickets.", code="above_max_per_order"
        )
    # Before looking for the address: refusing only new ones would say
    # which addresses are waiting. What can be bought of a type is no more
    # than the event has left: someone waiting for "any type" may keep the
    # event's free seats from the public while the type still shows one.
    availability = get_event_availability(event, now)
    free = availability.total_available
    if ticket_type:
        free = min(
            free,
            next(r.available for r in availability.types if r.id == ticket_type.id),
        )
    if free > 0:
        raise NotSoldOut()

    entry = (
        WaitlistEntry.objects.select_related("ticket_type")
        .filter(event=event, email=email, status__in=ACTIVE_STATUSES)
        .first()
    )
    if entry is not None:
        if resend:
            _queue_joined_email(entry, event, again=True)
        return entry
    entry = WaitlistEntry.objects.create(
        event=event,
        ticket_type=ticket_type,
        name=name,
        email=email,
        phone=phone,
        quantity=quantity,
    )
    # A new entry's link is always sent, even past the per-address limit:
    # without it its address could not leave the list. An address gets at
    # most one such email per event it is not yet waiting for.
    _queue_joined_email(entry, event, again=False)
    return entry


def _check_fits(*, name: str, email: str) -> None:
    """InvalidRequest for a name or address longer than its column holds, or
    with a NUL character (Postgres refuses those with an error, not a
    message)."""
    if "\x00" in name + email:
        raise InvalidRequest(
            "Please retype your name and email address: they contain an invisible"
            " null character.",
            code="invalid_contact",
        )
    for field, value, code, message in (
        ("name", name, "invalid_name", "Please shorten your name to {} characters."),
        (
            "email",
            email,
            "invalid_email",
            "Please enter an email address of at most {} characters.",
        ),
    ):
        limit = WaitlistEntry._meta.get_field(field).max_length
        if len(value) > limit:
            raise InvalidRequest(message.format(limit), code=code)


def _queue_joined_email(entry: WaitlistEntry, event: Event, *, again: bool) -> None:
    only_type = ""
    if not entry.ticket_type_id:
        # "Any type" of an event selling one is that type: say its name.
        names = list(
            event.ticket_types.filter(is_active=True).values_list("name", flat=True)[:2]
        )
        only_type = names[0] if len(names) == 1 else ""
    queue_email(
        kind="waitlist_joined",
        to=entry.email,
        event=event,
        context=_message_context(entry, only_type=only_type)
        | {"again": again, "offered": entry.status == WaitlistEntry.Status.OFFERED},
    )


def _message_context(entry: WaitlistEntry, *, only_type: str = "") -> dict:
    """What the waitlist emails and SMS show, links made absolute for mail clients.

    Not the name: it is whatever whoever joined typed, and no one has shown
    they own the address these go to, so it could make anyone's text the
    lead of an email from the venue. `only_type`: the name of the one type
    the event sells, for an entry waiting for any (`any_type` then false).
    """
    return {
        "entry_id": entry.pk,
        "quantity": entry.quantity,
        "offer_hours": settings.WAITLIST_OFFER_HOURS,
        "ticket_type": entry.ticket_type.name
        if entry.ticket_type_id
        else (only_type or "any ticket type"),
        "any_type": not entry.ticket_type_id and not only_type,
        "status_url": site_url(
            "purchase", "purchase:waitlist_entry", token=entry.token, absolute=True
        ),
        "leave_url": site_url(
            "purchase", "purchase:waitlist_leave", token=entry.token, absolute=True
        ),
    }


def _lock_entry(**lookup) -> WaitlistEntry | None:
    """The entry, locked after its offer's order if it has one.

    Paying an offer locks its order, then its entry (mark_claimed); whoever
    writes both takes them in the same order, or the two could deadlock.
    An entry offered between the look and the lock is looked at again.
    """
    entry = None
    for _ in range(3):
        found = (
            WaitlistEntry.objects.filter(**lookup)
            .values_list("pk", "offer_order_id")
            .first()
        )
        if found is None:
            return None
        pk, order_id = found
        if order_id:
            Order.objects.select_for_update().filter(pk=order_id).values("pk").first()
        entry = WaitlistEntry.objects.select_for_update().filter(pk=pk).first()
        if entry is None or entry.offer_order_id == order_id:
            return entry
    return entry


@transaction.atomic
def leave_waitlist(*, token: str) -> WaitlistEntry:
    """Take oneself off the list; an open offer is released to the next person.

    An entry already off the list stays as it is. One whose offer is paid
    for, or being paid (a payment that clears later), raises AlreadyClaimed
    and changes nothing: its tickets are bought, and only the organiser
    refunds them.
    """
    entry = _lock_entry(token=token)
    if entry is None:
        raise NotFound("This waitlist link is not valid.", code="unknown_entry")
    if is_claimed(entry):
        raise AlreadyClaimed()
    if entry.status in ACTIVE_STATUSES:
        _close_entry(entry, WaitlistEntry.Status.LEFT)
    return entry


def is_claimed(entry: WaitlistEntry) -> bool:
    """Whether the entry's tickets are bought: claimed, or its offer's order
    paid or with a payment under way (leaving would not release its seats)."""
    if entry.status == WaitlistEntry.Status.CLAIMED:
        return True
    return bool(
        entry.offer_order_id
        and entry.status == WaitlistEntry.Status.OFFERED
        and Order.objects.filter(
            pk=entry.offer_order_id,
            status__in=[Order.Status.PAID, Order.Status.PROCESSING],
        ).exists()
    )


@transaction.atomic
def remove_entry(*, entry_id: int, removed_by=None) -> WaitlistEntry:
    """The owner removes someone from the list (their open offer is released).

    Recorded in the event's audit log as `waitlist.remove` by `removed_by`,
    saying whether an offer was withdrawn; removing someone no longer on
    the list changes and records nothing. Locks as _lock_entry. Raises
    NotFound.
    """
    entry = _lock_entry(pk=entry_id)
    if entry is None:
        raise NotFound("No such waitlist entry.", code="unknown_entry")
    if entry.status in ACTIVE_STATUSES:
        before = entry.get_status_display()
        had_offer = entry.status == WaitlistEntry.Status.OFFERED
        _close_entry(entry, WaitlistEntry.Status.REMOVED)
        record_change(
            actor=removed_by,
            action="waitlist.remove",
            obj=entry,
            object_type="waitlist_entry",
            object_repr=entry.name,
            event=entry.event,
            before={"status": before},
            after={"status": entry.get_status_display(), "offer_withdrawn": had_offer},
        )
    return entry


def _close_entry(entry: WaitlistEntry, status: str) -> None:
    """Close an entry; its open offer's order is cancelled, its seats released
    and, after commit, its Stripe payment page closed (as cancel_order and the
    hold sweep close theirs): left open, it would take a payment for an order
    that is no more. Its order is locked (_lock_entry)."""
    released = False
    if entry.status == WaitlistEntry.Status.OFFERED and entry.offer_order_id:
        pending = Order.objects.filter(
            pk=entry.offer_order_id, status=Order.Status.PENDING
        )
        session_id = pending.values_list(
            "stripe_checkout_session_id", flat=True
        ).first()
        released = (
            pending.update(status=Order.Status.CANCELLED, hold_expires_at=None) > 0
        )
        if released:
            release_held([entry.offer_order_id])
            if session_id:
                transaction.on_commit(lambda: _close_checkout(session_id))
    entry.status = status
    entry.save(update_fields=["status", "updated_at"])
    if released:
        realtime.announce_availability_changed(
            entry.event_id, reason="waitlist_released"
        )
        offer_after_commit(entry.event_id)


def _close_checkout(session_id: str) -> None:
    # Here, not at the top: core.services.orders imports this module.
    from core.services.orders import close_checkout_quietly

    close_checkout_quietly(session_id)


def _type_for(
    entry: WaitlistEntry,
    free: dict[int, int],
    types: list[TicketType],
    ends: dict,
):
    """The ticket type an entry can be offered now, or None if it does not fit.

    `types` in the order "any type" tries them; `ends`, each type's
    offer_ends (None: no offer of it can be made).
    """
    wanted = (
        [t for t in types if t.id == entry.ticket_type_id]
        if entry.ticket_type_id
        else types
    )
    for ticket_type in wanted:
        if ends[ticket_type.id] and free.get(ticket_type.id, 0) >= entry.quantity:
            return ticket_type
    return None


@transaction.atomic
def offer_freed_seats(
    *, event_id, now=None, only_entry_id: int | None = None
) -> list[WaitlistEntry]:
    """Offer free seats to the waiting entries, first come first served.

    Locks the event row, then its ticket types in primary-key order (as
    place_order does), so concurrent releases and checkouts serialise and no
    seat is offered twice. Idempotent: with nothing free it changes nothing.
    An entry asking for more than is free stops the queue unless the event's
    `waitlist_skip_larger_requests` says to pass over it. `only_entry_id`
    makes a manual offer to one entry. Queues offer emails/SMS.

    An offer is held until offer_ends: never past its type's sales close.
    None is made once that would leave under HOLD_MINUTES to pay (and then
    none at all for the event: offers_open). An entry waiting for a type
    that can no longer be offered does not hold up the line.
    """
    now = now or timezone.now()
    event = Event.objects.select_for_update().filter(pk=event_id).first()
    if event is None or not offers_open(event, now):
        return []
    types = list(
        TicketType.objects.select_for_update().filter(event=event).order_by("pk")
    )
    for ticket_type in types:
        ticket_type.event = event  # sales_open reads it; no query per type
    ends = {t.id: offer_ends(event, t, now) for t in types}
    ordered_types = sorted(types, key=lambda t: (t.sort_order, t.price, t.pk))
    types_by_id = {t.id: t for t in types}
    # Held seats are read once: under these locks only this pass can add to
    # them, and it adds its own offers to `held` as it makes them. Queries
    # here must not grow with the list: every checkout of the event waits.
    held = dict(held_by_type(event_ids=[event.id], now=now))
    free = _free_by_type(event, types, held, now, ends)
    if not free:
        return []  # sold out (the usual case, during a rush): nothing to offer
    if only_entry_id is None:
        waiting = WaitlistEntry.objects.filter(
            event=event, status=WaitlistEntry.Status.WAITING
        ).order_by("created_at", "id")
    else:
        waiting = _entry_by_key(
            only_entry_id, event_id=event.id, status=WaitlistEntry.Status.WAITING
        )
    offered = []
    for entry in waiting:
        if entry.ticket_type_id and not ends.get(entry.ticket_type_id):
            continue  # its type's sales are over: nothing to wait in line for
        ticket_type = _type_for(entry, free, ordered_types, ends)
        if ticket_type is None:
            if event.waitlist_skip_larger_requests or only_entry_id is not None:
                continue
            break
        if entry.ticket_type_id:
            entry.ticket_type = types_by_id[entry.ticket_type_id]  # no query
        hold_until = ends[ticket_type.id]
        order, lines = new_held_order(
            event=event,
            wanted={ticket_type: entry.quantity},
            customer_name=entry.name,
            customer_email=entry.email,
            customer_phone=entry.phone,
            source=Order.Source.WAITLIST,
            hold_expires_at=hold_until,
        )
        insert_row_and_rows(order, lines)
        move_held(event_id=event.id, by_type={ticket_type.id: entry.quantity})
        entry.status = WaitlistEntry.Status.OFFERED
        entry.offer_order = order
        entry.offered_at = now
        entry.offer_expires_at = hold_until
        entry.save(
            update_fields=[
                "status",
                "offer_order",
                "offered_at",
                "offer_expires_at",
                "updated_at",
            ]
        )
        context = _message_context(entry) | {
            "offer_ticket_type": ticket_type.name,
            "until_sales_close": offer_held_to_sales_close(entry),
            "claim_url": site_url(
                "purchase", "purchase:pay_order", token=order.token, absolute=True
            ),
        }
        queue_email(kind="waitlist_offer", to=entry.email, order=order, context=context)
        if entry.phone:
            queue_sms(
                kind="waitlist_offer", to=entry.phone, order=order, context=context
            )
        offered.append(entry)
        held[ticket_type.id] = held.get(ticket_type.id, 0) + entry.quantity
        free = _free_by_type(event, types, held, now, ends)
        if not free:
            break  # nothing left for anyone further down the list
    if offered:
        realtime.announce_availability_changed(event.id, reason="waitlist_offer")
    return offered


@transaction.atomic
def offer_to_entry(
    *, event_id, entry_id: int, now=None, offered_by=None
) -> WaitlistEntry:
    """The owner's "Offer now": offer free seats to this one entry, ahead of
    the line, recorded in the event's audit log as `waitlist.offer` by
    `offered_by`. Raises OfferRefused saying why none was made, worked out
    under the locks the attempt took: the entry is not waiting, sales
    have not opened, are over or close too soon (or its type's), or too
    few seats are free. NotFound for no such entry of the event."""
    now = now or timezone.now()
    offered = offer_freed_seats(event_id=event_id, now=now, only_entry_id=entry_id)
    if offered:
        entry = offered[0]
        lines = OrderLine.objects.filter(order_id=entry.offer_order_id)
        record_change(
            actor=offered_by,
            action="waitlist.offer",
            obj=entry,
            object_type="waitlist_entry",
            object_repr=entry.name,
            event=entry.event,
            after={
                "ticket_type": lines.values_list("ticket_type__name", flat=True)
                .order_by("pk")
                .first(),
                "quantity": entry.quantity,
                "offer_expires_at": jsonable(entry.offer_expires_at),
            },
        )
        return entry
    found = _entry_by_key(entry_id, event_id=event_id, related=("event", "ticket_type"))
    if not found:
        raise NotFound("No such waitlist entry.", code="unknown_entry")
    raise OfferRefused(_why_no_offer(found[0], now))


def _entry_by_key(
    entry_id, *, event_id, status: str | None = None, related: tuple = ()
) -> list[WaitlistEntry]:
    """The entry with this key if it is the event's (and has `status`): [it],
    else [].

    Read by its key alone, the event and status checked on the row read:
    named in the query too, before the table's first ANALYZE (a restored
    dump, autovacuum off) Postgres could read the entry through an index
    on the event, every entry the event ever had, to find one.
    """
    entry = WaitlistEntry.objects.select_related(*related).filter(pk=entry_id).first()
    if entry is None or entry.event_id != Event._meta.pk.to_python(event_id):
        return []
    if status is not None and entry.status != status:
        return []
    return [entry]


def _why_no_offer(entry: WaitlistEntry, now) -> str:
    """Why offer_freed_seats made `entry` no offer, for its owner."""
    event, name = entry.event, entry.name
    status = WaitlistEntry.Status
    if entry.status == status.OFFERED:
        return f"{name} has an offer already."
    if entry.status == status.CLAIMED:
        return f"{name} has bought their tickets already."
    if entry.status != status.WAITING:
        return f"{name} is no longer on the waitlist."
    if not event.is_active:
        return "This event is not on sale, so no offer can be made."
    if sales_not_started(event, now):
        return (
            "Ticket sales have not opened yet, so no offer can be made: they open"
            f" {local_moment(event, event.sales_start_at)}."
        )
    close = sales_close(event)
    if close <= now:
        return (
            "Ticket sales for this event are over, so no more offers can be made"
            f" (they closed {local_moment(event, close)})."
        )
    too_soon = (
        f"under {settings.HOLD_MINUTES} minutes from now: too little time to pay."
    )
    if close - now < _least_offer():
        return (
            "Ticket sales close too soon to offer: they close"
            f" {local_moment(event, close)}, {too_soon}"
        )
    types = (
        [entry.ticket_type]
        if entry.ticket_type_id
        else list(event.ticket_types.filter(is_active=True))
    )
    for ticket_type in types:
        ticket_type.event = event
    if not any(offer_ends(event, t, now) for t in types):
        if entry.ticket_type_id is None:
            return (
                "No ticket type is on sale long enough to offer, so no offer can"
                " be made."
            )
        ticket_type = entry.ticket_type
        if not ticket_type.sales_open(now):
            return (
                f"{ticket_type.name} tickets are not on sale, so none can be offered."
            )
        return (
            f"{ticket_type.name} ticket sales close too soon to offer: they close"
            f" {local_moment(event, sales_close(event, ticket_type))}, {too_soon}"
        )
    return (
        f"Not enough free tickets to offer {entry.quantity} to {name}. "
        "Raise the capacity first, or wait for a refund."
    )


def _free_by_type(
    event: Event, types: list[TicketType], held: dict[int, int], now, ends: dict
) -> dict[int, int]:
    """Seats free now of each type an offer can be made of (`ends`), those
    with any: empty when the waitlist can be offered nothing. Works on
    what it is given; no query."""
    availability = compute_availability(event, types, held, now)
    if availability.total_available <= 0:
        return {}
    return {
        row.id: row.available
        for row in availability.types
        if row.available > 0 and ends.get(row.id)
    }


@transaction.atomic
def expire_offers(*, now=None) -> list:
    """Close offers whose time ran out; their seats pass to the next person.

    An offer also runs out when its event's sales close (sales_close), if
    its hold was set to outlast them (before holds stopped there, or by an
    edit of the event's times since): its hold ends now, and its Stripe
    page is marked for the hold sweep to close (Order.checkout_to_close,
    close_lapsed_checkouts), as a lapsed hold's is; left open until the
    hold's old end, it would take a payment after the offer ran out.
    An offer whose order was released elsewhere (cancelled when its bank
    debit failed, expired by the hold sweep) is closed too. Each person
    whose hold ran out is emailed so (`waitlist_lapsed`: off the list, and
    whether they can join again); one whose order was cancelled (a failed
    payment, told by its own email) is not. Returns the ids of events that
    had an offer expire.
    """
    now = now or timezone.now()
    lapsed = WaitlistEntry.objects.filter(
        Q(offer_expires_at__lte=now)
        | Q(event__sales_end_at__lte=now)
        | Q(event__sales_end_at__isnull=True, event__starts_at__lte=now)
        | Q(offer_order__status__in=[Order.Status.CANCELLED, Order.Status.EXPIRED]),
        status=WaitlistEntry.Status.OFFERED,
    )
    events = set()
    released = []
    for pk, order_id in list(lapsed.values_list("pk", "offer_order_id")):
        # The order before the entry, as paying the offer locks them; one
        # being paid right now is left to its payment.
        order = (
            Order.objects.select_for_update(skip_locked=True)
            .filter(pk=order_id)
            .values("pk", "status")
            .first()
            if order_id
            else None
        )
        if order_id and not order:
            continue
        # Not through `lapsed`, whose join would lock the event's row too.
        entry = (
            WaitlistEntry.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, status=WaitlistEntry.Status.OFFERED)
            .first()
        )
        if entry is None:
            continue
        if Order.objects.filter(
            pk=entry.offer_order_id, status=Order.Status.PENDING
        ).update(
            status=Order.Status.EXPIRED,
            hold_expires_at=Case(
                When(hold_expires_at__gt=now, then=Value(now)),
                default=F("hold_expires_at"),
            ),
            checkout_to_close=Q(stripe_checkout_session_id__isnull=False),
            updated_at=now,
        ):
            released.append(entry.offer_order_id)
        entry.status = WaitlistEntry.Status.EXPIRED
        entry.save(update_fields=["status", "updated_at"])
        events.add(entry.event_id)
        if not order or order["status"] != Order.Status.CANCELLED:
            _queue_lapsed_email(entry, now=now)
    release_held(released)  # all at once: one order of events
    for event_id in events:
        realtime.announce_availability_changed(event_id, reason="waitlist_expired")
    return sorted(events, key=str)


def _queue_lapsed_email(entry: WaitlistEntry, *, now) -> None:
    """Tell someone their offer's hold ran out: the tickets went to the next
    person, they are off the list, and whether they can join it again."""
    event = entry.event
    offered = (
        OrderLine.objects.filter(order_id=entry.offer_order_id)
        .values_list("ticket_type__name", flat=True)
        .order_by("pk")
        .first()
    )
    queue_email(
        kind="waitlist_lapsed",
        to=entry.email,
        event=event,
        context=_message_context(entry)
        | {
            "offer_ticket_type": offered or "",
            "held_until": local_moment(event, entry.offer_expires_at)
            if entry.offer_expires_at
            else "",
            "sales_closed": sales_close(event) <= now,
            "rejoin": offers_open(event, now),
        },
    )


def mark_claimed(order: Order) -> None:
    """Called by fulfilment inside its transaction when a waitlist offer is paid."""
    WaitlistEntry.objects.filter(offer_order=order).exclude(
        status=WaitlistEntry.Status.CLAIMED
    ).update(status=WaitlistEntry.Status.CLAIMED, updated_at=timezone.now())


def sweep_waitlists(*, now=None) -> int:
    """The worker's periodic pass: expire lapsed offers, then offer free seats.

    Each event is handled in its own transaction, so one failure does not
    hold up the others. Returns how many offers were made.
    """
    now = now or timezone.now()
    expire_offers(now=now)
    # Only events that can still make offers (offers_open): the others'
    # waiting entries would be looked at on every pass, for ever.
    cut = now + _least_offer()
    event_ids = (
        WaitlistEntry.objects.filter(
            Q(event__sales_end_at__gt=cut)
            | Q(event__sales_end_at__isnull=True, event__starts_at__gt=cut),
            status=WaitlistEntry.Status.WAITING,
            event__is_active=True,
        )
        .values_list("event_id", flat=True)
        .distinct()
    )
    made = 0
    for event_id in list(event_ids):
        try:
            made += len(offer_freed_seats(event_id=event_id, now=now))
        except Exception:
            logger.exception("waitlist offers for event %s failed", event_id)
    return made


def offer_after_commit(event_id) -> None:
    """After the current transaction commits, offer what it freed to the waitlist.

    Best effort: the worker's sweep catches anything this misses.
    """

    def run() -> None:
        if not WaitlistEntry.objects.filter(
            event_id=event_id, status=WaitlistEntry.Status.WAITING
        ).exists():
            return
        try:
            offer_freed_seats(event_id=event_id)
        except Exception:
            logger.exception("waitlist offers for event %s failed", event_id)

    transaction.on_commit(run)
