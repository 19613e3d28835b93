import importlib
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat

from core.models import Order, Payment, Ticket, TicketType
from core.queries.door import search_guests
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def test_ticket_type_price_cannot_be_negative(event):
    with pytest.raises(IntegrityError), transaction.atomic():
        TicketTypeFactory(event=event, price=Decimal("-1.00"))


def test_ticket_type_name_is_unique_per_event(event):
    TicketTypeFactory(event=event, name="VIP")
    with pytest.raises(IntegrityError), transaction.atomic():
        TicketTypeFactory(event=event, name="VIP")
    TicketTypeFactory(name="VIP")  # same name at another event is fine


def test_event_name_is_unique():
    EventFactory(name="Same", slug="same-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory(name="Same", slug="same-2")


def test_sold_counter_cannot_exceed_capacity_in_the_database(ticket_type):
    with pytest.raises(IntegrityError), transaction.atomic():
        TicketType.objects.filter(pk=ticket_type.pk).update(
            sold_count=ticket_type.capacity + 1
        )


def test_order_status_must_be_a_known_value(ticket_type):
    order = make_paid_order(ticket_type)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(status="bogus")


def test_ticket_codes_and_tokens_are_unique_and_so_are_payloads(ticket_type):
    """A payload is signed over its code, so unique codes make unique payloads."""
    order = make_paid_order(ticket_type, 2)
    first, second = order.tickets.all()
    assert f".{first.code}." in first.qr_payload
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=second.pk).update(code=first.code)
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=second.pk).update(token=first.token)


def test_stripe_session_ids_are_unique(ticket_type):
    one = make_paid_order(ticket_type)
    two = make_paid_order(ticket_type)
    Order.objects.filter(pk=one.pk).update(stripe_checkout_session_id="cs_test_1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=two.pk).update(stripe_checkout_session_id="cs_test_1")


def test_payment_reference_is_recorded_once(ticket_type):
    order = make_paid_order(ticket_type)
    payment = order.payments.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            order=order,
            provider=payment.provider,
            provider_reference=payment.provider_reference,
            amount=payment.amount,
            currency=payment.currency,
            status="succeeded",
        )


def test_used_ticket_must_have_a_scan_time(ticket_type):
    ticket = make_paid_order(ticket_type).tickets.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(status="used")


def test_a_tickets_folded_guest_name_is_written_however_it_is_inserted(ticket_type):
    sold = make_paid_order(ticket_type, name="Ana  GARCÍA").tickets.get()
    created = Ticket.objects.create(
        event=ticket_type.event,
        ticket_type=ticket_type,
        guest_name="Zoë Ångström",
        price_paid=Decimal("0.00"),
        qr_payload="created",
    )
    (bulk,) = Ticket.objects.bulk_create(
        [
            Ticket(
                event=ticket_type.event,
                ticket_type=ticket_type,
                guest_name="Jürgen Müller",
                price_paid=Decimal("0.00"),
                qr_payload="bulk",
            )
        ]
    )

    folded = dict(Ticket.objects.values_list("pk", "guest_name_folded"))
    assert folded[sold.pk] == "ana garcia"
    assert folded[created.pk] == "zoe angstrom"
    assert folded[bulk.pk] == "jurgen muller"


def test_a_changed_guest_name_is_folded_again_on_save(ticket_type):
    ticket = make_paid_order(ticket_type, name="Ana García").tickets.get()

    ticket.guest_name = "José Núñez"
    ticket.save(update_fields=["guest_name", "guest_name_folded"])

    ticket.refresh_from_db()
    assert ticket.guest_name_folded == "jose nunez"


def _rename(ticket: Ticket, how: str, name: str) -> None:
    if how == "update":
        Ticket.objects.filter(pk=ticket.pk).update(guest_name=name)
    elif how == "order_tickets_update":
        ticket.order.tickets.update(guest_name=name)
    elif how == "update_with_value":
        Ticket.objects.filter(pk=ticket.pk).update(guest_name=Value(name))
    elif how == "bulk_update":
        ticket.guest_name = name
        Ticket.objects.bulk_update([ticket], ["guest_name"])
    else:
        ticket.guest_name = name
        ticket.save(update_fields=["guest_name"])


@pytest.mark.parametrize(
    "how",
    [
        "update",
        "order_tickets_update",
        "update_with_value",
        "bulk_update",
        "save_update_fields",
    ],
)
def test_the_door_finds_a_guest_renamed_however_it_is_written(ticket_type, how):
    ticket = make_paid_order(ticket_type, name="Ana García").tickets.get()

    _rename(ticket, how, "José Núñez")

    def found(query):
        return [row["code"] for row in search_guests(ticket_type.event, query)]

    for query in ("José Núñez", "jose nunez", "NÚÑEZ", "nunez"):
        assert found(query) == [ticket.code], query
    assert found("garcia") == []


def test_a_guest_name_set_in_bulk_from_an_expression_is_refused(ticket_type):
    ticket = make_paid_order(ticket_type, name="Ana García").tickets.get()

    with pytest.raises(TypeError, match="guest_name_folded"):
        Ticket.objects.filter(pk=ticket.pk).update(guest_name=F("guest_email"))
    with pytest.raises(TypeError, match="guest_name_folded"):
        Ticket.objects.update(guest_name=Concat(F("guest_name"), Value("!")))

    ticket.refresh_from_db()
    assert (ticket.guest_name, ticket.guest_name_folded) == ("Ana García", "ana garcia")


def test_the_migration_folds_the_names_of_tickets_sold_before_it(ticket_type):
    migration = importlib.import_module(
        "core.migrations.0009_guest_names_folded_for_search"
    )
    named = make_paid_order(ticket_type, 2, name="Søren Ærø-Ñandú").tickets.all()
    unnamed = Ticket.objects.create(
        event=ticket_type.event,
        ticket_type=ticket_type,
        price_paid=Decimal("0.00"),
        qr_payload="unnamed",
    )
    # As the column was before the migration filled it.
    Ticket.objects.update(guest_name_folded="")

    migration.fold_guest_names(apps, SimpleNamespace(connection=connection))

    assert {t.guest_name_folded for t in named.all()} == {"søren ærø-nandu"}
    assert Ticket.objects.get(pk=unnamed.pk).guest_name_folded == ""


def test_public_codes_draw_every_character_of_the_alphabet_evenly():
    """One random byte per character: 256 is a multiple of the alphabet's
    length, so no character is likelier than another."""
    from collections import Counter

    from core.models.orders import CODE_ALPHABET, new_public_code

    codes = [new_public_code(10) for _ in range(3200)]
    assert {len(code) for code in codes} == {10} and len(set(codes)) == 3200
    counts = Counter("".join(codes))
    assert set(counts) == set(CODE_ALPHABET)
    # 1000 expected each; 6 standard deviations either side.
    assert all(800 < n < 1200 for n in counts.values()), counts


def test_the_door_finds_a_ticket_by_its_code_however_it_is_typed(ticket_type):
    ticket = make_paid_order(ticket_type, name="Ana García").tickets.get()
    code = ticket.code
    typed = [
        code,
        code.lower(),
        f"{code[:4]} {code[4:]}",
        f"{code[:4]}-{code[4:]}".lower(),
    ]

    for query in typed:
        found = [row["code"] for row in search_guests(ticket_type.event, query)]
        assert found == [code], query
