"""The events console: list, create, edit, duplicate, (de)activate, delete,
comps and the audit log. Views parse input, call one service, render."""

import zoneinfo
from datetime import timedelta

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from core.exceptions import TicketingError
from core.models import Event
from core.queries.availability import get_event_availability
from core.queries.console import (
    EVENT_LIST_VIEWS,
    comp_orders,
    console_event_counts,
    console_event_rows,
    event_audit_log,
    event_ticket_types,
)
from core.queries.event_page import event_page_figures
from core.queries.staff import role_of
from core.queries.ticket_holders import count_orders_holding_tickets
from core.queries.waitlist import waitlist_summary
from core.services.comps import issue_comp_tickets
from core.services.events import (
    EventUpdate,
    create_event,
    delete_event,
    duplicate_event,
    set_event_active,
    suggested_copy_name,
    update_event,
)
from core.sites import site_url
from scanner.forms import (
    CompForm,
    DuplicateEventForm,
    EventForm,
    apply_service_error,
    ticket_type_formset,
)
from scanner.permissions import MANAGERS, OWNER, role_required


def _event_or_404(event_id) -> Event:
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        raise Http404("No such event")
    return event


def _listed_events(request: HttpRequest) -> tuple[str, list]:
    """(tab, its rows) of the event list: the page and its live figures read
    the same rows."""
    show = request.GET.get("show", "upcoming")
    if show not in EVENT_LIST_VIEWS:
        show = "upcoming"
    return show, console_event_rows(show=show)


def event_list(request: HttpRequest) -> HttpResponse:
    """Upcoming, inactive or past events (the console's home)."""
    show, rows = _listed_events(request)
    return render(
        request,
        "scanner/event_list.html",
        {
            "rows": rows,
            "show": show,
            "counts": console_event_counts(timezone.now()),
            "role": role_of(request.user),
        },
    )


@role_required(*MANAGERS, api=True)
@require_safe
def event_list_figures(request: HttpRequest) -> HttpResponse:
    """The live figures of the event list's rows: each event of one tab
    (`show`, as the list) with its sold (paid and free), held, left and
    capacity, in the queries the list itself takes, so the page updates with
    one request whatever the number of events."""
    _, rows = _listed_events(request)
    response = JsonResponse(
        {"events": {str(row.event.id): row.summary() for row in rows}}
    )
    response["Cache-Control"] = "no-store"
    return response


@role_required(*MANAGERS)
def event_detail(request: HttpRequest, event_id) -> HttpResponse:
    event = _event_or_404(event_id)
    return render(
        request,
        "scanner/event_detail.html",
        {
            "event": event,
            "sales_state": event.sales_state(),
            "figures": event_page_figures(event),
            "public_url": site_url(
                "marketing", "marketing:event_detail", slug=event.slug
            ),
            # The console's own feed and figures, not the public ones: those
            # refuse an event that is off sale, and its owner still sells
            # free tickets, takes refunds and watches holds lapse.
            "availability_url": reverse(
                "scanner:event_availability", kwargs={"event_id": event.id}
            ),
            "is_owner": role_of(request.user) == "owner",
            "recent_changes": event_audit_log(event, limit=5),
            "waitlist": waitlist_summary(event),
        },
    )


@role_required(*MANAGERS, api=True)
@require_safe
def event_availability(request: HttpRequest, event_id) -> HttpResponse:
    """The event page's live figures, on sale or not: the public API's shape.

    The public API answers 404 for an event off sale; staff who may open the
    event's page get its figures here whatever its state.
    """
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return JsonResponse(
            {"code": "event_not_found", "message": "No such event."}, status=404
        )
    response = JsonResponse(event_page_figures(event).as_api_dict())
    response["Cache-Control"] = "no-store"
    return response


def _saved_message(update: EventUpdate) -> str:
    """ "Saved. 142 ticket holders are being told of the new time." and, when
    the start moved, where "Sales close" moved with it."""
    notice = update.notice
    if not notice.orders_told:
        text = "Your changes are saved."
    else:
        count = notice.orders_told
        who = "1 ticket holder is" if count == 1 else f"{count:,} ticket holders are"
        text = f"Saved. {who} being told of the {notice.what}."
    if update.sales_close_moved:
        why = (
            "later with the start, so sales go on"
            if update.start_moved_by > timedelta(0)
            else "earlier with the start, as far from it as before"
        )
        text += (
            f" “Sales close” moved {why}: now "
            + "; ".join(update.sales_close_moved)
            + "."
        )
    return text


