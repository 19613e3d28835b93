"""The Django admin shows the data and changes none of it (core/admin.py)."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse

from core.models import Ticket
from scanner import throttle
from tests.factories import make_paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser(
        "root", "root@example.com", "pw-for-tests"
    )


def test_every_model_of_the_domain_is_view_only(superuser):
    request = RequestFactory().get("/django-admin/")
    request.user = superuser
    core_admins = {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == "core"
    }

    assert len(core_admins) == 12
    for model, model_admin in core_admins.items():
        assert model_admin.has_view_permission(request), model
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model
        for inline in model_admin.get_inline_instances(request):
            assert not inline.has_change_permission(request), inline


def test_a_ticket_can_be_looked_up_but_not_voided_behind_the_counters(
    client, superuser, ticket_type
):
    order = make_paid_order(ticket_type)
    ticket = order.tickets.get()
    client.force_login(superuser)
    change_url = reverse("admin:core_ticket_change", args=[ticket.pk])

    listed = client.get(reverse("admin:core_ticket_changelist"), {"q": ticket.code})
    shown = client.get(change_url)
    voided = client.post(change_url, {"status": Ticket.Status.VOID})
    added = client.get(reverse("admin:core_order_add"))

    assert listed.status_code == 200 and ticket.code in listed.content.decode()
    assert shown.status_code == 200
    assert 'name="_save"' not in shown.content.decode()
    assert voided.status_code == 403
    assert added.status_code == 403
    ticket.refresh_from_db()
    ticket_type.refresh_from_db()
    assert ticket.status == Ticket.Status.ISSUED
    assert ticket_type.sold_count == 1


def test_every_page_of_the_domain_opens(client, superuser, ticket_type):
    order = make_paid_order(ticket_type)
    client.force_login(superuser)
    pages = [
        reverse(f"admin:core_{model._meta.model_name}_changelist")
        for model in admin.site._registry
        if model._meta.app_label == "core"
    ]
    pages += [
        reverse("admin:core_event_change", args=[ticket_type.event_id]),
        reverse("admin:core_order_change", args=[order.pk]),
    ]

    for page in pages:
        assert client.get(page).status_code == 200, page


def test_the_admin_sign_in_is_limited_as_the_staff_sign_in_is(client, superuser):
    """Guessing the superuser's password at /django-admin/ is as slow as at
    /scanner/login/: the same allowance per account."""
    login = reverse("admin:login")
    for _ in range(5):
        client.post(login, {"username": "root", "password": "wrong guess"})

    answer = client.post(login, {"username": "root", "password": "pw-for-tests"})

    assert answer.status_code == 200
    assert "Too many failed sign-in attempts" in answer.content.decode()
    assert "_auth_user_id" not in client.session
    throttle.reset(throttle.login_key(answer.wsgi_request, "root"))  # later tests


def test_the_admin_sign_in_still_signs_a_superuser_in(client, superuser):
    answer = client.post(
        reverse("admin:login"), {"username": "root", "password": "pw-for-tests"}
    )

    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(superuser.pk)


def test_accounts_are_view_only_in_the_admin_too(client, superuser):
    """Passwords, roles and deactivation go through the console and manage.py,
    which audit them; the admin would change them with no record."""
    staff = get_user_model().objects.create_user("sam", "sam@example.com", "pw")
    client.force_login(superuser)
    change_url = reverse("admin:auth_user_change", args=[staff.pk])

    shown = client.get(change_url)
    changed = client.post(change_url, {"username": "sam", "is_superuser": "on"})
    added = client.get(reverse("admin:auth_user_add"))
    password = client.get(reverse("admin:auth_user_password_change", args=[staff.pk]))

    assert shown.status_code == 200
    assert 'name="_save"' not in shown.content.decode()
    assert changed.status_code == 403
    assert added.status_code == 403
    assert password.status_code == 403
    staff.refresh_from_db()
    assert not staff.is_superuser
    assert not any(
        model._meta.label == "auth.Group" and model_admin.has_add_permission(None)
        for model, model_admin in admin.site._registry.items()
    )
