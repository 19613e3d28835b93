"""Recount the seats held per ticket type from the orders (a repair)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.models import Event
from core.services.counters import recount_held


class Command(BaseCommand):
    help = (
        "Set every ticket type's held seats from its pending and processing "
        "orders, one event at a time under its locks. Run it once after an "
        "upgrade during which processes on older code were still serving."
    )

    def add_arguments(self, parser):
        parser.add_argument("--event", help="slug of one event (default: all)")

    def handle(self, *args, **options):
        events = Event.objects.order_by("starts_at")
        if options["event"]:
            events = events.filter(slug=options["event"])
            if not events.exists():
                raise CommandError(f"No event with slug {options['event']!r}.")
        checked = off = 0
        for event_id in events.values_list("pk", flat=True):
            with transaction.atomic():
                off += recount_held(event_id)
            checked += 1
        self.stdout.write(
            f"{checked} events checked; {off} ticket types' held seats corrected."
        )
