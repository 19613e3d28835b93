"""Every service that takes a phone number keeps it in E.164, reading one typed
without its +code as a number of the event's country (from its time zone),
or of DEFAULT_PHONE_REGION where there is no event."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.exceptions import InvalidRequest
from core.models import Order, OutboundMessage, StaffInvite, WaitlistEntry
from core.notify.delivery import send_due_messages
from core.services.checkout import place_order
from core.services.comps import issue_comp_tickets
from core.services.messages import resend_order_text
from core.services.staff import invite_staff
from core.services.waitlist import join_waitlist
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = pytest.mark.django_db


def _buy(event_zone: str, phone: str) -> Order:
    ticket_type = TicketTypeFactory(event=EventFactory(time_zone=event_zone))
    return place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Ana",
        customer_email="ana@example.com",
        customer_phone=phone,
    )


@pytest.mark.parametrize(
    ("zone", "typed", "stored"),
    [
        ("Europe/Madrid", "612 345 678", "+34612345678"),
        ("Atlantic/Canary", "612-34-56-78", "+34612345678"),
        ("America/New_York", "(201) 555-0123", "+12015550123"),
        ("Europe/London", "07400 123456", "+447400123456"),
        ("Australia/Sydney", "0412 345 678", "+61412345678"),
        ("Europe/Paris", "06 12 34 56 78", "+33612345678"),
    ],
)
def test_a_buyer_number_is_read_in_the_event_country(zone, typed, stored):
    assert _buy(zone, typed).customer_phone == stored


def test_a_number_with_its_code_is_kept_whatever_the_event_country():
    assert _buy("Europe/Madrid", "+44 7400 123456").customer_phone == "+447400123456"
    assert _buy("America/New_York", "+34612345678").customer_phone == "+34612345678"


def test_only_a_number_without_its_code_costs_a_look_at_the_event():
    ticket_type = TicketTypeFactory(event=EventFactory(time_zone="Europe/Madrid"))

    def queries_placing(phone: str) -> int:
        with CaptureQueriesContext(connection) as placing:
            place_order(
                event_id=ticket_type.event_id,
                quantities={ticket_type.id: 1},
                customer_name="Ana",
                customer_email=f"ana{phone[-3:]}@example.com",
                customer_phone=phone,
            )
        return len(placing)

    without_phone = queries_placing("")
    assert queries_placing("+34612345671") == without_phone
    assert queries_placing("612345672") == without_phone + 1


@pytest.mark.parametrize(
    ("zone", "typed", "example"),
    [
        ("Europe/Madrid", "612 345", "+34 612 34 56 78"),
        ("Europe/Madrid", "call me", "+34 612 34 56 78"),
        ("America/New_York", "555 0199", "+1 201-555-0123"),
        ("Europe/London", "+44 12", "+44 7400 123456"),
    ],
)
def test_a_bad_number_is_refused_with_an_example_and_holds_nothing(
    zone, typed, example
):
    with pytest.raises(InvalidRequest) as caught:
        _buy(zone, typed)
    assert caught.value.code == "invalid_phone"
    example = example.replace(" ", "\xa0")  # kept on one line
    assert caught.value.message == (
        f"That is not a valid phone number. Enter a mobile number, e.g. {example}."
    )
    assert not Order.objects.exists()


def test_a_landline_is_refused_in_the_buyers_terms():
    with pytest.raises(InvalidRequest) as caught:
        _buy("Europe/Madrid", "912 345 678")
    assert caught.value.message == (
        "That looks like a landline number, which cannot get texts. "
        "Enter a mobile number, e.g. +34\xa0612\xa034\xa056\xa078."
    )


def test_comp_tickets_read_the_number_in_the_event_country(owner):
    ticket_type = TicketTypeFactory(event=EventFactory(time_zone="Europe/London"))
    order = issue_comp_tickets(
        actor=owner,
        event_id=ticket_type.event_id,
        ticket_type_id=ticket_type.id,
        quantity=1,
        guest_name="Guest",
        guest_email="guest@example.com",
        guest_phone="07400 123456",
    )
    assert order.customer_phone == "+447400123456"
    sms = OutboundMessage.objects.get(channel="sms")
    assert sms.to == "+447400123456"


def test_a_bad_comp_number_names_the_guest_phone_field(owner):
    ticket_type = TicketTypeFactory(event=EventFactory(time_zone="Europe/Madrid"))
    with pytest.raises(InvalidRequest) as caught:
        issue_comp_tickets(
            actor=owner,
            event_id=ticket_type.event_id,
            ticket_type_id=ticket_type.id,
            quantity=1,
            guest_name="Guest",
            guest_email="guest@example.com",
            guest_phone="12",
        )
    assert caught.value.detail["field"] == "guest_phone"
    assert "+34\xa0612\xa034\xa056\xa078" in caught.value.message


def test_a_staff_invite_reads_the_number_in_the_default_region(owner, settings):
    settings.DEFAULT_PHONE_REGION = "GB"
    invite = invite_staff(
        actor=owner, email="sam@example.com", role="door", phone="07400 123456"
    )
    assert invite.phone == "+447400123456"
    assert OutboundMessage.objects.get(channel="sms").to == "+447400123456"


def test_a_bad_staff_number_is_refused_with_an_example_of_the_default_region(
    owner, settings
):
    settings.DEFAULT_PHONE_REGION = ""
    settings.TIME_ZONE = "Europe/Madrid"  # no setting: the site's zone's country
    with pytest.raises(InvalidRequest) as caught:
        invite_staff(actor=owner, email="sam@example.com", role="door", phone="123")
    assert caught.value.detail["field"] == "phone"
    assert caught.value.message.endswith("e.g. +34\xa0612\xa034\xa056\xa078.")
    assert not StaffInvite.objects.exists()


def test_the_waitlist_reads_the_number_in_the_event_country():
    ticket_type = TicketTypeFactory(
        event=EventFactory(time_zone="Europe/Madrid"), capacity=1
    )
    make_paid_order(ticket_type, 1)
    entry = join_waitlist(
        event_id=ticket_type.event_id,
        ticket_type_id=None,
        name="Wait",
        email="wait@example.com",
        phone="612 345 678",
        quantity=1,
    )
    assert entry.phone == "+34612345678"
    with pytest.raises(InvalidRequest):
        join_waitlist(
            event_id=ticket_type.event_id,
            ticket_type_id=None,
            name="Other",
            email="other@example.com",
            phone="612",
            quantity=1,
        )
    assert WaitlistEntry.objects.count() == 1


def test_a_corrected_number_for_a_text_is_read_in_the_order_event_country(owner):
    ticket_type = TicketTypeFactory(event=EventFactory(time_zone="Europe/Madrid"))
    order = make_paid_order(ticket_type, 1)
    text = OutboundMessage.objects.create(
        channel=OutboundMessage.Channel.SMS,
        kind="order_tickets_link",
        to="+34 600 000 00",
        order=order,
        next_attempt_at=timezone.now(),
        status=OutboundMessage.Status.FAILED,
    )
    resent = resend_order_text(
        order_id=order.id, message_id=text.pk, to="612 345 678", correct_order=True
    )
    assert resent.message.to == "+34612345678"
    order.refresh_from_db()
    assert order.customer_phone == "+34612345678"


def test_numbers_stored_before_e164_are_texted_in_e164(twilio_stub):
    """Twilio refuses anything else; no data migration guesses on them."""
    ticket_type = TicketTypeFactory(event=EventFactory(time_zone="Europe/Madrid"))
    order = make_paid_order(ticket_type, 1)
    for typed in ("612 345 678", "+34 600 000 001"):
        OutboundMessage.objects.create(
            channel=OutboundMessage.Channel.SMS,
            kind="order_tickets_link",
            to=typed,
            order=order,
            next_attempt_at=timezone.now(),
        )
    send_due_messages()
    calls = twilio_stub.calls("POST", r"/2010-04-01/Accounts/AC0+/Messages\.json")
    assert sorted(call.form["To"] for call in calls) == [
        "+34600000001",
        "+34612345678",
    ]
