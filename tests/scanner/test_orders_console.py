"""The console's orders: find one, see it, refund it, send its tickets again."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from core.models import (
    AuditLogEntry,
    Order,
    OutboundMessage,
    Payment,
    Refund,
    Ticket,
)
from core.notify.delivery import claim_due_messages, send_due_messages, send_message
from core.queries.availability import get_event_availability
from core.queries.messages import messages_needing_attention
from core.queries.orders import REFUSED_REFUND_RETRY
from core.services.checkout import place_order
from core.services.orders import complete_stalled_refunds
from core.services.payments import confirm_payment, refund_due_payments
from tests.core.services.test_ticket_refunds import (
    _cut_short,
    _died_before_asking,
    _stalled,
)
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order
from tests.stubs import StripeStub

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(db):
    ticket_type = TicketTypeFactory(name="Standing", capacity=10, price="25.00")
    return make_paid_order(ticket_type, 2, email="rosa@example.com", name="Rosa Parks")


def test_orders_are_found_by_email_name_order_code_and_ticket_code(client, owner, paid):
    other = make_paid_order(
        TicketTypeFactory(), 1, email="someone@example.com", name="Someone Else"
    )
    client.force_login(owner)
    ticket = paid.tickets.first()
    for text in ("rosa@", "PARKS", paid.code.lower(), ticket.code.lower()):
        page = client.get(reverse("scanner:orders"), {"q": text}).content.decode()
        assert f'data-order="{paid.code}"' in page, text
        assert f'data-order="{other.code}"' not in page, text
    nothing = client.get(reverse("scanner:orders"), {"q": "nobody-here"})
    assert "No order matches" in nothing.content.decode()


def test_a_guest_name_finds_its_order_whatever_the_accents(client, owner):
    garcia = make_paid_order(
        TicketTypeFactory(), 1, email="ana@example.com", name="Ana García"
    )
    other = make_paid_order(TicketTypeFactory(), 1, name="Ana Garrido")
    client.force_login(owner)
    for text in ("garcia", "GARCÍA", "ana garcia"):
        page = client.get(reverse("scanner:orders"), {"q": text}).content.decode()
        assert f'data-order="{garcia.code}"' in page, text
        assert f'data-order="{other.code}"' not in page, text


def test_orders_can_be_narrowed_to_one_event(client, manager, paid):
    other = make_paid_order(TicketTypeFactory(), 1)
    client.force_login(manager)
    page = client.get(reverse("scanner:orders"), {"event": str(paid.event_id)})
    html = page.content.decode()
    assert paid.code in html and other.code not in html
    # A mangled filter is ignored rather than an error.
    assert client.get(reverse("scanner:orders"), {"event": "nope"}).status_code == 200


def test_an_order_page_shows_its_tickets_payment_and_messages(client, owner, paid):
    client.force_login(owner)
    html = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    for ticket in paid.tickets.all():
        assert f'data-ticket="{ticket.code}"' in html
    assert "Rosa Parks" in html and "rosa@example.com" in html
    assert "2 × Standing" in html and "data-refund" in html
    assert "Tickets (order confirmation)" in html  # the email in the outbox


def test_refunding_voids_the_tickets_frees_the_seats_and_tells_the_customer(
    client, owner, paid
):
    client.force_login(owner)
    ticket_type = paid.lines.get().ticket_type
    before = get_event_availability(paid.event).types[0]

    response = client.post(
        reverse("scanner:order_refund", args=[paid.id]),
        {"confirm": "yes", "reason": "Can't come"},
        follow=True,
    )

    assert "refunded" in response.content.decode()
    paid.refresh_from_db()
    assert paid.status == Order.Status.REFUNDED
    assert set(paid.tickets.values_list("status", flat=True)) == {Ticket.Status.VOID}
    assert set(paid.payments.values_list("status", flat=True)) == {
        Payment.Status.REFUNDED
    }
    after = get_event_availability(paid.event).types[0]
    assert (before.sold, after.sold) == (2, 0)
    assert after.available == before.available + 2
    ticket_type.refresh_from_db()
    assert ticket_type.sold_count == 0
    email = OutboundMessage.objects.get(order=paid, kind="order_refunded")
    assert email.context["reason"] == "Can't come"
    entry = AuditLogEntry.objects.get(action="order.refund")
    assert entry.actor == owner and entry.after["tickets_voided"] == 2
    audit = client.get(reverse("scanner:event_audit", args=[paid.event_id]))
    assert "Refunded an order" in audit.content.decode()
    assert "data-refund" not in response.content.decode()  # no second button


def test_a_refund_needs_the_box_ticked_and_changes_nothing_without_it(
    client, owner, paid
):
    client.force_login(owner)
    response = client.post(
        reverse("scanner:order_refund", args=[paid.id]), {"reason": "x"}, follow=True
    )
    assert "Tick the box" in response.content.decode()
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID
    assert not paid.tickets.filter(status=Ticket.Status.VOID).exists()
    assert not AuditLogEntry.objects.filter(action="order.refund").exists()


def test_an_unpaid_order_cannot_be_refunded_and_says_why(client, manager):
    ticket_type = TicketTypeFactory()
    pending = place_order(
        event_id=ticket_type.event_id,
        quantities={ticket_type.id: 1},
        customer_name="Pat",
        customer_email="pat@example.com",
    )
    client.force_login(manager)
    response = client.post(
        reverse("scanner:order_refund", args=[pending.id]),
        {"confirm": "yes"},
        follow=True,
    )
    assert "Only paid orders can be refunded." in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Order.Status.PENDING


def test_tickets_can_be_sent_again_to_a_corrected_address(client, owner, paid):
    client.force_login(owner)
    response = client.post(
        reverse("scanner:order_resend", args=[paid.id]),
        {"to": "rosa.parks@example.org"},
        follow=True,
    )
    assert "Tickets sent to rosa.parks@example.org." in response.content.decode()
    assert OutboundMessage.objects.filter(
        order=paid, kind="order_confirmation", to="rosa.parks@example.org"
    ).exists()

    sent = OutboundMessage.objects.count()
    bad = client.post(
        reverse("scanner:order_resend", args=[paid.id]),
        {"to": "not-an-email"},
        follow=True,
    )
    assert "valid email address" in bad.content.decode()
    assert OutboundMessage.objects.count() == sent


def test_sending_to_a_corrected_address_corrects_the_order(client, owner, paid):
    """The customer typed it wrong: the refund notice and later emails must
    not go to the typo, and the change is in the event's audit log."""
    paid.customer_email = "rosa@exmaple.com"
    paid.save()
    paid.tickets.update(guest_email="rosa@exmaple.com")
    comp = paid.tickets.first()
    comp.guest_email = "friend@example.com"  # a guest of their own stays
    comp.save()
    client.force_login(owner)
    page = client.get(reverse("scanner:order_detail", args=[paid.id]))
    # What the owner expects of a corrected address is the default.
    assert 'name="correct" value="yes" checked' in page.content.decode()
    response = client.post(
        reverse("scanner:order_resend", args=[paid.id]),
        {"to": "rosa@example.com", "correct": "yes"},
        follow=True,
    )
    html = response.content.decode()
    assert (
        "Tickets sent to rosa@example.com; the order&#x27;s email is now"
        " rosa@example.com (it was rosa@exmaple.com)." in html
    )
    paid.refresh_from_db()
    assert paid.customer_email == "rosa@example.com"
    assert sorted(paid.tickets.values_list("guest_email", flat=True)) == [
        "friend@example.com",
        "rosa@example.com",
    ]
    entry = AuditLogEntry.objects.get(action="order.email")
    assert entry.actor == owner and entry.event_id == paid.event_id
    assert entry.before == {"customer_email": "rosa@exmaple.com"}
    assert entry.after == {"customer_email": "rosa@example.com", "tickets_updated": 1}
    audit = client.get(reverse("scanner:event_audit", args=[paid.event_id]))
    assert "Corrected a customer&#x27;s email" in audit.content.decode()
    # The page shows the corrected address, and a refund notice goes there.
    assert "<dd>rosa@example.com</dd>" in html
    client.post(reverse("scanner:order_refund", args=[paid.id]), {"confirm": "yes"})
    assert paid.messages.get(kind="order_refunded").to == "rosa@example.com"


