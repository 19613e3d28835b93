import pytest
from django.core.management import call_command

from core.models import Event, Ticket, TicketType
from core.queries.availability import get_event_availability

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
