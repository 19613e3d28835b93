"""Orders in the console (owner and managers): find one, see it, refund it,
send its tickets again. A customer's "I never got my tickets" or "I can't
come" is answered here, without Stripe's dashboard or a developer."""

import uuid
from functools import partial

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.exceptions import TicketingError
from core.models import Order, Refund
from core.phones import display_phone
from core.queries.order_standing import order_standing, order_standings
from core.queries.orders import (
    CONSOLE_SEARCH_LIMIT,
    console_order,
    is_free_order_id,
    order_search_events,
    search_orders,
)
from core.services.comps import cancel_comp_tickets
from core.services.messages import resend_order_text, resend_order_tickets
from core.services.orders import (
    refund_order,
    refund_tickets,
    void_tickets_refunded_outside,
)
from core.templatetags.ticketing import money, money_amount
from scanner.permissions import MANAGERS, role_required


def _event_filter(value: str):
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@role_required(*MANAGERS)
def order_list(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "").strip()
    event_id = _event_filter(request.GET.get("event", ""))
    orders = search_orders(text=text, event_id=event_id)
    standings = order_standings(orders)
    for order in orders:
        order.standing = standings[order.pk]
    context = {
        "orders": orders,
        "q": text,
        "event_id": event_id,
        "events": order_search_events(),
        "limited": len(orders) == CONSOLE_SEARCH_LIMIT,
    }
    return render(request, "scanner/orders.html", context)


@role_required(*MANAGERS)
def order_detail(request: HttpRequest, order_id) -> HttpResponse:
    view = console_order(order_id)
    if view is None:
        raise Http404("No such order")
    view.order.standing = order_standing(view.order)
    return render(request, "scanner/order_detail.html", {"view": view})


@require_POST
@role_required(*MANAGERS)
def order_refund(request: HttpRequest, order_id) -> HttpResponse:
    """Money back and tickets void, once the staff member has confirmed it;
    with "as_new" ticked, a refund too old to resend is sent afresh. Free
    tickets (a comp, or a type priced 0) are cancelled instead: no money
    moved."""
    before = console_order(order_id)
    if before is None:
        raise Http404("No such order")
    if before.free:
        return _cancel_free_tickets(request, order_id, ticket_ids=None)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm the refund; nothing changed.")
        return redirect("scanner:order_detail", order_id=order_id)
    # Read before: afterwards nothing is left, and an earlier partial refund
    # means less than the order's total goes back now.
    sent_back = before.left_to_refund
    try:
        order = refund_order(
            order_id=order_id,
            reason=request.POST.get("reason", ""),
            actor=request.user,
            as_new=request.POST.get("as_new") == "yes",
        )
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        if order.source == Order.Source.EXTERNAL:
            messages.success(
                request,
                f"Order {order.code} voided: its tickets no longer admit. Another"
                " seller sold it and took the payment, so nothing went back from"
                " here: ask the seller to refund the buyer.",
            )
        else:
            messages.success(
                request,
                f"Order {order.code} refunded: {money(sent_back, order.currency)}"
                " back to the customer; its tickets no longer admit.",
            )
    return redirect("scanner:order_detail", order_id=order_id)


@require_POST
@role_required(*MANAGERS)
def order_refund_tickets(request: HttpRequest, order_id) -> HttpResponse:
    """The ticked tickets' price back to the customer and those tickets void,
    once confirmed; the order's other tickets still admit. With "as_new"
    ticked, a refund too old to resend is sent afresh. Ticked tickets of a
    free order (a comp, or a type priced 0) are cancelled instead."""
    if is_free_order_id(order_id):
        return _cancel_free_tickets(
            request, order_id, ticket_ids=request.POST.getlist("ticket")
        )
    refund = partial(refund_tickets, as_new=request.POST.get("as_new") == "yes")
    return _act_on_tickets(request, order_id, refund, refunded=True)


@require_POST
@role_required(*MANAGERS)
def order_void_tickets(request: HttpRequest, order_id) -> HttpResponse:
    """Void the ticked tickets against money already refunded in Stripe's
    dashboard, without sending any again."""
    return _act_on_tickets(
        request, order_id, void_tickets_refunded_outside, refunded=False
    )


def _cancel_free_tickets(request: HttpRequest, order_id, *, ticket_ids):
    """Take a free order's tickets (all, or the ticked ones) off the guest
    list once confirmed: nothing to refund, the guest is emailed."""
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm; nothing changed.")
        return redirect("scanner:order_detail", order_id=order_id)
    try:
        order = cancel_comp_tickets(
            order_id=order_id,
            ticket_ids=ticket_ids,
            reason=request.POST.get("reason", ""),
            actor=request.user,
        )
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        count = 0 if ticket_ids is None else len(set(ticket_ids))
        if ticket_ids is None or order.status == Order.Status.CANCELLED:
            what = f"Free tickets of order {order.code} cancelled"
        else:
            what = f"{count} free ticket{'s' if count != 1 else ''} cancelled"
        freed = (
            "it no longer admits and its place is free again"
            if count == 1
            else "they no longer admit and the places are free again"
        )
        messages.success(
            request,
            f"{what}: {freed}. {order.customer_name} is emailed. Nothing was"
            " charged, so nothing goes back.",
        )
    return redirect("scanner:order_detail", order_id=order_id)