def test_unticking_the_box_sends_a_copy_and_leaves_the_order_alone(client, owner, paid):
    client.force_login(owner)
    response = client.post(
        reverse("scanner:order_resend", args=[paid.id]),
        {"to": "assistant@example.com"},
        follow=True,
    )
    assert "Tickets sent to assistant@example.com." in response.content.decode()
    paid.refresh_from_db()
    assert paid.customer_email == "rosa@example.com"
    assert not AuditLogEntry.objects.filter(action="order.email").exists()
    # The same address in other letters is no correction either.
    client.post(
        reverse("scanner:order_resend", args=[paid.id]),
        {"to": "Rosa@Example.com", "correct": "yes"},
    )
    paid.refresh_from_db()
    assert paid.customer_email == "rosa@example.com"
    assert not AuditLogEntry.objects.filter(action="order.email").exists()


def _fail(message, error="SendGrid 400: Does not contain a valid address."):
    message.status = OutboundMessage.Status.FAILED
    message.attempts = 1
    message.last_error = error
    message.save()
    return message


def test_a_message_that_did_not_go_out_stands_out_with_its_reason(client, owner, paid):
    client.force_login(owner)
    url = reverse("scanner:order_detail", args=[paid.id])
    assert "data-undelivered" not in client.get(url).content.decode()

    failed = _fail(paid.messages.get(kind="order_confirmation"))
    html = client.get(url).content.decode()
    assert "data-undelivered" in html
    assert "1 message has not reached the customer" in html
    item = html[html.index(f'data-message="{failed.pk}"') :]
    item = item[: item.index("</li>")]
    assert "badge-soldout" in item and "Failed" in item
    assert "Does not contain a valid address." in item
    assert 'href="/scanner/messages/"' in html


