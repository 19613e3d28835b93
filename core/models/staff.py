from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models.orders import new_access_token


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    DOOR = "door", "Door staff"


class StaffProfile(models.Model):
    """A Django user's role in the (single) organisation."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    phone = models.CharField(max_length=32, blank=True)
    events = models.ManyToManyField(
        "core.Event",
        blank=True,
        related_name="assigned_staff",
        help_text="Door staff only: limit scanning to these events (empty means all).",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="staff_role_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class StaffInvite(models.Model):
    email = models.EmailField()
    phone = models.CharField(max_length=32, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices)
    events = models.ManyToManyField(
        "core.Event",
        blank=True,
        related_name="staff_invites",
        help_text="Door staff only: the events they will scan (empty means all).",
    )
    # Whether `events` was chosen: once those events are all deleted, the
    # empty set must not read as "every event" when the invite is accepted.
    events_chosen = models.BooleanField(default=False)
    token = models.CharField(max_length=64, unique=True, default=new_access_token)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Invite {self.email} as {self.role}"


class ScannerDevice(models.Model):
    """A door phone or handheld that scans with a per-device token instead of a session."""

    label = models.CharField(max_length=100)
    token_digest = models.CharField(max_length=64, unique=True)
    event = models.ForeignKey(
        "core.Event",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="devices",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.label
