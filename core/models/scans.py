import zlib

from django.conf import settings
from django.db import models
from django.db.models import Q


class ScanLog(models.Model):
    """Every scan attempt at a door, valid or not (invariant 4)."""

    class Result(models.TextChoices):
        OK = "ok", "Admitted"
        ALREADY_USED = "already_used", "Already used"
        WRONG_EVENT = "wrong_event", "Ticket for another event"
        VOID = "void", "Refunded or void"
        INVALID = "invalid", "Not a valid ticket"
        NOT_YET_VALID = "not_yet_valid", "Not valid yet"
        UNDONE = "undone", "Admit undone"
        OFFLINE_CONFLICT = "offline_conflict", "Let in twice (offline)"

    ticket = models.ForeignKey(
        "core.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="scans",
    )
    # No index of its own: the indexes below all start with the event.
    event = models.ForeignKey(
        "core.Event", on_delete=models.CASCADE, related_name="scans", db_index=False
    )
    result = models.CharField(max_length=20, choices=Result.choices)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    device_label = models.CharField(max_length=100, blank=True)
    code_digest = models.CharField(
        max_length=64, help_text="SHA-256 of the raw scanned text."
    )
    nonce = models.CharField(max_length=64, null=True, blank=True)
    offline = models.BooleanField(default=False)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["event", "-at"]),
            models.Index(fields=["event", "result"]),
            # Analytics: scans per door and staff member.
            models.Index(
                fields=["event", "device_label", "staff"],
                include=["result"],
                name="scan_event_door_staff_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "nonce"],
                condition=Q(nonce__isnull=False),
                name="scan_nonce_once_per_event",
            ),
            models.CheckConstraint(
                condition=Q(
                    result__in=[
                        "ok",
                        "already_used",
                        "wrong_event",
                        "void",
                        "invalid",
                        "not_yet_valid",
                        "undone",
                        "offline_conflict",
                    ]
                ),
                name="scan_result_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.result} at {self.at:%H:%M:%S}"


class CheckInTally(models.Model):
    """How many tickets of a type are checked in, spread over SLOTS rows.

    Every admit adds one to a row and every undo takes one away, in the
    admit's own transaction, so the count is exact. One row per type would
    make every door of an event queue for that row's lock, held until each
    admit commits (the WAL flush included); spread over slots, concurrent
    admits mostly touch different rows (ADR 13). A ticket always counts in
    the same slot (`slot_for`), so no slot goes below zero.
    """

    SLOTS = 16

    event = models.ForeignKey(
        "core.Event", on_delete=models.CASCADE, related_name="check_in_tallies"
    )
    # No index of its own: the unique constraint's starts with it.
    ticket_type = models.ForeignKey(
        "core.TicketType",
        on_delete=models.CASCADE,
        related_name="check_in_tallies",
        db_index=False,
    )
    slot = models.PositiveSmallIntegerField()
    checked_in = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket_type", "slot"], name="check_in_tally_unique_slot"
            ),
            models.CheckConstraint(
                condition=Q(checked_in__gte=0), name="check_in_tally_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_type_id} slot {self.slot}: {self.checked_in}"

    @classmethod
    def slot_for(cls, ticket_code: str) -> int:
        """The slot a ticket counts in: the same for its admit and its undo."""
        return zlib.crc32(ticket_code.encode()) % cls.SLOTS