def test_a_providers_refusal_is_explained_in_plain_words(client, owner, paid):
    """The owner reads why; the provider's raw answer is still there, folded."""
    raw = (
        'PermanentDeliveryError: SendGrid 400: b\'{"errors":[{"message":'
        '"The to email does not contain a valid address.","field":'
        '"personalizations.0.to.0.email"}]}\''
    )
    failed = _fail(paid.messages.get(kind="order_confirmation"), raw)
    client.force_login(owner)
    for url in (
        reverse("scanner:order_detail", args=[paid.id]),
        reverse("scanner:messages"),
    ):
        html = client.get(url).content.decode()
        item = html[html.index(f'data-message="{failed.pk}"') :]
        reason = item[item.index("data-reason>") :]
        reason = reason[: reason.index("</span>")]
        assert "The email address was refused as invalid." in reason, url
        assert "SendGrid" not in reason and "{" not in reason, url
        details = item[item.index("<details") : item.index("</details>")]
        assert "personalizations.0.to.0.email" in details, url


def test_the_list_flags_orders_whose_email_or_text_failed(client, owner, paid):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    texted = make_paid_order(TicketTypeFactory(), 1, email="tex@example.com")
    fine = make_paid_order(TicketTypeFactory(), 1, email="fine@example.com")
    _fail(paid.messages.get(kind="order_confirmation"))
    sms = OutboundMessage.objects.create(
        channel=OutboundMessage.Channel.SMS,
        kind="order_tickets_link",
        to="+34600000000",
        order=texted,
        next_attempt_at=texted.created_at,
    )
    _fail(sms, "PermanentDeliveryError: Twilio 400 (error 21614): not a mobile")
    client.force_login(owner)

    def rows() -> dict[str, str]:
        with CaptureQueriesContext(connection) as queries:
            html = client.get(reverse("scanner:orders")).content.decode()
        rows.queries = len(queries)
        found = {}
        for order in (paid, texted, fine):
            row = html[html.index(f'data-order="{order.code}"') :]
            found[order.code] = row[: row.index("</tr>")]
        return found

    found = rows()
    assert 'data-send-failed="email"' in found[paid.code]
    assert "Email failed" in found[paid.code]
    assert 'data-send-failed="sms"' not in found[paid.code]
    assert 'data-send-failed="sms"' in found[texted.code]
    assert "Text failed" in found[texted.code]
    assert 'data-send-failed="email"' not in found[texted.code]
    assert "data-send-failed" not in found[fine.code]
    # One query for the flags of every order, not one per order.
    before = rows.queries
    for _ in range(3):
        _fail(make_paid_order(TicketTypeFactory(), 1).messages.get())
    rows()
    assert rows.queries == before


def test_sending_the_tickets_again_resends_the_failed_email_not_a_copy(
    client, owner, paid, mailoutbox
):
    failed = _fail(paid.messages.get(kind="order_confirmation"))
    before = OutboundMessage.objects.count()
    client.force_login(owner)
    client.post(
        reverse("scanner:order_resend", args=[paid.id]),
        {"to": "rosa.parks@example.org"},
    )
    assert OutboundMessage.objects.count() == before
    failed.refresh_from_db()
    assert failed.status == OutboundMessage.Status.QUEUED
    assert (failed.to, failed.attempts) == ("rosa.parks@example.org", 0)
    # Nothing is left for someone on the Messages page to resend twice.
    assert not messages_needing_attention().exists()
    send_due_messages()
    assert [m.to for m in mailoutbox] == [["rosa.parks@example.org"]]


def _retrying(message, error="SMTPServerDisconnected: Connection unexpectedly closed"):
    """A message the worker tried and will try again later: the provider is down."""
    message.attempts = 3
    message.last_error = error
    message.next_attempt_at = message.created_at + timedelta(hours=1)
    message.save()
    return message


def test_sending_the_tickets_again_sends_the_waiting_email_now_not_a_copy(
    client, owner, paid, mailoutbox
):
    """The provider was down: the confirmation still waits for its next try.
    A resend sends that one now; a copy would reach the customer twice."""
    waiting = _retrying(paid.messages.get(kind="order_confirmation"))
    before = OutboundMessage.objects.count()
    client.force_login(owner)
    client.post(reverse("scanner:order_resend", args=[paid.id]), {"to": ""})
    assert OutboundMessage.objects.count() == before
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (OutboundMessage.Status.QUEUED, 0)
    send_due_messages()
    assert [m.to for m in mailoutbox] == [["rosa@example.com"]]
    # A copy to another address, unticked, leaves the order's own alone.
    _retrying(waiting)
    client.post(
        reverse("scanner:order_resend", args=[paid.id]), {"to": "desk@example.com"}
    )
    waiting.refresh_from_db()
    assert (waiting.to, waiting.attempts) == ("rosa@example.com", 3)
    assert paid.messages.filter(to="desk@example.com").count() == 1


