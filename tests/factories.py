"""factory_boy factories; paid orders go through the real services."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from core.models import Event, Order, OrderLine, Role, StaffProfile, TicketType
from core.services.checkout import place_order
from core.services.fulfilment import fulfil_order


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    name = factory.Sequence(lambda n: f"Test Event {n}")
    slug = factory.LazyAttribute(lambda o: o.name.lower().replace(" ", "-"))
    venue = "Test Hall"
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    time_zone = "UTC"
    venue_capacity = 100
    currency = "usd"


class TicketTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketType

    event = factory.SubFactory(EventFactory)
    name = factory.Sequence(lambda n: f"Type {n}")
    price = Decimal("25.00")
    capacity = 50
    max_per_order = 10


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


def make_staff(role: str = Role.OWNER, **kwargs):
    user = UserFactory(**kwargs)
    StaffProfile.objects.create(user=user, role=role)
    return user


def make_held_order(ticket_type: TicketType, quantity: int = 2, **kwargs) -> Order:
    """An order holding seats, placed through place_order (Ana's)."""
    return place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: quantity},
        customer_name="Ana",
        customer_email="ana@example.com",
        **kwargs,
    )


def pay_simulated(held: Order, reference: str = "pay_1", now=None, **kwargs):
    """fulfil_order for the order's total, as the simulated provider pays
    (`kwargs`: fulfil_order's others, e.g. the caller's read `order=`)."""
    return fulfil_order(
        order_id=held.id,
        provider="simulated",
        provider_reference=reference,
        amount=held.total,
        currency=held.currency,
        now=now,
        **kwargs,
    )


def make_paid_order(
    ticket_type: TicketType,
    quantity: int = 1,
    *,
    email: str = "buyer@example.com",
    name: str = "Buyer",
) -> Order:
    """An order bought and paid through place_order and fulfil_order."""
    order = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: quantity},
        customer_name=name,
        customer_email=email,
    )
    fulfil_order(
        order_id=order.id,
        provider="simulated",
        provider_reference=f"test-{order.code}",
        amount=order.total,
        currency=order.currency,
    )
    order.refresh_from_db()
    return order


def make_door_open_event(**kwargs) -> Event:
    """An event whose door is open now (check-in opens hours before doors)."""
    now = timezone.now()
    values = {
        "starts_at": now + timedelta(hours=2),
        "doors_at": now + timedelta(hours=1),
        "time_zone": "Europe/Madrid",
    }
    return EventFactory(**(values | kwargs))


def held_recount(ticket_type: TicketType) -> int:
    """What TicketType.held_count must be: the seats of its pending and
    processing orders, lapsed or not."""
    from django.db.models import Sum

    return (
        ticket_type.order_lines.filter(
            order__status__in=[Order.Status.PENDING, Order.Status.PROCESSING]
        ).aggregate(seats=Sum("quantity"))["seats"]
        or 0
    )


def live_holds_by_type(event, now) -> dict[int, int]:
    """Seats of the event's processing orders and pending ones with a live
    hold, by type, added up from the orders: what held_count less the lapsed
    holds must give."""
    from django.db.models import Q, Sum

    return dict(
        OrderLine.objects.filter(order__event=event)
        .filter(
            Q(order__status=Order.Status.PROCESSING)
            | Q(order__status=Order.Status.PENDING, order__hold_expires_at__gt=now)
        )
        .values_list("ticket_type")
        .annotate(seats=Sum("quantity"))
        .order_by()
    )


def count_held_seats() -> None:
    """Set every type's held_count from its orders, for a test that writes
    orders or their status directly, as the services would have counted."""
    from django.db import transaction

    from core.services.counters import recount_held

    for event_id in Event.objects.values_list("pk", flat=True):
        with transaction.atomic():
            recount_held(event_id)
