import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            f"“{value}” is not a known time zone (e.g. Europe/Madrid)."
        )


class Event(models.Model):
    """A dated show at a venue; the scanner site is the only place that edits it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=120, unique=True)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    venue = models.CharField(max_length=200, blank=True)
    starts_at = models.DateTimeField(
        help_text="When the show starts (the seed's event_date)."
    )
    doors_at = models.DateTimeField(null=True, blank=True, help_text="When doors open.")
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone]
    )
    venue_capacity = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    image = models.ImageField(upload_to="events/", blank=True)
    is_active = models.BooleanField(default=True)
    sales_start_at = models.DateTimeField(null=True, blank=True)
    sales_end_at = models.DateTimeField(null=True, blank=True)
    waitlist_skip_larger_requests = models.BooleanField(
        default=False,
        help_text=(
            "When freed tickets are fewer than the next person on the waitlist asked "
            "for, offer them to the next person who fits instead of waiting."
        ),
    )
    # Kept in the same transactions that issue and void tickets, so
    # availability never needs to count ticket rows. Check-ins are counted
    # in CheckInTally, which the doors do not queue for.
    sold_count = models.PositiveIntegerField(default=0, editable=False)
    # Set once, by core.services.event_cancellation.cancel_event: a cancelled
    # event stays off sale for good, and the worker refunds its orders.
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    cancel_reason = models.CharField(
        max_length=300,
        blank=True,
        editable=False,
        help_text="Why it was cancelled, in the owner's words (customers read it).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "name"]
        indexes = [models.Index(fields=["is_active", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(sold_count__lte=F("venue_capacity")),
                name="event_sold_within_venue_capacity",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[a-z]{3}$"),
                name="event_currency_iso_lower",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def local_starts_at(self):
        return timezone.localtime(self.starts_at, self.tz)

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    def sales_open(self, at=None) -> bool:
        at = at or timezone.now()
        if self.sales_start_at and at < self.sales_start_at:
            return False
        end = self.sales_end_at or self.starts_at
        return at < end

    def sales_state(self, at=None) -> str:
        """Where its sales stand: "off" (off sale, whatever its window),
        "not_yet" (its window opens later), "closed" (the window or the
        event is over) or "open"."""
        at = at or timezone.now()
        if not self.is_active:
            return "off"
        if self.sales_start_at and at < self.sales_start_at:
            return "not_yet"
        return "open" if self.sales_open(at) else "closed"


class TicketType(models.Model):
    """A priced kind of admission with its own capacity (the seed's ticket_types JSON)."""

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="ticket_types"
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    capacity = models.PositiveIntegerField()
    max_per_order = models.PositiveSmallIntegerField(default=10)
    sort_order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    sales_start_at = models.DateTimeField(null=True, blank=True)
    sales_end_at = models.DateTimeField(null=True, blank=True)
    sold_count = models.PositiveIntegerField(default=0, editable=False)
    # Seats in this type's pending and processing orders, lapsed or not, kept
    # in the transactions that move orders in and out of those states
    # (core.services.counters): availability subtracts the few lapsed holds
    # the sweep has not closed yet instead of adding up every live one.
    held_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "price", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "name"], name="ticket_type_unique_name"
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0), name="ticket_type_price_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(max_per_order__gte=1),
                name="ticket_type_max_per_order_gte_1",
            ),
            models.CheckConstraint(
                condition=Q(sold_count__lte=F("capacity")),
                name="ticket_type_sold_within_capacity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event.name} · {self.name}"

    @property
    def currency(self) -> str:
        return self.event.currency

    def sales_open(self, at=None) -> bool:
        at = at or timezone.now()
        if not self.is_active or not self.event.sales_open(at):
            return False
        if self.sales_start_at and at < self.sales_start_at:
            return False
        return not (self.sales_end_at and at >= self.sales_end_at)