def test_correcting_the_address_redirects_what_still_waits_for_the_typo(
    client, owner, paid, mailoutbox
):
    """What has not gone out yet must not go to the typo: it may be someone
    else's address. What went out stays as sent, for the record."""
    paid.customer_email = "rosa@exmaple.com"
    paid.save()
    confirmation = paid.messages.get(kind="order_confirmation")
    confirmation.to = "rosa@exmaple.com"
    confirmation.status = OutboundMessage.Status.SENT
    confirmation.save()
    notice = _retrying(
        OutboundMessage.objects.create(
            channel=OutboundMessage.Channel.EMAIL,
            kind="tickets_refunded",
            to="Rosa@Exmaple.com",
            order=paid,
            next_attempt_at=paid.created_at,
        )
    )
    client.force_login(owner)
    client.post(
        reverse("scanner:order_resend", args=[paid.id]),
        {"to": "rosa@example.com", "correct": "yes"},
    )
    notice.refresh_from_db()
    assert (notice.to, notice.attempts) == ("rosa@example.com", 0)
    assert notice.next_attempt_at <= timezone.now()
    confirmation.refresh_from_db()
    assert confirmation.to == "rosa@exmaple.com"
    resent = paid.messages.filter(kind="order_confirmation").exclude(pk=confirmation.pk)
    assert [m.to for m in resent] == ["rosa@example.com"]


def test_a_message_sent_to_the_typo_as_it_is_corrected_goes_again_to_the_new_one(
    client, owner, paid, mailoutbox
):
    """The worker was sending it to the old address when the correction
    committed: that send must not mark the redirected row as sent."""
    paid.customer_email = "rosa@exmaple.com"
    paid.save()
    paid.messages.update(status=OutboundMessage.Status.SENT)
    notice = OutboundMessage.objects.create(
        channel=OutboundMessage.Channel.EMAIL,
        kind="order_refunded",
        to="rosa@exmaple.com",
        order=paid,
        context={"amount": "50.00", "currency": "EUR"},
        next_attempt_at=timezone.now(),
    )
    [claimed] = claim_due_messages(now=timezone.now(), limit=5)
    client.force_login(owner)
    client.post(
        reverse("scanner:order_resend", args=[paid.id]),
        {"to": "rosa@example.com", "correct": "yes"},
    )
    send_message(claimed, now=timezone.now())  # the send under way ends
    notice.refresh_from_db()
    assert notice.status == OutboundMessage.Status.QUEUED
    assert notice.to == "rosa@example.com"
    mailoutbox.clear()
    send_due_messages()
    assert ["rosa@example.com"] in [m.to for m in mailoutbox]
    notice.refresh_from_db()
    assert notice.status == OutboundMessage.Status.SENT, notice.last_error


def test_correcting_the_phone_redirects_texts_still_waiting(
    client, owner, paid, failed_text
):
    waiting = _retrying(
        OutboundMessage.objects.create(
            channel=OutboundMessage.Channel.SMS,
            kind="order_refunded",
            to="+34 600 000 00",
            order=paid,
            next_attempt_at=paid.created_at,
        ),
        "TwilioRestException: HTTP 503",
    )
    client.force_login(owner)
    action = reverse("scanner:order_resend_text", args=[paid.id, failed_text.pk])
    client.post(action, {"to": "+34 600 000 001", "correct": "yes"})
    waiting.refresh_from_db()
    assert waiting.to == "+34600000001"  # kept in E.164, as Twilio needs
    # Unticked, a text to another number leaves what waits alone.
    _fail(failed_text)
    client.post(action, {"to": "+34 699 999 999"})
    waiting.refresh_from_db()
    assert waiting.to == "+34600000001"


@pytest.fixture
def failed_text(paid):
    paid.customer_phone = "+34 600 000 00"
    paid.save()
    paid.tickets.update(guest_phone="+34 600 000 00")
    message = OutboundMessage.objects.create(
        channel=OutboundMessage.Channel.SMS,
        kind="order_tickets_link",
        to="+34 600 000 00",
        order=paid,
        next_attempt_at=paid.created_at,
    )
    return _fail(message, "PermanentDeliveryError: Twilio 400 (error 21211): x")


def test_a_failed_text_is_resent_from_the_order_page(client, owner, paid, failed_text):
    """To a corrected number, which becomes the order's, as with email."""
    client.force_login(owner)
    url = reverse("scanner:order_detail", args=[paid.id])
    html = client.get(url).content.decode()
    item = html[html.index(f'data-message="{failed_text.pk}"') :]
    item = item[: item.index("</li>")]
    action = reverse("scanner:order_resend_text", args=[paid.id, failed_text.pk])
    assert f'action="{action}"' in item and "Resend text" in item
    assert 'value="+34 600 000 00"' in item

    response = client.post(
        action, {"to": "+34 600 000 001", "correct": "yes"}, follow=True
    )
    assert (
        "Text sent to +34 600 00 00 01; the order&#x27;s phone is now +34 600 00 00 01"
        in response.content.decode()
    )
    failed_text.refresh_from_db()
    assert failed_text.status == OutboundMessage.Status.QUEUED
    assert (failed_text.to, failed_text.attempts) == ("+34600000001", 0)
    assert not messages_needing_attention().exists()
    paid.refresh_from_db()
    assert paid.customer_phone == "+34600000001"
    assert set(paid.tickets.values_list("guest_phone", flat=True)) == {"+34600000001"}
    entry = AuditLogEntry.objects.get(action="order.phone")
    assert entry.actor == owner
    assert entry.after["customer_phone"] == "+34600000001"
    # Nothing left to resend, so no form.
    assert "data-resend-text" not in client.get(url).content.decode()


