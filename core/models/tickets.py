import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.folding import fold
from core.models.orders import new_access_token, new_public_code


def new_ticket_code() -> str:
    return new_public_code(10)


class FoldedTextField(models.TextField):
    """`fold` of another field of the row, written whenever the row is.

    Set in `pre_save`, which `save()`, `bulk_create()` and core/rows.py's
    inserts and updates all call, so no code that creates a row has to
    remember it. `QuerySet.update()` and `bulk_update()` skip `pre_save`:
    a change of the source field made through them must set this too, and
    `save(update_fields=...)` must name both.
    """

    def __init__(self, *args, source: str, **kwargs):
        self.source = source
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = fold(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value


class Ticket(models.Model):
    """One admission; its QR payload is signed so forgeries fail before any lookup."""

    class Status(models.TextChoices):
        ISSUED = "issued", "Valid"
        USED = "used", "Used"
        VOID = "void", "Void"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Unique by the constraints below, not `unique=True`: on Postgres that
    # also builds a LIKE index, one more to write on every sale and admit.
    code = models.CharField(
        max_length=16,
        default=new_ticket_code,
        help_text="The seed's ticket_id.",
    )
    token = models.CharField(max_length=64, default=new_access_token)
    order = models.ForeignKey(
        "core.Order",
        on_delete=models.PROTECT,
        related_name="tickets",
        null=True,
        blank=True,
    )
    # No index of its own: the indexes below all start with the event.
    event = models.ForeignKey(
        "core.Event", on_delete=models.PROTECT, related_name="tickets", db_index=False
    )
    ticket_type = models.ForeignKey(
        "core.TicketType", on_delete=models.PROTECT, related_name="tickets"
    )
    guest_name = models.CharField(max_length=200, blank=True)
    # What the door's guest search matches, as its offline search does.
    # Not indexed: a search for part of a name ("garc") cannot use a B-tree
    # index, and the event's tickets are read through its own indexes.
    # Text, not 200 characters: folding can lengthen a name ("ﬃ" is "ffi").
    guest_name_folded = FoldedTextField(source="guest_name")
    guest_email = models.EmailField(blank=True)
    guest_phone = models.CharField(max_length=32, blank=True)
    price_paid = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.ISSUED
    )
    # Signed over the event and the code (unique already), and never looked up.
    qr_payload = models.CharField(max_length=255)
    scanned_at = models.DateTimeField(null=True, blank=True)
    scanned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    scanned_device = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["event", "status"]),
            models.Index(fields=["event", "guest_name"]),
            models.Index(fields=["event", "guest_email"]),
            # Analytics: per-type counts, sales per hour and arrivals read
            # only this index (an index-only scan on Postgres).
            models.Index(
                fields=["event", "status", "ticket_type"],
                include=["price_paid", "created_at", "scanned_at"],
                name="ticket_event_stats_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["code"], name="ticket_code_unique"),
            models.UniqueConstraint(fields=["token"], name="ticket_token_unique"),
            models.CheckConstraint(
                condition=Q(price_paid__gte=0), name="ticket_price_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["issued", "used", "void"]),
                name="ticket_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="used") | Q(scanned_at__isnull=False),
                name="ticket_used_has_scanned_at",
            ),
        ]

    def __str__(self) -> str:
        return f"Ticket {self.code}"

    @property
    def is_used(self) -> bool:
        return self.status == self.Status.USED
