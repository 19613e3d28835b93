"""Create a door device token (for handheld scanners, kiosks and the benchmark)."""

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import TicketingError
from core.models import Event
from core.services.scanner_devices import register_scanner_device


class Command(BaseCommand):
    help = "Create a scanner device and print its token (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True, help="e.g. 'Door 2'")
        parser.add_argument(
            "--event", help="slug of the only event this device may scan"
        )
        parser.add_argument(
            "--token-only", action="store_true", help="print just the token"
        )

    def handle(self, *args, **options):
        event = None
        if options["event"]:
            event = Event.objects.filter(slug=options["event"]).first()
            if event is None:
                raise CommandError(f"No event with slug {options['event']!r}.")
        try:
            device, token = register_scanner_device(label=options["label"], event=event)
        except TicketingError as exc:
            raise CommandError(exc.message) from exc
        if options["token_only"]:
            self.stdout.write(token)
            return
        self.stdout.write(self.style.SUCCESS(f"Device {device.label!r} created."))
        self.stdout.write(f"  Token (shown once): {token}")
        self.stdout.write("  Send it as the header:  Authorization: Device <token>")