def test_a_text_resend_checks_the_number_and_the_order(
    client, owner, paid, failed_text
):
    client.force_login(owner)
    action = reverse("scanner:order_resend_text", args=[paid.id, failed_text.pk])
    bad = client.post(action, {"to": "call me", "correct": "yes"}, follow=True)
    assert "valid phone number" in bad.content.decode()
    other = make_paid_order(TicketTypeFactory(), 1)
    elsewhere = reverse("scanner:order_resend_text", args=[other.id, failed_text.pk])
    wrong = client.post(elsewhere, {"to": "+34600000009"}, follow=True)
    assert "not one of this order" in wrong.content.decode()
    # Unticked, the text goes to the new number and the order keeps its own.
    client.post(action, {"to": "+34600000009"})
    failed_text.refresh_from_db()
    paid.refresh_from_db()
    assert failed_text.to == "+34600000009"
    assert failed_text.status == OutboundMessage.Status.QUEUED
    assert paid.customer_phone == "+34 600 000 00"
    assert not AuditLogEntry.objects.filter(action="order.phone").exists()


def test_door_staff_see_no_orders(client, door, paid):
    client.force_login(door)
    assert client.get(reverse("scanner:orders")).status_code == 403
    assert (
        client.post(
            reverse("scanner:order_refund", args=[paid.id]), {"confirm": "yes"}
        ).status_code
        == 403
    )
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID


def test_an_unknown_order_is_a_404(client, owner):
    import uuid

    client.force_login(owner)
    assert (
        client.get(reverse("scanner:order_detail", args=[uuid.uuid4()])).status_code
        == 404
    )
    EventFactory()  # the list still renders with events but no orders
    assert "No orders yet" in client.get(reverse("scanner:orders")).content.decode()


def test_ticking_some_tickets_refunds_only_those(client, manager, paid):
    client.force_login(manager)
    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    one, other = paid.tickets.order_by("code")
    assert page.count("data-choose-ticket") == 2 and "data-refund-tickets" in page
    assert "$25.00" in page  # each ticket's price

    response = client.post(
        reverse("scanner:order_refund_tickets", args=[paid.id]),
        {"ticket": [str(one.pk)], "confirm": "yes", "reason": "One can't come"},
        follow=True,
    )

    html = response.content.decode()
    assert "Refunded $25.00 for 1 ticket" in html
    one.refresh_from_db()
    other.refresh_from_db()
    assert (one.status, other.status) == (Ticket.Status.VOID, Ticket.Status.ISSUED)
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID
    assert html.count("data-choose-ticket") == 1  # a void ticket has no box
    assert "data-refunds" in html and one.code in html
    email = OutboundMessage.objects.get(order=paid, kind="tickets_refunded")
    assert email.context["reason"] == "One can't come"
    assert AuditLogEntry.objects.get(action="order.refund_tickets").actor == manager
    # The whole-order refund now offers what is left, and says it sent that.
    assert "Yes, refund $25.00 and void the tickets" in html
    rest = client.post(
        reverse("scanner:order_refund", args=[paid.id]), {"confirm": "yes"}, follow=True
    ).content.decode()
    assert f"Order {paid.code} refunded: $25.00 back" in rest


def test_refunding_tickets_needs_the_box_ticked_and_a_ticket(client, owner, paid):
    client.force_login(owner)
    one = paid.tickets.first()
    url = reverse("scanner:order_refund_tickets", args=[paid.id])
    unconfirmed = client.post(url, {"ticket": [str(one.pk)]}, follow=True)
    assert "Tick the box" in unconfirmed.content.decode()
    none = client.post(url, {"confirm": "yes"}, follow=True)
    assert "Tick at least one ticket." in none.content.decode()
    assert not paid.tickets.filter(status=Ticket.Status.VOID).exists()


def test_another_orders_ticket_is_refused_in_plain_words(client, owner, paid):
    stranger = make_paid_order(TicketTypeFactory(), 1).tickets.get()
    client.force_login(owner)
    response = client.post(
        reverse("scanner:order_refund_tickets", args=[paid.id]),
        {"ticket": [str(stranger.pk)], "confirm": "yes"},
        follow=True,
    )
    assert "not part of this order" in response.content.decode()
    stranger.refresh_from_db()
    assert stranger.status == Ticket.Status.ISSUED


def test_door_staff_cannot_refund_or_void_tickets(client, door, paid):
    client.force_login(door)
    one = paid.tickets.first()
    for name in ("scanner:order_refund_tickets", "scanner:order_void_tickets"):
        response = client.post(
            reverse(name, args=[paid.id]), {"ticket": [str(one.pk)], "confirm": "yes"}
        )
        assert response.status_code == 403, name
    one.refresh_from_db()
    assert one.status == Ticket.Status.ISSUED


