import secrets
import uuid
from datetime import datetime, timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone

# Unambiguous characters for codes a person may read out or type.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Stripe answers a key reused within 24 hours of its first use as it
# answered first; after that the same key could refund again, so a refund
# whose try (and key) began longer ago than this is not resent.
REFUND_REPLAY_WINDOW = timedelta(hours=23)
# The orders the worker may still ask Stripe about (Order.stripe_check_at):
# one not settled yet, or closed here while its payment page may yet have
# been paid.
STRIPE_CHECKED_STATUSES = ("pending", "processing", "expired", "cancelled")


# Random byte -> character: 256 is a multiple of the alphabet's 32, so each
# character is as likely as with secrets.choice, for one read of the system's
# randomness per code rather than one (and a Python call or two) per character.
_BYTE_TO_CODE_CHARACTER = bytes(
    ord(CODE_ALPHABET[byte % len(CODE_ALPHABET)]) for byte in range(256)
)
assert 256 % len(CODE_ALPHABET) == 0


def new_public_code(length: int = 8) -> str:
    return secrets.token_bytes(length).translate(_BYTE_TO_CODE_CHARACTER).decode()


def new_access_token() -> str:
    return secrets.token_urlsafe(24)


class Order(models.Model):
    """A customer's purchase; while pending its lines hold capacity until `hold_expires_at`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        PROCESSING = "processing", "Payment processing"
        PAID = "paid", "Paid"
        REFUNDED = "refunded", "Refunded"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    class Source(models.TextChoices):
        WEB = "web", "Online sale"
        COMP = "comp", "Complimentary"
        EXTERNAL = "external", "External channel"
        WAITLIST = "waitlist", "Waitlist offer"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=12, unique=True, default=new_public_code)
    token = models.CharField(max_length=64, unique=True, default=new_access_token)
    event = models.ForeignKey(
        "core.Event", on_delete=models.PROTECT, related_name="orders"
    )
    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField()
    customer_phone = models.CharField(max_length=32, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WEB)
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    stripe_checkout_session_id = models.CharField(
        max_length=255, null=True, blank=True, unique=True
    )
    stripe_payment_intent_id = models.CharField(
        max_length=255, null=True, blank=True, unique=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # The buy form's key (core.services.checkout_keys): the same form sent
    # again while the newest order it placed holds its seats gets that order,
    # not a second one. Not unique: a form whose order lapsed places another,
    # and nothing may write the earlier order's row under the event's lock.
    checkout_key = models.CharField(max_length=64, null=True, blank=True)
    # A lapsed hold's Stripe payment page the hold sweep has still to close
    # (a courtesy, a few a pass: core.services.orders.close_lapsed_checkouts).
    checkout_to_close = models.BooleanField(default=False, db_default=False)
    # When the worker next asks Stripe about this order's payment page or
    # payment, in case Stripe's webhook never comes (ADR 17,
    # core.services.payments.reconcile_unsettled_orders); null: nothing to
    # ask. Set when a Stripe page is opened for the order.
    stripe_check_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["event", "status", "hold_expires_at"]),
            models.Index(fields=["status", "hold_expires_at"]),
            models.Index(fields=["customer_email"]),
            models.Index(
                fields=["event", "checkout_key"],
                condition=Q(checkout_key__isnull=False),
                name="order_checkout_key",
            ),
            # Analytics: an event's comp orders.
            models.Index(fields=["event", "source"], name="order_event_source_idx"),
            models.Index(
                fields=["hold_expires_at"],
                condition=Q(checkout_to_close=True),
                name="order_checkout_to_close",
            ),
            # Only the orders the worker may ask Stripe about: a paid one
            # leaves the index, whatever its stripe_check_at.
            models.Index(
                fields=["stripe_check_at"],
                condition=Q(
                    stripe_check_at__isnull=False,
                    status__in=STRIPE_CHECKED_STATUSES,
                ),
                name="order_stripe_check_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_gte_0"),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "pending",
                        "processing",
                        "paid",
                        "refunded",
                        "expired",
                        "cancelled",
                    ]
                ),
                name="order_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(source__in=["web", "comp", "external", "waitlist"]),
                name="order_source_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.code}"

    @property
    def holds_capacity_statuses(self) -> tuple[str, ...]:
        return (self.Status.PENDING, self.Status.PROCESSING)

    def holds_seats(self, now: datetime) -> bool:
        """Whether this order's lines count as held at `now`.

        The rule availability counts by (core.queries.availability): a payment
        in progress holds until it settles, a pending order until its hold lapses.
        """
        if self.status == self.Status.PROCESSING:
            return True
        return (
            self.status == self.Status.PENDING
            and self.hold_expires_at is not None
            and self.hold_expires_at > now
        )

    def is_payable(self, now: datetime) -> bool:
        """Pending with its hold still live: the customer may go on to pay it."""
        return self.status == self.Status.PENDING and self.holds_seats(now)


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    ticket_type = models.ForeignKey(
        "core.TicketType", on_delete=models.PROTECT, related_name="order_lines"
    )
    quantity = models.PositiveSmallIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order", "ticket_type"], name="order_line_unique_type"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="order_line_quantity_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="order_line_price_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.ticket_type.name}"

    @property
    def subtotal(self):
        return self.unit_price * self.quantity


class Payment(models.Model):
    class Provider(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        SIMULATED = "simulated", "Simulated (test)"
        EXTERNAL = "external", "External channel"
        COMP = "comp", "Complimentary"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        # Received but not kept (it arrived after the seats were gone, or the
        # order was already paid): the worker refunds it until it succeeds.
        REFUND_DUE = "refund_due", "Refund due"
        REFUNDED = "refunded", "Refunded"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    provider_reference = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    provider_event_id = models.CharField(max_length=255, blank=True)
    # How much the provider says has gone back in all (Stripe's
    # `amount_refunded`, which only grows): refunds made here and any made
    # in Stripe's dashboard. What the order's Refund rows do not account for
    # was refunded outside this system.
    provider_refunded = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    # A payment not kept (`refund_due`): which try at refunding it this is,
    # each under its own key (core.services.payments.due_refund_key), since
    # the provider replays a refusal to its key for a day; and when it went
    # back (settle_refund). While the provider refuses it, its last plain
    # reason why (shown to the owner; cleared once it goes back).
    refund_attempt = models.PositiveSmallIntegerField(default=1)
    refunded_at = models.DateTimeField(null=True, blank=True)
    refund_refusal_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_reference"],
                name="payment_unique_reference",
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="payment_amount_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "pending",
                        "succeeded",
                        "failed",
                        "refund_due",
                        "refunded",
                    ]
                ),
                name="payment_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_reference}"


class Refund(models.Model):
    """Money back for chosen tickets of an order, and the tickets it voided;
    or, `whole_order`, all that was left of the order's payment, voiding
    every ticket that still admitted (refund_order).

    `sent` refunds were sent through the provider by this system (pending
    until the provider answers, so a webhook arriving meanwhile already
    counts them); `outside` ones record tickets voided against money the
    owner already gave back elsewhere (Stripe's dashboard), sending nothing.
    """

    class Kind(models.TextChoices):
        SENT = "sent", "Refunded here"
        OUTSIDE = "outside", "Refunded outside (tickets voided)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        related_name="refunds",
        null=True,
        blank=True,
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    # The provider's idempotency key, from the order and the tickets: the
    # same refund asked twice is one refund.
    key = models.CharField(max_length=100, unique=True)
    # Which try at the provider this is; each sends its own key (see
    # core.services.orders.attempt_key), when it began, and why the provider
    # refused it, if it did (empty otherwise). A refusal is replayed to its
    # key for a day, so only a refused try is followed by a new one.
    attempt = models.PositiveSmallIntegerField(default=1)
    attempt_started_at = models.DateTimeField(default=timezone.now)
    refusal_reason = models.CharField(max_length=255, blank=True)
    # The rest of the order (refund_order), keyed by its payment; otherwise
    # chosen tickets (refund_tickets), keyed by them.
    whole_order = models.BooleanField(default=False)
    provider_reference = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    tickets = models.ManyToManyField("core.Ticket", related_name="refunds")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="refund_amount_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["sent", "outside"]), name="refund_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed"]),
                name="refund_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount} {self.currency} of {self.order_id}"

    @property
    def outcome_unknown(self) -> bool:
        """Sent, and whether the provider made it is not known: still
        pending, or failed without the provider saying no."""
        return self.kind == self.Kind.SENT and (
            self.status == self.Status.PENDING
            or (self.status == self.Status.FAILED and not self.refusal_reason)
        )

    def too_late_to_resend(self, now: datetime) -> bool:
        """Whether resending this try could refund again: its outcome is
        unknown and the provider may have forgotten its key
        (REFUND_REPLAY_WINDOW)."""
        return (
            self.outcome_unknown
            and self.attempt_started_at < now - REFUND_REPLAY_WINDOW
        )


class ProviderEvent(models.Model):
    """A webhook event id seen once, so retries and duplicates are recognised."""

    provider = models.CharField(max_length=16)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="provider_event_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id}"
