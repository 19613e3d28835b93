"""Purchase pages: choose tickets, pay, reopen the order and its tickets.

Views parse the form, call one service or query and render; every rule lives
in core.services (place_order_once, start_payment, confirm_payment,
cancel_order).
"""

import contextlib
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import get_urlconf, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from core.context_processors import site_home_links
from core.exceptions import (
    OrderNotCancellable,
    OrderNotPayable,
    PaymentUnavailable,
    TicketingError,
)
from core.models import Order, Payment, Ticket
from core.notify.ics import event_ics
from core.notify.texts import texts_can_be_sent
from core.queries.listings import cancelled_event_by_slug, event_gone_from_sale
from core.queries.orders import (
    order_and_lines_by_token,
    order_by_token,
    order_view,
    ticket_by_token,
)
from core.queries.snapshots import (
    checkout_event_snapshot,
    public_event_cards,
    public_event_snapshot,
)
from core.services.checkout_keys import place_order_once, valid_checkout_key
from core.services.orders import cancel_order
from core.services.payments import (
    confirm_payment,
    simulated_reference,
    start_payment,
    sync_checkout,
)
from core.services.waitlist import (
    local_moment,
    offers_over,
    offers_until,
    waitlist_stage,
)
from core.sites import site_url, token_path
from core.tickets.qr import qr_svg
from purchase.saved_pages import (
    MAX_SAVED_PAGES,
    OFFLINE_ASSETS_HEADER,
    saved_page,
    saved_page_assets,
    saved_page_paths,
)
from purchase.shells import hole, shell_for
from purchase.waitlist_forms import WaitlistForm
from scanner.throttle import BuyAllowance

# Which form field a domain error belongs to, by its code.
ERROR_FIELDS = {
    "invalid_name": "name",
    "invalid_email": "email",
    "invalid_phone": "phone",
    "free_tickets_per_email": "email",
}


