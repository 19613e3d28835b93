import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from core.models import Event, Ticket, TicketType
from core.queries.availability import get_event_availability
from core.queries.door import checked_in_by_type
from core.services.checkin import code_digest

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_true_to_its_counts(capsys):
    call_command("seed_demo")
    counts = (Event.objects.count(), TicketType.objects.count(), Ticket.objects.count())
    call_command("seed_demo")
    assert (
        Event.objects.count(),
        TicketType.objects.count(),
        Ticket.objects.count(),
    ) == counts
    assert counts[0] >= 3 and counts[2] > 0
    assert "owner / nightpass-demo" in capsys.readouterr().out
    assert Ticket.objects.filter(status="used").exists()
    sold_out = [e for e in Event.objects.all() if get_event_availability(e).is_sold_out]
    assert sold_out, "one demo event shows the sold-out state"
    for ticket_type in TicketType.objects.all():
        assert ticket_type.sold_count == ticket_type.tickets.count()


def test_seed_demo_admits_through_the_door_service():
    call_command("seed_demo")

    tonight = Event.objects.get(name="Open Mic Tonight")
    logs = list(tonight.scans.order_by("id").values_list("result", "code_digest"))
    assert [result for result, _ in logs] == ["ok", "ok", "ok", "already_used"]
    used = Ticket.objects.filter(event=tonight, status="used")
    assert {code_digest(t.qr_payload) for t in used} == {d for _, d in logs}
    assert sum(checked_in_by_type(tonight.pk).values()) == used.count() == 3
    # One guest from each order, as a door sees them, not one group thrice.
    assert len({t.guest_name for t in used}) == 3


def test_the_sold_out_demo_night_has_people_waiting():
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)

    sold_out = Event.objects.get(name="Neon Nights Jazz")
    assert get_event_availability(sold_out).is_sold_out
    waiting = sold_out.waitlist.order_by("created_at", "id")
    assert [(w.name, w.status) for w in waiting] == [
        ("Dev Patel", "waiting"),
        ("Eva Novak", "waiting"),
        ("Farah Haddad", "waiting"),
    ]


def test_demo_staff_have_names_the_door_can_show():
    call_command("seed_demo", verbosity=0)
    door = get_user_model().objects.get(username="door")
    assert door.get_full_name() == "Sam Okafor"
