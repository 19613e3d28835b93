"""Demo data so every page has something true to show. Safe to run repeatedly."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from core.models import (
    Event,
    OutboundMessage,
    Role,
    StaffProfile,
    Ticket,
    TicketType,
)
from core.services.checkin import redeem_ticket
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order
from core.services.waitlist import join_waitlist

DEMO_PASSWORD = "nightpass-demo"

EVENTS = [
    {
        "name": "Perreo Fridays",
        "venue": "Sala Apolo, Barcelona",
        "time_zone": "Europe/Madrid",
        "days_ahead": 3,
        "venue_capacity": 500,
        "currency": "eur",
        "description": "Reggaeton all night with resident DJs. 18+, ID required at the door.",
        "types": [("VIP", "50.00", 100, 4), ("General Admission", "25.00", 400, 10)],
        "sell": [("General Admission", 3), ("General Admission", 2), ("VIP", 2)],
        "scan": 0,
    },
    {
        "name": "Neon Nights Jazz",
        "venue": "Blue Room, New York",
        "time_zone": "America/New_York",
        "days_ahead": 8,
        "venue_capacity": 12,
        "currency": "usd",
        "description": "An intimate late set. Only twelve seats, all of them close to the stage.",
        "types": [("Seat", "40.00", 12, 4)],
        "sell": [("Seat", 4), ("Seat", 4), ("Seat", 4)],
        "scan": 0,
        # Sold out, so its waitlist has people on it, first come first served.
        "waitlist": [
            ("Dev Patel", "dev@example.com", 2),
            ("Eva Novak", "eva@example.com", 1),
            ("Farah Haddad", "farah@example.com", 2),
        ],
    },
    {
        "name": "Sunday Rooftop Sessions",
        "venue": "The Roof, London",
        "time_zone": "Europe/London",
        "days_ahead": 12,
        "venue_capacity": 250,
        "currency": "gbp",
        "description": "House music and sunsets. Early bird tickets while they last.",
        "types": [("Early Bird", "12.00", 50, 6), ("Standard", "18.00", 200, 6)],
        "sell": [("Early Bird", 2)],
        "scan": 0,
    },
]

# Tonight's show, so the door can be tried at once: its doors are open.
TONIGHT = {
    "name": "Open Mic Tonight",
    "venue": "The Back Room, Lisbon",
    "time_zone": "Europe/Lisbon",
    "hours_ahead": 2,
    "venue_capacity": 80,
    "currency": "eur",
    "description": "Songs, poems and jokes from whoever signs up. Doors are open now.",
    "types": [("Standing", "8.00", 60, 6), ("Table", "15.00", 20, 4)],
    "sell": [("Standing", 4), ("Table", 2), ("Standing", 3)],
    "scan": 3,
}
EVENTS.append(TONIGHT)

CUSTOMERS = [
    ("Ana García", "ana@example.com"),
    ("Ben Okafor", "ben@example.com"),
    ("Chloé Martin", "chloe@example.com"),
]


class Command(BaseCommand):
    help = (
        "Create demo events, ticket types, staff logins, sales and scans (idempotent)."
    )

    def handle(self, *args, **options):
        owner = self._user(
            "owner",
            "owner@example.com",
            Role.OWNER,
            name=("Alex", "Rivera"),
            superuser=True,
        )
        door = self._user("door", "door@example.com", Role.DOOR, name=("Sam", "Okafor"))
        for spec in EVENTS:
            self._event(spec, door)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Owner login: {owner.username} / {DEMO_PASSWORD}")
        self.stdout.write(f"  Door login:  {door.username} / {DEMO_PASSWORD}")

    def _user(
        self,
        username: str,
        email: str,
        role: str,
        *,
        name: tuple[str, str],
        superuser: bool = False,
    ):
        # A name, so the door's "Already used … by Sam" reads as it will live.
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={
                "email": email,
                "first_name": name[0],
                "last_name": name[1],
                "is_staff": superuser,
                "is_superuser": superuser,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        StaffProfile.objects.get_or_create(user=user, defaults={"role": role})
        return user

    @staticmethod
    def _starts_at(spec: dict):
        tz = ZoneInfo(spec["time_zone"])
        if "hours_ahead" in spec:
            soon = timezone.now() + timedelta(hours=spec["hours_ahead"])
            return soon.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        day = timezone.now().astimezone(tz).date() + timedelta(days=spec["days_ahead"])
        return datetime(day.year, day.month, day.day, 21, 0, tzinfo=tz)

    @transaction.atomic
    def _event(self, spec: dict, door_user) -> None:
        starts_at = self._starts_at(spec)
        event, created = Event.objects.get_or_create(
            name=spec["name"],
            defaults={
                "slug": slugify(spec["name"]),
                "venue": spec["venue"],
                "time_zone": spec["time_zone"],
                "starts_at": starts_at,
                "doors_at": starts_at - timedelta(hours=1),
                "venue_capacity": spec["venue_capacity"],
                "currency": spec["currency"],
                "description": spec["description"],
            },
        )
        if not created:
            if event.starts_at < timezone.now():
                # Keep the demo upcoming when it is re-run days later.
                event.starts_at = starts_at
                event.doors_at = starts_at - timedelta(hours=1)
                event.save(update_fields=["starts_at", "doors_at", "updated_at"])
            return
        types = {}
        for order_index, (name, price, capacity, max_per_order) in enumerate(
            spec["types"]
        ):
            types[name] = TicketType.objects.create(
                event=event,
                name=name,
                price=Decimal(price),
                capacity=capacity,
                max_per_order=max_per_order,
                sort_order=order_index,
            )
        for index, (type_name, quantity) in enumerate(spec["sell"]):
            customer_name, email = CUSTOMERS[index % len(CUSTOMERS)]
            order = place_order(
                event_id=event.id,
                quantities={types[type_name].id: quantity},
                customer_name=customer_name,
                customer_email=email,
            )
            fulfil_order(
                order_id=order.id,
                provider="simulated",
                provider_reference=f"demo-{order.code}",
                amount=order.total,
                currency=order.currency,
            )
        for name, email, quantity in spec.get("waitlist", ()):
            join_waitlist(
                event_id=event.id,
                ticket_type_id=None,
                name=name,
                email=email,
                quantity=quantity,
            )
        # Demo customers have example.com addresses: nothing to deliver.
        OutboundMessage.objects.filter(event=event).update(
            status=OutboundMessage.Status.SENT, sent_at=timezone.now()
        )
        self._admit_some(event, spec["scan"], door_user)

    def _admit_some(self, event: Event, count: int, door_user) -> None:
        """Scan a ticket of each of the first orders at the door, as staff
        would (and one twice): Last scans shows different guests, as a door
        does, rather than one buyer's group three times."""
        first_of_each_order = {}
        for ticket in Ticket.objects.filter(
            event=event, status=Ticket.Status.ISSUED
        ).order_by("created_at", "id"):
            first_of_each_order.setdefault(ticket.order_id, ticket)
        tickets = list(first_of_each_order.values())[:count]
        for ticket in tickets:
            redeem_ticket(
                event=event,
                text=ticket.qr_payload,
                staff=door_user,
                device_label="Door 1",
                method="camera",
            )
        if tickets:
            # A guest trying to get in twice shows what a refusal looks like.
            redeem_ticket(
                event=event,
                text=tickets[0].qr_payload,
                staff=door_user,
                device_label="Door 2",
                method="camera",
            )