def test_a_refund_made_in_stripe_is_flagged_until_its_tickets_are_chosen(
    client, owner, paid
):
    Payment.objects.filter(order=paid).update(provider_refunded="25.00")
    client.force_login(owner)
    listing = client.get(reverse("scanner:orders")).content.decode()
    assert "Partly refunded in Stripe: $25.00 of $50.00" in listing
    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "data-refunded-outside" in page and "data-void-tickets" in page
    assert "Partly refunded in Stripe: $25.00 of $50.00" in page

    one = paid.tickets.first()
    response = client.post(
        reverse("scanner:order_void_tickets", args=[paid.id]),
        {"ticket": [str(one.pk)], "confirm": "yes"},
        follow=True,
    )

    html = response.content.decode()
    assert "Voided 1 ticket without refunding again" in html
    assert "data-refunded-outside" not in html and "data-void-tickets" not in html
    one.refresh_from_db()
    assert one.status == Ticket.Status.VOID
    listing = client.get(reverse("scanner:orders")).content.decode()
    assert "Partly refunded in Stripe" not in listing


def test_an_order_without_a_stripe_refund_offers_no_void_button(client, owner, paid):
    client.force_login(owner)
    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "data-void-tickets" not in page and "data-refunded-outside" not in page


def _through_stripe(order):
    Payment.objects.filter(order=order).update(
        provider="stripe", provider_reference=f"pi_test_{order.code}"
    )


def test_a_refund_the_sweep_could_not_complete_is_shown_with_what_to_do(
    client, owner, paid, stripe_stub, monkeypatch
):
    _through_stripe(paid)
    one, other = paid.tickets.order_by("code")
    refund = _died_before_asking(monkeypatch, order_id=paid.id, ticket_ids=[one.pk])
    stripe_stub.fail_status = 500
    complete_stalled_refunds(now=_stalled(refund))
    client.force_login(owner)

    listing = client.get(reverse("scanner:orders")).content.decode()
    assert "data-refund-failed" in listing and "Refund failed" in listing
    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "A refund did not go through: $25.00 for" in page
    assert f"<code>{one.code}</code>" in page
    assert "did not confirm it in time" in page and "data-refusal-reason" not in page
    assert "tick it below and choose “Refund ticked tickets”" in page
    assert page.count("data-choose-ticket") == 2  # it can be ticked again

    stripe_stub.fail_status = None
    retried = client.post(
        reverse("scanner:order_refund_tickets", args=[paid.id]),
        {"ticket": [str(one.pk)], "confirm": "yes"},
        follow=True,
    ).content.decode()

    assert "Refunded $25.00 for 1 ticket" in retried
    assert "data-refund-failed" not in retried
    assert (
        "data-refund-failed"
        not in client.get(reverse("scanner:orders")).content.decode()
    )
    one.refresh_from_db()
    other.refresh_from_db()
    assert (one.status, other.status) == (Ticket.Status.VOID, Ticket.Status.ISSUED)


def test_a_refund_stripe_refused_shows_why_and_goes_through_once_put_right(
    client, owner, paid, stripe_stub
):
    _through_stripe(paid)
    one, other = paid.tickets.order_by("code")
    stripe_stub.refuse_refunds()
    client.force_login(owner)
    url = reverse("scanner:order_refund_tickets", args=[paid.id])

    refused = client.post(
        url, {"ticket": [str(one.pk)], "confirm": "yes"}, follow=True
    ).content.decode()

    said = escape(StripeStub.LOW_BALANCE)
    assert f"Stripe refused the refund: {said}" in refused
    assert "A refund did not go through: $25.00 for" in refused
    assert f"<q data-refusal-reason>{said}</q> Nothing was refunded" in refused
    assert "To try again once that is put right, tick it below" in refused
    one.refresh_from_db()
    assert one.status == Ticket.Status.ISSUED

    stripe_stub.accept_refunds()
    retried = client.post(
        url, {"ticket": [str(one.pk)], "confirm": "yes"}, follow=True
    ).content.decode()

    assert "Refunded $25.00 for 1 ticket" in retried
    assert "data-refund-failed" not in retried and said not in retried
    assert len(stripe_stub.refunds) == 1
    one.refresh_from_db()
    other.refresh_from_db()
    assert (one.status, other.status) == (Ticket.Status.VOID, Ticket.Status.ISSUED)


def test_a_whole_order_refund_stripe_refused_shows_why_and_goes_through_once_put_right(
    client, owner, paid, stripe_stub
):
    _through_stripe(paid)
    stripe_stub.refuse_refunds()
    client.force_login(owner)
    url = reverse("scanner:order_refund", args=[paid.id])

    refused = client.post(url, {"confirm": "yes"}, follow=True).content.decode()

    said = escape(StripeStub.LOW_BALANCE)
    assert f"Stripe refused the refund: {said}" in refused
    paid.refresh_from_db()
    assert paid.status == Order.Status.PAID
    # Not only in the moment: the order says why until it is put right.
    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "A refund of the whole order did not go through: $50.00 for" in page
    assert f"<q data-refusal-reason>{said}</q> Nothing was refunded" in page
    assert "To try again once that is put right, choose “Refund order” below." in page
    assert (
        "data-refund-failed" in client.get(reverse("scanner:orders")).content.decode()
    )

    stripe_stub.accept_refunds()
    retried = client.post(url, {"confirm": "yes"}, follow=True).content.decode()

    assert f"Order {paid.code} refunded: $50.00 back" in retried
    assert "data-refund-failed" not in retried and said not in retried
    assert len(stripe_stub.refunds) == 1
    paid.refresh_from_db()
    assert paid.status == Order.Status.REFUNDED
    assert set(paid.tickets.values_list("status", flat=True)) == {"void"}


