"""Staff accounts in the Django admin: signed into as the console is, and
view only.

The admin's own sign-in would let anyone guess the superuser's password
without limit (the console's limit lives in StaffLoginForm), and Django's
user admin would change passwords, roles and deactivations with no record:
the console and `manage.py` do those, and audit them.
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group

from core.admin import ReadOnly
from scanner.forms import StaffLoginForm


class AdminLoginForm(StaffLoginForm, AdminAuthenticationForm):
    """The admin's sign-in, with the console's allowance per account and
    network (the same one: guesses here count there too)."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        **StaffLoginForm.error_messages,
    }

    def confirm_login_allowed(self, user) -> None:
        # The admin's own rule (is_staff), not the console's staff role.
        AdminAuthenticationForm.confirm_login_allowed(self, user)


class ViewOnlyUserAdmin(ReadOnly, UserAdmin):
    pass


admin.site.login_form = AdminLoginForm
admin.site.unregister(Group)
admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), ViewOnlyUserAdmin)
