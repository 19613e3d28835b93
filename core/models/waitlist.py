from django.db import models
from django.db.models import Q

from core.models.orders import new_access_token


class WaitlistEntry(models.Model):
    """Someone waiting for a sold-out event; served in `created_at` order."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OFFERED = "offered", "Offered"
        CLAIMED = "claimed", "Claimed"
        EXPIRED = "expired", "Offer expired"
        REMOVED = "removed", "Removed"
        LEFT = "left", "Left the list"

    event = models.ForeignKey(
        "core.Event", on_delete=models.CASCADE, related_name="waitlist"
    )
    ticket_type = models.ForeignKey(
        "core.TicketType",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="waitlist",
        help_text="Empty means any ticket type.",
    )
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=32, blank=True)
    quantity = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.WAITING
    )
    token = models.CharField(max_length=64, unique=True, default=new_access_token)
    offer_order = models.OneToOneField(
        "core.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="waitlist_entry",
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "waitlist entries"
        indexes = [models.Index(fields=["event", "status", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "email"],
                condition=Q(status__in=["waiting", "offered"]),
                name="waitlist_one_active_entry_per_email",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="waitlist_quantity_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "waiting",
                        "offered",
                        "claimed",
                        "expired",
                        "removed",
                        "left",
                    ]
                ),
                name="waitlist_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.quantity}) for {self.event_id}"
