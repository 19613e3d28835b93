import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q, Value

from core.folding import fold
from core.models.orders import new_access_token, new_public_code


def new_ticket_code() -> str:
    return new_public_code(10)


class FoldedTextField(models.TextField):
    """`fold` of another field of the row, written whenever the row is.

    Set in `pre_save`, which `save()`, `bulk_create()` and core/rows.py's
    inserts and updates all call, so no code that creates a row has to
    remember it. `QuerySet.update()` and `bulk_update()` skip `pre_save`,
    and `save(update_fields=...)` and core/rows.py's `update_row` run it
    only for the fields named: Ticket's queryset and `save()` add this
    field whenever the source is written; `update_row` must name both.
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


def _folded_guest_name(value) -> str:
    """`fold` of a guest name being written, refusing what Python cannot fold."""
    if isinstance(value, Value):
        value = value.value
    if not isinstance(value, str):
        raise TypeError(
            "A guest name written in bulk must be a string, not "
            f"{type(value).__name__}: its folded copy (guest_name_folded, "
            "which the door's guest search reads) is computed in Python."
        )
    return fold(value)


class TicketQuerySet(models.QuerySet):
    """Bulk writes that keep `guest_name_folded` in step with `guest_name`,
    as `save()` does: the door's guest search reads only the folded copy.
    An `update()` that sets both is taken as it is (`bulk_update` does)."""

    def update(self, **kwargs):
        if "guest_name" in kwargs and "guest_name_folded" not in kwargs:
            kwargs["guest_name_folded"] = _folded_guest_name(kwargs["guest_name"])
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        fields = list(fields)
        if "guest_name" in fields:
            objs = list(objs)
            for ticket in objs:
                ticket.guest_name_folded = _folded_guest_name(ticket.guest_name)
            if "guest_name_folded" not in fields:
                fields.append("guest_name_folded")
        return super().bulk_update(objs, fields, batch_size=batch_size)


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

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["event", "guest_name"]),
            models.Index(fields=["event", "guest_email"]),
            # Analytics: per-type counts, sales per hour and arrivals read
            # only this index (an index-only scan on Postgres). It also
            # serves every lookup by event and status: a separate index on
            # those two was one more entry to write at each admit (a ticket
            # update changes its status, so it is never a HOT update).
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

    def save(self, *args, update_fields=None, **kwargs):
        # pre_save folds the name only for the fields being written.
        if update_fields is not None and "guest_name" in update_fields:
            update_fields = {*update_fields, "guest_name_folded"}
        super().save(*args, update_fields=update_fields, **kwargs)

    @property
    def is_used(self) -> bool:
        return self.status == self.Status.USED
