"""Signing staff in: Django's model backend, with the staff role read alongside."""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import connection, connections

from core.models import StaffProfile
from core.rows import model_columns, planned_cursor


class StaffModelBackend(ModelBackend):
    """ModelBackend whose signed-in user comes with its staff profile.

    Every staff request loads its user from the session, and nearly every
    one then asks for the role (core.queries.staff.role_of): one statement
    with a join, written once and planned once per connection, instead of
    two ORM queries. A door phone makes such a request for every scan.
    """

    def get_user(self, user_id):
        user = user_with_staff_profile(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


def user_with_staff_profile(user_id):
    """The user, with `staff_profile` loaded (or known to be absent); None if
    there is no such user. What `User.objects.select_related("staff_profile")
    .get(pk=user_id)` gives."""
    user_model = get_user_model()
    db = connection
    key = user_model._meta.pk.get_db_prep_value(user_id, db)
    with planned_cursor() as cursor:
        cursor.execute(_user_with_profile_query(db.alias), [key])
        row = cursor.fetchone()
    if row is None:
        return None
    user_columns = model_columns(user_model, db.alias)
    profile_columns = model_columns(StaffProfile, db.alias)
    width = len(user_columns)
    user = user_columns.instance(row[:width], db.alias)
    profile = None
    if row[width] is not None:  # the LEFT JOIN found a profile
        profile = profile_columns.instance(row[width:], db.alias)
        StaffProfile.user.field.set_cached_value(profile, user)
    StaffProfile.user.field.remote_field.set_cached_value(user, profile)
    return user


@functools.cache
def _user_with_profile_query(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    user_model = get_user_model()
    user_table = quote(user_model._meta.db_table)
    profile_table = quote(StaffProfile._meta.db_table)
    profile_user = quote(StaffProfile._meta.get_field("user").column)
    user_key = f"{user_table}.{quote(user_model._meta.pk.column)}"
    return (
        f"SELECT {model_columns(user_model, alias).select},"
        f" {model_columns(StaffProfile, alias).select}"
        f" FROM {user_table} LEFT JOIN {profile_table}"
        f" ON {profile_table}.{profile_user} = {user_key}"
        f" WHERE {user_key} = %s"
    )