def _act_on_tickets(request: HttpRequest, order_id, service, *, refunded: bool):
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm; nothing changed.")
        return redirect("scanner:order_detail", order_id=order_id)
    try:
        refund = service(
            order_id=order_id,
            ticket_ids=request.POST.getlist("ticket"),
            reason=request.POST.get("reason", ""),
            actor=request.user,
        )
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        count = refund.tickets.count()
        tickets = f"{count} ticket{'s' if count != 1 else ''}"
        if refunded and refund.order.source == Order.Source.EXTERNAL:
            # Another seller's: voided, nothing sent; the seller refunds it.
            one = count == 1
            messages.success(
                request,
                f"Voided {tickets} sold by another seller:"
                f" {'it no longer admits' if one else 'they no longer admit'},"
                " the order's other tickets still do. Nothing went back from"
                " here: ask the seller to refund the buyer"
                f" {money(refund.amount, refund.currency)}.",
            )
        elif refunded and refund.amount == 0:
            # Free tickets of an order partly paid for: nothing went back.
            one = count == 1
            messages.success(
                request,
                f"Cancelled {count} free {tickets.split(' ', 1)[1]}:"
                f" {'it no longer admits' if one else 'they no longer admit'},"
                " the order's other tickets still do. Nothing was paid for"
                f" {'it' if one else 'them'}, so nothing goes back.",
            )
        elif refunded:
            messages.success(
                request,
                f"Refunded {money(refund.amount, refund.currency)} for {tickets};"
                " they no longer admit, the order's other tickets still do."
                + _comes_to(refund),
            )
        else:
            messages.success(
                request,
                f"Voided {tickets} without refunding again; they no longer admit.",
            )
    return redirect("scanner:order_detail", order_id=order_id)


def _comes_to(refund) -> str:
    """ " The order now comes to €40.00 (€89.50 paid, €49.50 refunded).", once
    the refund is booked; "" while it is under way. Amounts of money moved,
    so nothing is "€0.00", never the price word "Free". An extra payment sent
    back automatically is named too (", €89.50 sent back automatically"), so
    the figures add up: net = paid - refunded - sent back."""
    if refund.status != Refund.Status.SUCCEEDED:
        return ""
    paid = order_standing(refund.order).money
    sent_back = (
        f", {money_amount(paid.sent_back, refund.currency)} sent back automatically"
        if paid.sent_back > 0
        else ""
    )
    return (
        f" The order now comes to {money_amount(paid.net, refund.currency)}"
        f" ({money_amount(paid.taken, refund.currency)} paid,"
        f" {money_amount(paid.refunded, refund.currency)} refunded{sent_back})."
    )


@require_POST
@role_required(*MANAGERS)
def order_resend(request: HttpRequest, order_id) -> HttpResponse:
    """Send the tickets again; to a corrected address, the order is corrected
    too unless the staff member unticked "also correct the order's email"."""
    return _resend_from_order_page(
        request, order_id, resend_order_tickets, what="Tickets", field="email"
    )


@require_POST
@role_required(*MANAGERS)
def order_resend_text(request: HttpRequest, order_id, message_id: int) -> HttpResponse:
    """Send a text that did not go out again, as on the Messages page, from
    the order the customer called about; a corrected number corrects the order
    too unless the box was unticked."""
    return _resend_from_order_page(
        request,
        order_id,
        partial(resend_order_text, message_id=message_id),
        what="Text",
        field="phone",
    )


def _resend_from_order_page(
    request: HttpRequest, order_id, resend, *, what: str, field: str
) -> HttpResponse:
    try:
        resent = resend(
            order_id=order_id,
            to=request.POST.get("to", ""),
            correct_order=request.POST.get("correct") == "yes",
            actor=request.user,
        )
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _resent_message(what, resent, field))
    return redirect("scanner:order_detail", order_id=order_id)


def _resent_message(what: str, resent, field: str) -> str:
    to = resent.message.to
    if field == "phone":  # kept in E.164; shown as people read it
        to = display_phone(to)
    if resent.corrected_from:
        return (
            f"{what} sent to {to}; the order's {field} is now {to}"
            f" (it was {resent.corrected_from})."
        )
    return f"{what} sent to {to}."
