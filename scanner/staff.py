"""Staff management (owner only): invite, change roles and door events, deactivate."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.exceptions import TicketingError
from core.models import Role, StaffProfile
from core.phones import display_phone
from core.queries.console import staff_audit_log
from core.queries.door import events_to_put_door_staff_on
from core.queries.staff import pending_invites, staff_members
from core.services.staff import (
    invite_staff,
    revoke_invite,
    set_staff_active,
    update_staff_member,
)
from scanner.forms import InviteForm, StaffMemberForm, apply_service_error
from scanner.permissions import OWNER, role_required


@role_required(*OWNER)
def staff_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "scanner/staff_list.html",
        {
            "members": staff_members(),
            "invites": pending_invites(),
            "recent_changes": staff_audit_log(limit=20),
        },
    )


@role_required(*OWNER)
def staff_invite(request: HttpRequest) -> HttpResponse:
    events = list(events_to_put_door_staff_on())
    if request.method == "POST":
        form = InviteForm(request.POST, events=events)
        if form.is_valid():
            try:
                invite = invite_staff(
                    actor=request.user,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    phone=form.cleaned_data["phone"],
                    event_ids=form.cleaned_data["events"]
                    if form.cleaned_data["role"] == Role.DOOR
                    else [],
                )
            except TicketingError as exc:
                apply_service_error(exc, form)
            else:
                sent_to = invite.email + (
                    f" and {display_phone(invite.phone)}" if invite.phone else ""
                )
                messages.success(request, f"Invitation sent to {sent_to}.")
                return redirect("scanner:staff")
    else:
        form = InviteForm(events=events)
    return render(
        request,
        "scanner/staff_invite.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@role_required(*OWNER)
def staff_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    profile = (
        StaffProfile.objects.select_related("user").filter(user_id=user_id).first()
    )
    if profile is None:
        raise Http404("No such staff member")
    assigned = list(profile.events.all())
    choices = list(events_to_put_door_staff_on())
    choices += [e for e in assigned if e not in choices]
    if request.method == "POST":
        form = StaffMemberForm(request.POST, events=choices)
        if form.is_valid():
            try:
                update_staff_member(
                    actor=request.user,
                    user_id=profile.user_id,
                    role=form.cleaned_data["role"],
                    event_ids=form.cleaned_data["events"]
                    if form.cleaned_data["role"] == Role.DOOR
                    else [],
                )
            except TicketingError as exc:
                apply_service_error(exc, form)
            else:
                messages.success(request, "Saved.")
                return redirect("scanner:staff")
    else:
        form = StaffMemberForm(
            events=choices,
            initial={"role": profile.role, "events": [str(e.pk) for e in assigned]},
        )
    return render(
        request,
        "scanner/staff_edit.html",
        {
            "form": form,
            "member": profile,
            "is_self": profile.user_id == request.user.pk,
        },
        status=400 if request.method == "POST" else 200,
    )


@role_required(*OWNER)
@require_POST
def staff_set_active(request: HttpRequest, user_id: int) -> HttpResponse:
    active = request.POST.get("active") == "1"
    try:
        profile = set_staff_active(actor=request.user, user_id=user_id, active=active)
    except TicketingError as exc:
        messages.error(request, exc.message)
        return redirect("scanner:staff")
    name = profile.user.get_full_name() or profile.user.username
    messages.success(
        request,
        f"{name} can sign in again." if active else f"{name} can no longer sign in.",
    )
    return redirect("scanner:staff")


@role_required(*OWNER)
@require_POST
def staff_invite_revoke(request: HttpRequest, invite_id: int) -> HttpResponse:
    try:
        invite = revoke_invite(actor=request.user, invite_id=invite_id)
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The invitation to {invite.email} is cancelled.")
    return redirect("scanner:staff")
