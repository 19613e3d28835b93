"""Door figures per door and per staff member, from scans made through the
check-in services: admits that stand add up to the tickets checked in."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from core.queries import analytics
from core.services.checkin import (
    OfflineAdmit,
    redeem_ticket,
    staff_display_name,
    sync_offline_admits,
    undo_admit,
)
from core.services.orders import refund_tickets
from tests.factories import (
    TicketTypeFactory,
    make_door_open_event,
    make_paid_order,
    make_staff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def tonight(db):
    return make_door_open_event(name="Tonight")


@pytest.fixture
def tickets(tonight):
    ga = TicketTypeFactory(event=tonight, name="GA", capacity=50)
    return list(make_paid_order(ga, 6).tickets.order_by("code"))


@pytest.fixture
def lena(db):
    return make_staff("door", username="lena", first_name="Lena", last_name="Park")


@pytest.fixture
def sam(db):
    return make_staff("door", username="sokafor", first_name="Sam", last_name="Okafor")


def admit(ticket, staff, door):
    result = redeem_ticket(
        event=ticket.event, text=ticket.qr_payload, staff=staff, device_label=door
    )
    assert result.admitted
    return result


def checked_in(event) -> int:
    return analytics.event_sales(event).figures.checked_in


def rows(tallies):
    return [(t.label, t.total, t.admitted, t.rejected, t.undone) for t in tallies]


def test_an_undone_admit_is_not_counted_in_so_doors_add_up_to_checked_in(
    tonight, tickets, lena, sam
):
    t1, t2, t3, t4 = tickets[:4]
    admit(t1, lena, "Main")
    admit(t2, lena, "Main")
    admit(t3, sam, "Side")
    # Lena lets t4 in at Main by mistake; Sam undoes it at Side, then
    # admits it there when its holder arrives.
    admit(t4, lena, "Main")
    undo_admit(
        event=tonight,
        ticket_code=t4.code,
        reason="scanned the wrong ticket",
        staff=sam,
        device_label="Side",
    )
    admit(t4, sam, "Side")

    door = analytics.door_figures(tonight)

    assert checked_in(tonight) == 4
    # The undone admit is Lena's at Main: a scan there, not one that stands.
    assert rows(door.by_door) == [("Main", 3, 2, 0, 1), ("Side", 2, 2, 0, 0)]
    assert rows(door.by_staff) == [
        ("Lena Park", 3, 2, 0, 1),
        ("Sam Okafor", 2, 2, 0, 0),
    ]
    assert sum(t.admitted for t in door.by_door) == 4
    assert sum(t.admitted for t in door.by_staff) == 4
    assert door.admitted_total == door.scans_total - door.undone_total == 4


def test_admits_undone_again_and_again_count_once_where_they_stand(
    tonight, tickets, lena, sam
):
    ticket = tickets[0]
    for door, staff in (("Main", lena), ("Side", sam), ("Main", sam)):
        admit(ticket, staff, door)
        undo_admit(event=tonight, ticket_code=ticket.code, reason="oops", staff=lena)
    admit(ticket, lena, "Side")

    door = analytics.door_figures(tonight)

    assert checked_in(tonight) == 1
    assert rows(door.by_door) == [("Main", 2, 0, 0, 2), ("Side", 2, 1, 0, 1)]
    assert rows(door.by_staff) == [
        ("Lena Park", 2, 1, 0, 1),
        ("Sam Okafor", 2, 0, 0, 2),
    ]


def test_a_guest_let_in_twice_offline_is_not_refused(tonight, tickets, lena, sam):
    ticket = tickets[0]
    now = timezone.now()
    admit(ticket, lena, "Main")
    [conflict] = sync_offline_admits(
        event=tonight,
        staff=sam,
        admits=[
            OfflineAdmit(
                text=ticket.qr_payload,
                nonce="off-1",
                at=now - dt.timedelta(minutes=1),
                device_label="Side",
            )
        ],
    )
    assert conflict.code == "offline_conflict"
    redeem_ticket(event=tonight, text=ticket.qr_payload, staff=sam, device_label="Side")

    door = analytics.door_figures(tonight)

    assert [(r.key, r.count) for r in door.rejected] == [("already_used", 1)]
    assert door.rejected_total == 1
    assert door.let_in_twice_total == 1
    side = next(t for t in door.by_door if t.label == "Side")
    assert (side.total, side.admitted, side.rejected, side.let_in_twice) == (
        2,
        0,
        1,
        1,
    )
    assert door.admitted_total == checked_in(tonight) == 1


def test_an_admit_refunded_since_is_not_counted_in(tonight, tickets, lena):
    admit(tickets[0], lena, "Main")
    admit(tickets[1], lena, "Main")
    refund_tickets(order_id=tickets[0].order_id, ticket_ids=[tickets[0].pk])

    door = analytics.door_figures(tonight)

    assert checked_in(tonight) == 1
    [main] = door.by_door
    assert (main.total, main.admitted, main.refunded_after) == (2, 1, 1)
    assert door.by_staff[0].admitted == 1


def test_doors_and_staff_are_named_as_the_door_page_names_them(tonight, tickets):
    named = make_staff("door", username="lena", first_name="Lena", last_name="Park")
    plain = make_staff("door", username="door")
    admit(tickets[0], named, "")
    admit(tickets[1], plain, "Door")  # what door pages once saved, unnamed
    admit(tickets[2], plain, "  the door ")
    admit(tickets[3], None, "Main")  # a door device's own token

    door = analytics.door_figures(tonight)

    assert [(t.label, t.admitted) for t in door.by_door] == [
        ("Unnamed door", 3),
        ("Main", 1),
    ]
    assert [(t.label, t.admitted) for t in door.by_staff] == [
        ("door", 2),
        ("Lena Park", 1),
        ("Door device (no sign-in)", 1),
    ]
    assert [(s.device, s.staff) for s in door.last_scans] == [
        ("Main", ""),
        ("Unnamed door", "door"),
        ("Unnamed door", "door"),
        ("Unnamed door", "Lena Park"),
    ]


def test_two_staff_with_the_same_name_are_told_apart(tonight, tickets):
    one = make_staff("door", username="sam1", first_name="Sam", last_name="Lee")
    two = make_staff("door", username="sam2", first_name="Sam", last_name="Lee")
    admit(tickets[0], one, "Main")
    admit(tickets[1], two, "Main")
    admit(tickets[2], two, "Main")

    assert [(t.label, t.admitted) for t in analytics.scans_by_staff(tonight)] == [
        ("Sam Lee (sam2)", 2),
        ("Sam Lee (sam1)", 1),
    ]


def test_staff_name_is_the_door_pages_display_name(db):
    for fields in (
        {"username": "lena", "first_name": "Lena", "last_name": "Park"},
        {"username": "mono", "first_name": "Cher", "last_name": ""},
        {"username": "plain"},
    ):
        user = get_user_model()(**fields)
        assert analytics.staff_name(
            user.first_name, user.last_name, user.username
        ) == staff_display_name(user)


def test_door_figures_take_the_same_queries_however_many_undos(
    tonight, tickets, lena, sam, django_assert_num_queries
):
    admit(tickets[0], lena, "Main")
    with django_assert_num_queries(7):
        analytics.door_figures(tonight)
    for ticket in tickets[1:]:
        admit(ticket, lena, "Main")
        undo_admit(event=tonight, ticket_code=ticket.code, reason="oops", staff=sam)
        admit(ticket, sam, "Side")
    refund_tickets(order_id=tickets[1].order_id, ticket_ids=[tickets[1].pk])
    with django_assert_num_queries(7):
        door = analytics.door_figures(tonight)
    assert door.admitted_total == checked_in(tonight) == 5