def _save_event(request: HttpRequest, event: Event | None) -> HttpResponse:
    types = event_ticket_types(event) if event else []
    extra = 1 if event else 2
    holders = count_orders_holding_tickets(event.id) if event else 0
    conflict = False
    if request.method == "POST":
        form = EventForm(
            request.POST,
            request.FILES,
            event=event,
            ticket_types=types,
            ticket_holder_orders=holders,
        )
        formset = ticket_type_formset(
            extra=extra, data=request.POST, ticket_types=types, event=event
        )
        if form.is_valid() and formset.is_valid():
            zone = zoneinfo.ZoneInfo(form.cleaned_data["time_zone"])
            specs, row_forms = formset.details(zone)
            try:
                if event is None:
                    saved = create_event(
                        actor=request.user,
                        details=form.details(),
                        ticket_types=specs,
                        image=form.cleaned_data.get("image"),
                    )
                    messages.success(request, f"{saved.name} is created.")
                else:
                    update = update_event(
                        actor=request.user,
                        event_id=event.id,
                        details=form.details(),
                        ticket_types=specs,
                        image=form.cleaned_data.get("image"),
                        remove_image=form.cleaned_data.get("remove_image", False),
                        tell_ticket_holders=form.tells_ticket_holders(),
                        opened=form.opened_version(),
                    )
                    saved = update.event
                    messages.success(
                        request,
                        _saved_message(update),
                    )
            except TicketingError as exc:
                # What was typed stays on the page, the refusal atop it.
                conflict = exc.code == "edited_meanwhile"
                apply_service_error(exc, form, row_forms)
            else:
                return redirect("scanner:event_detail", event_id=saved.id)
    else:
        form = EventForm(event=event, ticket_types=types, ticket_holder_orders=holders)
        formset = ticket_type_formset(extra=extra, ticket_types=types, event=event)
    status = 400 if request.method == "POST" else 200
    out_of_date = conflict or any(
        error.code == "out_of_date"
        for error in form.errors.as_data().get("__all__", [])
    )
    return render(
        request,
        "scanner/event_form.html",
        {"form": form, "formset": formset, "event": event, "out_of_date": out_of_date},
        status=409 if out_of_date else status,
    )


@role_required(*MANAGERS)
def event_create(request: HttpRequest) -> HttpResponse:
    return _save_event(request, None)


@role_required(*MANAGERS)
def event_edit(request: HttpRequest, event_id) -> HttpResponse:
    return _save_event(request, _event_or_404(event_id))


@role_required(*MANAGERS)
def event_duplicate(request: HttpRequest, event_id) -> HttpResponse:
    event = _event_or_404(event_id)
    if request.method == "POST":
        form = DuplicateEventForm(request.POST, event=event)
        if form.is_valid():
            try:
                copy = duplicate_event(
                    actor=request.user,
                    event_id=event.id,
                    name=form.cleaned_data["name"],
                    starts_at=form.starts_at(),
                )
            except TicketingError as exc:
                apply_service_error(exc, form)
            else:
                messages.success(
                    request,
                    f"{copy.name} is created, not on sale yet. Check it, then put it on sale.",
                )
                return redirect("scanner:event_detail", event_id=copy.id)
    else:
        # A weekly night is the usual reason to copy: suggest a week later.
        local = event.local_starts_at()
        form = DuplicateEventForm(
            event=event,
            initial={
                "name": suggested_copy_name(event),
                "date": local.date() + timedelta(days=7),
                "start_time": local.time(),
            },
        )
    return render(
        request,
        "scanner/event_duplicate.html",
        {"form": form, "event": event},
        status=400 if request.method == "POST" else 200,
    )


@role_required(*MANAGERS)
@require_POST
def event_set_active(request: HttpRequest, event_id) -> HttpResponse:
    event = _event_or_404(event_id)
    active = request.POST.get("active") == "1"
    try:
        set_event_active(actor=request.user, event_id=event.id, active=active)
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{event.name} is on sale and shown on the website."
            if active
            else f"{event.name} is off sale and hidden from the website.",
        )
    return redirect("scanner:event_detail", event_id=event.id)


@role_required(*MANAGERS)
def event_delete(request: HttpRequest, event_id) -> HttpResponse:
    event = _event_or_404(event_id)
    error = ""
    if request.method == "POST":
        try:
            delete_event(actor=request.user, event_id=event.id)
        except TicketingError as exc:
            error = exc.message
        else:
            messages.success(request, f"{event.name} is deleted.")
            return redirect("scanner:home")
    has_orders = event.orders.exists()
    return render(
        request,
        "scanner/event_delete.html",
        {"event": event, "error": error, "has_orders": has_orders},
        status=409 if error else 200,
    )


@role_required(*MANAGERS)
def event_audit(request: HttpRequest, event_id) -> HttpResponse:
    event = _event_or_404(event_id)
    return render(
        request,
        "scanner/event_audit.html",
        {"event": event, "rows": event_audit_log(event)},
    )


@role_required(*OWNER)
def event_comps(request: HttpRequest, event_id) -> HttpResponse:
    event = _event_or_404(event_id)
    types = event_ticket_types(event)
    if request.method == "POST":
        form = CompForm(request.POST, ticket_types=types)
        if form.is_valid():
            data = form.cleaned_data
            try:
                order = issue_comp_tickets(
                    actor=request.user,
                    event_id=event.id,
                    ticket_type_id=data["ticket_type"],
                    quantity=data["quantity"],
                    guest_name=data["guest_name"],
                    guest_email=data["guest_email"],
                    guest_phone=data["guest_phone"],
                )
            except TicketingError as exc:
                apply_service_error(exc, form)
            else:
                count = data["quantity"]
                what = "1 free ticket" if count == 1 else f"{count} free tickets"
                messages.success(
                    request,
                    f"{what} issued to {order.customer_name}, emailed to "
                    f"{order.customer_email}.",
                )
                return redirect("scanner:event_comps", event_id=event.id)
    else:
        form = CompForm(ticket_types=types)
    return render(
        request,
        "scanner/event_comps.html",
        {
            "event": event,
            "form": form,
            "availability": get_event_availability(event),
            "comps": comp_orders(event),
        },
        status=400 if request.method == "POST" else 200,
    )