def see_other(url: str) -> HttpResponseRedirect:
    """Redirect after a POST with 303, so the browser follows with a GET."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def event_list(request: HttpRequest) -> HttpResponse:
    return render(request, "purchase/event_list.html", {"cards": public_event_cards()})


def _payment_urls(request: HttpRequest, order: Order) -> tuple[str, str]:
    success = request.build_absolute_uri(
        token_path("purchase:checkout_return", order.token)
    )
    cancel = request.build_absolute_uri(
        token_path("purchase:checkout_cancel", order.token)
    )
    # Stripe fills in the placeholder; the return page uses it to look.
    # Back from it, the cancel page says the payment was not finished.
    return f"{success}?session_id={{CHECKOUT_SESSION_ID}}", f"{cancel}?from=payment"


def _begin_payment(request: HttpRequest, order: Order) -> str:
    """The URL of the payment page; a hold that cannot be paid is released."""
    success_url, cancel_url = _payment_urls(request, order)
    try:
        return start_payment(
            order_id=order.id,
            order=order,
            success_url=success_url,
            cancel_url=cancel_url,
        )
    except (PaymentUnavailable, OrderNotPayable):
        if order.source == Order.Source.WEB:
            # Paid meanwhile (in another tab, say): nothing to release.
            with contextlib.suppress(OrderNotCancellable):
                cancel_order(order_id=order.id)
        raise


CHECKOUT_COOKIE = "checkout"
CHECKOUT_COOKIE_SALT = "purchase.checkout-key"


def _order_placed_by(request: HttpRequest, checkout_key: str | None):
    """The order this browser's buy form with `checkout_key` placed, if the
    browser says so (its signed cookie); None for a first submit."""
    if not checkout_key or CHECKOUT_COOKIE not in request.COOKIES:
        return None
    remembered = request.get_signed_cookie(
        CHECKOUT_COOKIE, default="", salt=CHECKOUT_COOKIE_SALT
    )
    key, _, order_id = remembered.partition(":")
    return order_id if key == checkout_key and order_id else None


def _remember_order_placed(response: HttpResponse, checkout_key: str, order) -> None:
    """Let the browser tell a repeated submit of this form which order it placed,
    for as long as the order's hold lasts."""
    hold_left = (
        (order.hold_expires_at - timezone.now()).total_seconds()
        if order.hold_expires_at
        else settings.HOLD_MINUTES * 60
    )
    response.set_signed_cookie(
        CHECKOUT_COOKIE,
        f"{checkout_key}:{order.id}",
        salt=CHECKOUT_COOKIE_SALT,
        max_age=max(1, int(hold_left)),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


@require_http_methods(["GET", "HEAD", "POST"])
def event_page(request: HttpRequest, slug: str) -> HttpResponse:
    error, status = None, 200
    values = {"name": "", "email": "", "phone": ""}
    chosen: dict[str, str] = {}
    if request.method == "POST":
        # A cached snapshot or a fresh read (see checkout_event_snapshot): lets
        # a plainly sold-out request be refused without queueing for the
        # locks, and is what such a refusal shows.
        checkout_key = valid_checkout_key(request.POST.get("checkout_key"))
        seen = checkout_event_snapshot(slug, checkout_key)
        if seen is None:
            return _not_on_sale_any_more(request, slug)
        event = seen.event
        values = {key: request.POST.get(key, "").strip() for key in values}
        chosen = {
            key.removeprefix("qty_"): value
            for key, value in request.POST.items()
            if key.startswith("qty_")
        }
        try:
            # The form's key makes a repeated submit (back from the payment
            # page, or sent twice before the first answer) land on the order
            # it already placed; a new order takes from the network's share.
            order = place_order_once(
                earlier_order_id=_order_placed_by(request, checkout_key),
                event_id=event.id,
                quantities=chosen,
                customer_name=values["name"],
                customer_email=values["email"],
                customer_phone=values["phone"],
                seen_availability=seen.availability,
                seen_is_current=seen.current,
                seen_key_note=seen.key_note,
                checkout_key=checkout_key,
                allowance=BuyAllowance(request, event.id),
            )
            response = see_other(_begin_payment(request, order))
            if checkout_key:
                _remember_order_placed(response, checkout_key, order)
            return response
        except TicketingError as exc:
            error = exc
            status = 400 if exc.http_status == 404 else exc.http_status
    if getattr(error, "availability", None) is not None:
        # Refused before the locks: show the figures it was judged on.
        event, availability = error.availability.event, error.availability
    else:
        # Otherwise read again: the locks may have seen a sale the hint above
        # had not, and the page must show it.
        snapshot = public_event_snapshot(slug)
        if snapshot is None:
            return _cancelled_event_or_404(request, slug)
        event, availability = snapshot
    now = timezone.now()
    rows = []
    for row in availability.types:
        limit = row.max_selectable if row.on_sale else 0
        try:
            selected = min(int(chosen.get(str(row.id), 0)), limit)
        except ValueError:
            selected = 0
        rows.append({"row": row, "choices": range(limit + 1), "selected": selected})
    context = {
        "event": event,
        "availability": availability,
        "rows": rows,
        "can_buy": any(r["row"].on_sale and r["row"].max_selectable for r in rows),
        "error": error,
        "error_field": ERROR_FIELDS.get(getattr(error, "code", ""), ""),
        "hold_minutes": settings.HOLD_MINUTES,
        "offer_hours": settings.WAITLIST_OFFER_HOURS,
        # purchase.js shows the card only between these times. Both flags
        # change with the time, not with the figures the shell's key has:
        # the key names them.
        "waitlist_open": waitlist_stage(event, availability, now) == "open",
        "waitlist_over": offers_over(event, now=now),
        "offers_until": offers_until(event),
        # Process-wide (settings), so a shell's key names it for clarity only.
        "texts_on": texts_can_be_sent(),
    }
    if _shell_serves(request, error):
        return _event_page_from_shell(request, context, values, status)
    context |= {
        "values": values,
        "waitlist_form": WaitlistForm(availability=availability),
    }
    return render(request, "purchase/event.html", context, status=status)


def _not_on_sale_any_more(request: HttpRequest, slug: str) -> HttpResponse:
    """A buy form sent for an event taken off sale (or cancelled) since its
    page was opened: said so, not "not found"; nothing was reserved."""
    event = event_gone_from_sale(slug)
    if event is None:
        raise Http404("No such event")
    if event.cancelled_at is not None:
        return render(request, "purchase/event_cancelled.html", {"event": event})
    return render(request, "purchase/event_off_sale.html", {"event": event}, status=409)


def _cancelled_event_or_404(request: HttpRequest, slug: str) -> HttpResponse:
    """A cancelled event's page says so (and why) to whoever follows an old
    link; any other event not on sale is not found."""
    event = cancelled_event_by_slug(slug)
    if event is None:
        raise Http404("No such event")
    return render(request, "purchase/event_cancelled.html", {"event": event})


def _shell_serves(request: HttpRequest, error: TicketingError | None) -> bool:
    """Whether this event page may come from a shell (purchase/shells.py).

    That is the page as loaded, or refused on the figures alone (sold out,
    not that many left): the pages of a rush. Other errors are rarer and
    their messages can quote what was typed, so those pages are rendered
    in full. So is a page with messages waiting (a cookie or a session).
    """
    if error is not None and getattr(error, "availability", None) is None:
        return False
    cookies = request.COOKIES
    return not (
        CookieStorage.cookie_name in cookies or settings.SESSION_COOKIE_NAME in cookies
    )


def _event_page_from_shell(
    request: HttpRequest, context: dict, values: dict, status: int
) -> HttpResponse:
    error = context["error"]
    key = (
        get_urlconf(),
        # The figures and event the page shows, whatever the cache did with them.
        context["availability"].shown_fingerprint,
        tuple(row["selected"] for row in context["rows"]),
        (error.code, error.message) if error else None,
        context["texts_on"],
        context["waitlist_open"],
        context["waitlist_over"],
    )

    def shell_context() -> dict:
        return context | {
            "values": {name: hole(name) for name in values},
            "csrf_token": hole("csrf_token"),
            "waitlist_form": WaitlistForm(availability=context["availability"]),
            **site_home_links(),
        }

    shell = shell_for("purchase/event.html", key, shell_context)
    page = shell.fill({**values, "csrf_token": get_token(request)})
    return HttpResponse(page, status=status)


def _order_or_404(token: str) -> Order:
    order = order_by_token(token)
    if order is None:
        raise Http404("No such order")
    return order


def _personal(response: HttpResponse) -> HttpResponse:
    """Headers for a page only its token's holder may see (names, contacts, QRs).

    `private` and `no-store`: no shared cache (proxy, CDN) and not the
    browser's HTTP cache keeps a copy. The one copy a device does keep, for
    showing a ticket without signal, is the purchase service worker's, in
    the Cache API, which Cache-Control does not govern (purchase/saved_pages.py).
    The token must not leak in a Referer, nor the page into a search engine.
    """
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def order_page(request: HttpRequest, token: str) -> HttpResponse:
    return _render_order(request, _order_or_404(token))


def _render_order(
    request: HttpRequest, order: Order, *, returned: bool = False
) -> HttpResponse:
    view = order_view(order)
    # Every ticket the order's lines count, a void one marked so (without
    # its QR): lines saying 3 above a list of 2 leave a ticket unexplained.
    tickets = [
        {
            "ticket": ticket,
            "qr": qr_svg(ticket.qr_payload)
            if ticket.status != Ticket.Status.VOID
            else "",
        }
        for ticket in view.tickets
    ]
    refunded_late = order.payments.filter(
        status__in=[Payment.Status.REFUND_DUE, Payment.Status.REFUNDED]
    ).exists()
    context = {
        "order": order,
        "event": order.event,
        "view": view,
        "tickets": tickets,
        "live_tickets": any(item["qr"] for item in tickets),
        # Back from paying, not merely at the address it comes back to: a
        # bookmark or the history reopens that later, when it is old news.
        "celebrate": returned and view.just_bought,
        "refunded_late": refunded_late and not view.tickets,
        "waiting": returned and order.status == Order.Status.PENDING,
        "saved_page": saved_page("order", order.token),
    }
    return _kept_offline(_personal(render(request, "purchase/order.html", context)))


def order_calendar(request: HttpRequest, token: str) -> HttpResponse:
    """The paid order's event as an .ics file, the one its confirmation email
    attaches: the buyer who opens the order from the text message, or comes
    back to it later, can add the event to a calendar too."""
    order = _order_or_404(token)
    if order.status != Order.Status.PAID:
        raise Http404("No tickets to put in a calendar")
    event = order.event
    order_url = site_url("purchase", "purchase:order", order.token, absolute=True)
    response = HttpResponse(
        event_ics(event, order=order, url=order_url),
        content_type="text/calendar; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{event.slug}.ics"'
    return _personal(response)


def checkout_return(request: HttpRequest, token: str) -> HttpResponse:
    """Where the payment page sends the buyer back: confirm if the webhook is late."""
    order = _order_or_404(token)
    if order.status == Order.Status.PENDING and order.stripe_checkout_session_id:
        order = sync_checkout(order_id=order.id)
        order = order_by_token(token)
    return _render_order(request, order, returned=True)


@require_http_methods(["GET", "HEAD", "POST"])
def checkout_cancel(request: HttpRequest, token: str) -> HttpResponse:
    """Cancel the order, releasing its hold: asked on this page, done by its
    POST only, as link prefetchers and email scanners open links.

    Stripe's page sends a buyer who backs out here (`?from=payment`): the
    page then says the payment was not finished, and offers to pay or to
    cancel. A waitlist offer is not cancelled (its holder lets the next
    person have it from the waitlist page): its buyer goes back to pay.
    """
    order = _order_or_404(token)
    if order.status in (Order.Status.PAID, Order.Status.PROCESSING):
        return redirect("purchase:order", token=order.token)
    if order.source == Order.Source.WAITLIST and order.status == Order.Status.PENDING:
        return _still_held_for_you(request, order)
    if request.method == "POST":
        return _cancel(request, order)
    view = order_view(order)
    if not view.hold_is_live:
        return redirect("purchase:order", token=order.token)
    context = {
        "order": order,
        "event": order.event,
        "view": view,
        "left_payment": request.GET.get("from") == "payment",
    }
    response = render(request, "purchase/cancel_order.html", context)
    # Not _personal's no-referrer: with it a browser sends its POST with
    # "Origin: null", which the CSRF check refuses (as pay_order's page).
    response["Cache-Control"] = "private, no-store"
    return response


def _cancel(request: HttpRequest, order: Order) -> HttpResponse:
    """Cancel the order and say so on its event's page."""
    try:
        order = cancel_order(order_id=order.id)
    except OrderNotCancellable:
        return see_other(token_path("purchase:order", order.token))
    if order.status == Order.Status.PENDING:  # a waitlist offer, kept
        return _still_held_for_you(request, order)
    if order.status == Order.Status.CANCELLED:
        messages.info(
            request,
            "Your order was cancelled and its tickets released. Nothing was charged.",
        )
    return see_other(reverse("purchase:event", args=[order.event.slug]))


def _still_held_for_you(request: HttpRequest, order: Order) -> HttpResponse:
    """A waitlist offer stays held until its hold ends: back to its pay page."""
    until = local_moment(order.event, order.hold_expires_at)
    messages.info(
        request,
        f"Still held for you until {until}. Nothing was charged. Pay below, or "
        "let the next person in line have them.",
    )
    return see_other(token_path("purchase:pay_order", order.token))


@require_http_methods(["GET", "HEAD", "POST"])
def pay_order(request: HttpRequest, token: str) -> HttpResponse:
    """Pay for an order that already holds tickets (a waitlist offer, a retry)."""
    order = _order_or_404(token)
    if order.event.cancelled_at is not None:
        # Its order page says the event is cancelled, why, and that nothing
        # was charged; this one would only say it can't be paid.
        return redirect("purchase:order", token=order.token)
    error = None
    if request.method == "POST":
        try:
            return see_other(_begin_payment(request, order))
        except TicketingError as exc:
            error = exc
            order = _order_or_404(token)
            if order.status in (Order.Status.PAID, Order.Status.PROCESSING):
                # Paid meanwhile, in another tab say: its tickets, not an error.
                messages.info(request, "This order is already paid.")
                return see_other(token_path("purchase:order", order.token))
    view = order_view(order)
    context = {"order": order, "event": order.event, "view": view, "error": error}
    return render(
        request, "purchase/pay_order.html", context, status=409 if error else 200
    )


@require_http_methods(["GET", "HEAD", "POST"])
def simulated_pay(request: HttpRequest, token: str) -> HttpResponse:
    """The simulated provider's test page; it does not exist when Stripe is on."""
    if settings.PAYMENT_PROVIDER != "simulated":
        raise Http404("No test payments here")
    if request.method != "POST":
        order = _order_or_404(token)
        if order.status != Order.Status.PENDING:
            return redirect("purchase:order", token=order.token)
        context = {"order": order, "event": order.event, "view": order_view(order)}
        return render(request, "purchase/simulated_pay.html", context)
    # Paying needs the lines too: read with the order, in one statement.
    found = order_and_lines_by_token(token)
    if found is None:
        raise Http404("No such order")
    order, lines = found
    if order.status != Order.Status.PENDING:
        return redirect("purchase:order", token=order.token)
    if request.POST.get("action") == "cancel":
        # A button of its own page: a POST, so no confirmation page.
        if order.source == Order.Source.WAITLIST:
            return _still_held_for_you(request, order)
        return _cancel(request, order)
    confirm_payment(
        order_id=order.id,
        provider=Payment.Provider.SIMULATED,
        provider_reference=simulated_reference(order),
        amount=order.total,
        currency=order.currency,
        order=order,
        lines=lines,
    )
    return see_other(token_path("purchase:checkout_return", order.token))


def ticket_page(request: HttpRequest, token: str) -> HttpResponse:
    ticket = ticket_by_token(token)
    if ticket is None:
        raise Http404("No such ticket")
    context = {
        "ticket": ticket,
        "event": ticket.event,
        "qr": qr_svg(ticket.qr_payload) if ticket.status != Ticket.Status.VOID else "",
        "saved_page": saved_page("ticket", ticket.token),
    }
    return _kept_offline(_personal(render(request, "purchase/ticket.html", context)))


def _kept_offline(response: HttpResponse) -> HttpResponse:
    """Tell the service worker which static files to keep with this page."""
    response[OFFLINE_ASSETS_HEADER] = ", ".join(saved_page_assets())
    return response


def saved_pages_worker(request: HttpRequest) -> HttpResponse:
    """The service worker that keeps ticket and order pages for offline use
    (purchase/saved_pages.py), served at the purchase site's root so that
    both kinds' paths are within its reach."""
    config = {
        "pagePaths": list(saved_page_paths().values()),
        "staticUrl": settings.STATIC_URL,
        "maxPages": MAX_SAVED_PAGES,
        "assetsHeader": OFFLINE_ASSETS_HEADER,
    }
    response = render(
        request,
        "purchase/saved_pages_sw.js",
        {"config": json.dumps(config)},
        content_type="text/javascript",
    )
    # Checked on every update, so a fix reaches phones at their next visit.
    response["Cache-Control"] = "no-cache"
    return response
