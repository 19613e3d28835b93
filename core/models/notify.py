from django.db import models
from django.db.models import Q

from core.notify.reasons import plain_reason

# What each kind of message is, in the owner's words (the console lists them).
KIND_LABELS = {
    "order_confirmation": "Tickets (order confirmation)",
    "order_tickets_link": "Tickets link",
    "order_refunded": "Refund notice",
    "tickets_refunded": "Refund notice (some tickets)",
    "comp_cancelled": "Free tickets cancelled",
    "payment_failed": "Payment failed",
    "payment_refunded": "Late payment refunded",
    "staff_invite": "Staff invitation",
    "waitlist_joined": "Waitlist: joined",
    "waitlist_offer": "Waitlist: tickets held for them",
    "waitlist_lapsed": "Waitlist: their hold ran out",
    "event_changed": "Event changed (time, venue or name)",
    "event_cancelled": "Event cancelled (to ticket holders)",
    "event_cancelled_waitlist": "Event cancelled (to the waitlist)",
    "tickets_lookup": "Find my tickets (links to orders)",
}


class OutboundMessage(models.Model):
    """An email or SMS queued in the writing transaction and sent by the worker.

    Queuing in the same transaction as the data it announces means a provider
    outage delays a message but never drops it (invariant 5).
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    channel = models.CharField(max_length=8, choices=Channel.choices)
    kind = models.CharField(
        max_length=50, help_text="What the message is, e.g. order_confirmation."
    )
    to = models.CharField(max_length=254)
    order = models.ForeignKey(
        "core.Order",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messages",
    )
    event = models.ForeignKey(
        "core.Event",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messages",
    )
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    provider_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "sent", "failed"]),
                name="message_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=["email", "sms"]), name="message_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.kind} to {self.to}"

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())

    @property
    def undelivered(self) -> bool:
        """Given up on, or tried and waiting to be tried again (the rows
        messages_needing_attention lists)."""
        return self.status == self.Status.FAILED or (
            self.status == self.Status.QUEUED and self.attempts > 0
        )

    @property
    def error_reason(self) -> str:
        """Why it has not gone out, in plain words ("" when nothing went wrong)."""
        retrying = self.status == self.Status.QUEUED
        return plain_reason(self.last_error, channel=self.channel, retrying=retrying)
