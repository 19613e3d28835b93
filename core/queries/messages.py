"""The outbox as staff see it."""

from django.db.models import Count, Q, QuerySet

from core.models import OutboundMessage


def messages_needing_attention() -> QuerySet[OutboundMessage]:
    """Failed sends and sends being retried, newest first."""
    return (
        OutboundMessage.objects.filter(
            Q(status=OutboundMessage.Status.FAILED)
            | Q(status=OutboundMessage.Status.QUEUED, attempts__gt=0)
        )
        .select_related("order", "event")
        .order_by("-created_at", "-pk")
    )


def outbox_counts() -> dict[str, int]:
    rows = OutboundMessage.objects.values("status").annotate(n=Count("pk"))
    counts = dict.fromkeys(OutboundMessage.Status.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts
