"""The console's event page figures, on the page and in its live JSON.

"Sold" means what analytics means by it (core.queries.analytics): tickets
paid for. Free tickets (the owner's comps, and tickets of a type priced 0:
core.queries.money.FREE_TICKET) are shown beside them, and
capacity use (the bars, "left") counts both, as availability does.
"""

from dataclasses import dataclass

from core.models import Event, TicketType
from core.queries.analytics import free_tickets_by_type
from core.queries.availability import (
    EventAvailability,
    TicketTypeAvailability,
    get_event_availability,
)
from core.queries.door import checked_in_by_type


@dataclass(frozen=True)
class TypeFigures:
    """A ticket type on sale: its availability row, split into paid and free."""

    row: TicketTypeAvailability
    free: int

    @property
    def paid(self) -> int:
        return max(0, self.row.sold - self.free)


@dataclass(frozen=True)
class SwitchedOffType:
    """A ticket type switched off: what it sold, paid and free."""

    ticket_type: TicketType
    free: int

    @property
    def paid(self) -> int:
        return max(0, self.ticket_type.sold_count - self.free)


@dataclass(frozen=True)
class EventPageFigures:
    availability: EventAvailability
    free_by_type: dict
    checked_in: int
    switched_off: list[SwitchedOffType]

    @property
    def types(self) -> list[TypeFigures]:
        return [
            TypeFigures(row=row, free=self.free_by_type.get(row.id, 0))
            for row in self.availability.types
        ]

    @property
    def total_free(self) -> int:
        return sum(self.free_by_type.values())

    @property
    def total_paid(self) -> int:
        return max(0, self.availability.total_sold - self.total_free)

    def as_api_dict(self) -> dict:
        """The availability API's shape (core.queries.availability), with
        each type's and the event's sold split into `paid` and `free`, and
        the tickets `checked_in`, for the page's live figures."""
        data = self.availability.as_api_dict()
        for row in data["availability"]:
            row["free"] = self.free_by_type.get(row["id"], 0)
            row["paid"] = max(0, row["sold"] - row["free"])
        data["summary"] |= {
            "total_paid": self.total_paid,
            "total_free": self.total_free,
            "checked_in": self.checked_in,
        }
        return data


def event_page_figures(event: Event) -> EventPageFigures:
    """The event page's figures: availability, free tickets per type (one
    grouped query) and check-ins."""
    availability = get_event_availability(event)
    on_sale = {row.id for row in availability.types}
    free = free_tickets_by_type(event.id)
    return EventPageFigures(
        availability=availability,
        free_by_type=free,
        checked_in=sum(checked_in_by_type(event.pk).values()),
        switched_off=[
            SwitchedOffType(ticket_type=t, free=free.get(t.id, 0))
            for t in event.ticket_types.order_by("sort_order", "pk")
            if not t.is_active and t.id not in on_sale
        ],
    )
