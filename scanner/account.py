"""Sign-in, password reset and joining by invitation: the scanner's public pages.

These are the only scanner views without `role_required`; the permission
matrix test lists them as its explicit exceptions.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from core.exceptions import InvalidRequest, InviteUnusable
from core.models import Role
from core.services.staff import accept_invite, usable_invite
from scanner import throttle
from scanner.forms import (
    AcceptInviteForm,
    StaffLoginForm,
    StaffPasswordResetForm,
    apply_service_error,
)


class LoginView(auth_views.LoginView):
    template_name = "scanner/login.html"
    authentication_form = StaffLoginForm
    redirect_authenticated_user = True


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "scanner/password_reset_form.html"
    form_class = StaffPasswordResetForm
    email_template_name = "scanner/emails/password_reset.txt"
    html_email_template_name = "scanner/emails/password_reset.html"
    subject_template_name = "scanner/emails/password_reset_subject.txt"
    success_url = reverse_lazy("scanner:password_reset_done")

    @property
    def extra_email_context(self) -> dict:
        # The organisation's name, as the invitation gives it.
        return {"organisation_name": settings.ORGANISATION_NAME}

    def form_valid(self, form):
        # Counted before the email is sent, in one step: requests sent
        # together each take a count of their own.
        if not throttle.take(
            throttle.reset_key(self.request),
            throttle.RESET_MAX_REQUESTS,
            throttle.RESET_WINDOW_SECONDS,
        ):
            form.add_error(None, throttle.reset_blocked_message())
            return self.form_invalid(form)
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "scanner/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "scanner/password_reset_confirm.html"
    success_url = reverse_lazy("scanner:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "scanner/password_reset_complete.html"


def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Someone invited by the owner chooses a username and password."""
    try:
        invite = usable_invite(token)
    except InviteUnusable as exc:
        return render(
            request,
            "scanner/invite_unusable.html",
            {"message": exc.message},
            status=410,
        )
    if request.method == "POST":
        form = AcceptInviteForm(request.POST)
        if form.is_valid():
            try:
                user = accept_invite(
                    token=token,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password"],
                    first_name=form.cleaned_data["first_name"],
                )
            except InviteUnusable as exc:
                return render(
                    request,
                    "scanner/invite_unusable.html",
                    {"message": exc.message},
                    status=410,
                )
            except InvalidRequest as exc:
                apply_service_error(exc, form)
            else:
                # Not authenticated by a password check: the one backend
                # (settings.AUTHENTICATION_BACKENDS) signs them in.
                login(request, user)
                messages.success(
                    request,
                    f"Welcome, {user.first_name or user.username}! You are signed in.",
                )
                return redirect("scanner:home")
    else:
        form = AcceptInviteForm(initial={"username": invite.email.split("@")[0][:150]})
    return render(
        request,
        "scanner/invite_accept.html",
        {"form": form, "invite": invite, "role_label": Role(invite.role).label},
    )
