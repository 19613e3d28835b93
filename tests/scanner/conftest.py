import pytest

from tests.factories import EventFactory, TicketTypeFactory, make_paid_order, make_staff
from tests.scanner.url_samples import build_samples


@pytest.fixture
def url_samples(db):
    """One of each row a scanner URL may name (see tests/scanner/url_samples.py)."""
    event = EventFactory(name="Matrix Night")
    ticket_type = TicketTypeFactory(event=event, capacity=20)
    order = make_paid_order(ticket_type, 2)
    member = make_staff("door", username="member")
    return build_samples(
        event=event, ticket_type=ticket_type, order=order, member=member
    )