def test_a_failed_refund_also_refunded_in_stripe_points_to_voiding(
    client, owner, paid, stripe_stub, monkeypatch
):
    _through_stripe(paid)
    one = paid.tickets.first()
    refund = _died_before_asking(monkeypatch, order_id=paid.id, ticket_ids=[one.pk])
    stripe_stub.fail_status = 500
    complete_stalled_refunds(now=_stalled(refund))
    Payment.objects.filter(order=paid).update(provider_refunded="25.00")
    client.force_login(owner)
    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "data-refund-failed" in page and "data-void-tickets" in page
    assert "choose “Void without refunding” instead" in page


def test_a_refund_under_way_is_shown_until_the_sweep_books_it(
    client, owner, paid, monkeypatch
):
    one = paid.tickets.first()
    refund = _cut_short(monkeypatch, order_id=paid.id, ticket_ids=[one.pk])
    client.force_login(owner)
    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "data-refund-under-way" in page and "Refund under way: $25.00" in page
    assert "completed automatically within minutes" in page
    assert "data-refund-failed" not in page

    complete_stalled_refunds(now=_stalled(refund))

    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "data-refund-under-way" not in page
    assert "data-refunds" in page and f"<code>{one.code}</code>" in page
    assert (
        "Completed a ticket refund that was cut short"
        in client.get(
            reverse("scanner:event_audit", args=[paid.event_id])
        ).content.decode()
    )


def _unconfirmed_for_a_day(stripe_stub, post, *, made: bool) -> Refund:
    """A refund asked for a day ago whose answer never came: Stripe made it
    and the answer was lost (`made`), or Stripe was down. Stripe has
    forgotten its key since."""
    if made:
        stripe_stub.drop_answers = 3
    else:
        stripe_stub.fail_status = 500
    post()
    stripe_stub.fail_status = None
    refund = Refund.objects.get(status=Refund.Status.FAILED)
    assert refund.refusal_reason == ""
    Refund.objects.filter(pk=refund.pk).update(
        attempt_started_at=F("attempt_started_at") - timedelta(days=1)
    )
    stripe_stub.idempotent.clear()
    assert len(stripe_stub.refunds) == int(made)
    return refund


def test_a_ticket_refund_too_old_to_resend_says_to_check_stripe_and_sends_nothing(
    client, owner, paid, stripe_stub
):
    _through_stripe(paid)
    one = paid.tickets.order_by("code").first()
    client.force_login(owner)
    url = reverse("scanner:order_refund_tickets", args=[paid.id])
    ticked = {"ticket": [str(one.pk)], "confirm": "yes"}
    _unconfirmed_for_a_day(stripe_stub, lambda: client.post(url, ticked), made=True)
    sent = len(stripe_stub.calls("POST", "/v1/refunds"))

    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "A refund did not go through: $25.00 for" in page
    assert "Stripe forgets a request after a day" in page
    assert "could refund the customer twice" in page
    assert "look for this refund" in page and "“Void without refunding”" in page
    assert "data-send-as-new" in page
    assert f'<input type="hidden" name="ticket" value="{one.pk}">' in page
    assert "this refund is not there: nothing went back" in page

    refused = client.post(url, ticked, follow=True).content.decode()

    assert "never confirmed" in refused and "nothing was sent" in refused
    assert len(stripe_stub.calls("POST", "/v1/refunds")) == sent
    assert len(stripe_stub.refunds) == 1
    one.refresh_from_db()
    assert one.status == Ticket.Status.ISSUED


def test_a_whole_order_refund_too_old_to_resend_is_refused_then_sent_as_new(
    client, owner, paid, stripe_stub
):
    """The owner checked Stripe and found nothing went back (Stripe was
    down): ticking that sends it afresh, under a new key."""
    _through_stripe(paid)
    client.force_login(owner)
    url = reverse("scanner:order_refund", args=[paid.id])
    _unconfirmed_for_a_day(
        stripe_stub, lambda: client.post(url, {"confirm": "yes"}), made=False
    )
    sent = len(stripe_stub.calls("POST", "/v1/refunds"))

    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "A refund of the whole order did not go through: $50.00 for" in page
    assert "Stripe forgets a request after a day" in page and "data-send-as-new" in page
    refused = client.post(url, {"confirm": "yes"}, follow=True).content.decode()
    assert "never confirmed" in refused and "nothing was sent" in refused
    assert len(stripe_stub.calls("POST", "/v1/refunds")) == sent

    sent_anew = client.post(
        url, {"confirm": "yes", "as_new": "yes"}, follow=True
    ).content.decode()

    assert f"Order {paid.code} refunded: $50.00 back" in sent_anew
    (call,) = stripe_stub.calls("POST", "/v1/refunds")[sent:]
    refund = Refund.objects.get()
    assert call.headers["idempotency-key"] == f"{refund.key}-2"
    assert len(stripe_stub.refunds) == 1
    paid.refresh_from_db()
    assert paid.status == Order.Status.REFUNDED


