import base64
import secrets

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print a new QR_SIGNING_SECRET (an Ed25519 seed, base64)."

    def handle(self, *args, **options):
        self.stdout.write(base64.b64encode(secrets.token_bytes(32)).decode())