def test_a_refused_refund_of_an_extra_payment_is_shown_until_it_goes_through(
    client, owner, paid, stripe_stub, django_capture_on_commit_callbacks
):
    stripe_stub.refuse_refunds()
    with django_capture_on_commit_callbacks(execute=True):
        confirm_payment(
            order_id=paid.id,
            provider="stripe",
            provider_reference="pi_test_extra",
            amount=paid.total,
            currency=paid.currency,
        )
    client.force_login(owner)

    listing = client.get(reverse("scanner:orders")).content.decode()
    assert "data-refund-failed" in listing and "Refund failed" in listing
    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "data-payment-refund-refused" in page
    assert "An extra payment of $50.00 could not be refunded automatically" in page
    assert escape(StripeStub.LOW_BALANCE) in page
    assert "tried again automatically every 15 minutes" in page
    payment = paid.payments.get(provider_reference="pi_test_extra")
    next_try = timezone.localtime(payment.updated_at + REFUSED_REFUND_RETRY)
    # In the event's zone, with its short name, as every time on the page.
    assert f"the next try is at {next_try:%H:%M}\u00a0{next_try:%Z}." in page
    assert "<code>pi_test_extra</code>" in page
    assert "data-refunded-as-due" not in page

    # The worker stopped: the owner is told the try is late, and why.
    Payment.objects.filter(pk=payment.pk).update(
        updated_at=payment.updated_at - timedelta(hours=1)
    )
    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "data-refund-retry-late" in page
    assert "check that the background worker is running and can reach Stripe" in page

    stripe_stub.accept_refunds()
    payment.refresh_from_db()
    assert refund_due_payments(now=payment.updated_at + REFUSED_REFUND_RETRY) == 1

    page = client.get(reverse("scanner:order_detail", args=[paid.id])).content.decode()
    assert "data-payment-refund-refused" not in page
    assert "An extra payment of $50.00 was refunded automatically" in page
    listing = client.get(reverse("scanner:orders")).content.decode()
    assert "Refund failed" not in listing


def _free_tickets(owner, quantity=2):
    from core.services.comps import issue_comp_tickets

    vip = TicketTypeFactory(name="VIP", capacity=10, price="40.00")
    return issue_comp_tickets(
        actor=owner,
        event_id=vip.event_id,
        ticket_type_id=vip.id,
        quantity=quantity,
        guest_name="Gil",
        guest_email="gil@example.com",
    )


def test_a_guest_list_order_offers_to_cancel_free_tickets_not_a_refund(client, owner):
    comp = _free_tickets(owner)
    client.force_login(owner)

    html = client.get(reverse("scanner:order_detail", args=[comp.id])).text

    assert 'data-order-status="comp"' in html and ">Free tickets<" in html
    assert 'data-order-status="paid"' not in html
    assert "data-cancel-comp" in html and "data-refund>" not in html
    assert "Cancel these free tickets" in html
    assert "Yes, cancel 2 free tickets" in html
    assert "Cancel ticked free tickets" in html
    assert "customer&#x27;s card" not in html and "customer's card" not in html
    assert "Refund order" not in html and "Refund ticked tickets" not in html
    list_html = client.get(reverse("scanner:orders")).text
    assert ">Free tickets<" in list_html


def test_cancelling_a_guest_list_order_says_so_and_tells_the_guest(client, owner):
    comp = _free_tickets(owner)
    client.force_login(owner)

    response = client.post(
        reverse("scanner:order_refund", args=[comp.id]),
        {"confirm": "yes", "reason": "Plans changed"},
        follow=True,
    )

    html = response.content.decode()
    assert f"Free tickets of order {comp.code} cancelled" in html
    assert "Nothing was charged, so nothing goes back." in html
    assert "refunded:" not in html and "back to the customer" not in html
    comp.refresh_from_db()
    assert comp.status == Order.Status.CANCELLED
    assert comp.messages.get(kind="comp_cancelled").to == "gil@example.com"
    assert not comp.messages.filter(kind="order_refunded").exists()
    assert "data-cancel-comp" not in html  # nothing left to cancel
    audit = client.get(reverse("scanner:event_audit", args=[comp.event_id])).text
    assert "Cancelled free tickets" in audit


def test_cancelling_ticked_free_tickets_keeps_the_others(client, owner):
    comp = _free_tickets(owner)
    first = comp.tickets.order_by("code").first()
    client.force_login(owner)

    without_box = client.post(
        reverse("scanner:order_refund_tickets", args=[comp.id]),
        {"ticket": [str(first.id)]},
        follow=True,
    )
    assert "Tick the box to confirm; nothing changed." in without_box.text
    response = client.post(
        reverse("scanner:order_refund_tickets", args=[comp.id]),
        {"confirm": "yes", "ticket": [str(first.id)]},
        follow=True,
    )

    assert "1 free ticket cancelled: it no longer admits" in response.text
    first.refresh_from_db()
    assert first.status == Ticket.Status.VOID
    comp.refresh_from_db()
    assert comp.status == Order.Status.PAID
    assert not Refund.objects.filter(order=comp).exists()
