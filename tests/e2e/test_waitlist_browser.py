import re
from decimal import Decimal

import pytest
from django.core import mail

from core.models import Order, WaitlistEntry
from core.notify.delivery import send_due_messages
from core.services.orders import refund_order
from tests.factories import EventFactory, TicketTypeFactory, make_paid_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_refund_reaches_the_first_person_waiting_who_buys_it(
    live_server, page, settings, django_capture_on_commit_callbacks
):
    settings.PUBLIC_BASE_URL = live_server.url
    event = EventFactory(name="Full Moon Party", venue_capacity=2, currency="eur")
    seat = TicketTypeFactory(
        event=event, name="Seat", price=Decimal("30.00"), capacity=2
    )
    first_buyer = make_paid_order(seat, 2, email="early@example.com")

    # Sold out: the event page offers the waitlist. Two people join, in order.
    for name, email in [
        ("Wanda Waits", "wanda@example.com"),
        ("Second Sam", "sam@example.com"),
    ]:
        page.goto(f"{live_server.url}/buy/events/{event.slug}/")
        waitlist = page.locator("[data-waitlist]")
        assert waitlist.is_visible()
        waitlist.get_by_label("Your name").fill(name)
        waitlist.get_by_label("Email").fill(email)
        waitlist.get_by_label("How many tickets").fill("2")
        waitlist.get_by_role("button", name="Join the waitlist").click()
        # The answer sends the place's link by email; it never shows it.
        page.wait_for_url("**/waitlist/")
        assert page.get_by_role("heading", name="Check your email").is_visible()
        assert page.locator("a[href*='/buy/w/']").count() == 0
    send_due_messages()
    (joined,) = [m for m in mail.outbox if m.to == ["sam@example.com"]]
    (place,) = re.findall(r"See your place in line: (\S+)", joined.body)
    page.goto(place)
    assert page.get_by_text("number 2 in line").is_visible()

    refund_order(order_id=first_buyer.id, reason="can't make it")
    mail.outbox.clear()
    send_due_messages()
    offers = [m for m in mail.outbox if "held for you" in m.subject]
    assert [m.to for m in offers] == [["wanda@example.com"]]
    (link,) = re.findall(
        rf"{re.escape(live_server.url)}/buy/o/[\w-]+/pay/", offers[0].body
    )

    page.goto(link)
    assert page.get_by_role("heading", name="Complete your order").is_visible()
    page.get_by_role("button", name=re.compile(r"Pay €60\.00")).click()
    page.wait_for_url("**/test-payment/")
    page.get_by_role("button", name=re.compile(r"Pay .* \(simulated\)")).click()
    page.wait_for_url("**/done/")
    assert page.get_by_role("heading", name="You're in!").is_visible()

    wanda = WaitlistEntry.objects.get(email="wanda@example.com")
    assert wanda.status == WaitlistEntry.Status.CLAIMED
    assert wanda.offer_order.status == Order.Status.PAID
    assert wanda.offer_order.tickets.count() == 2
    assert (
        WaitlistEntry.objects.get(email="sam@example.com").status
        == WaitlistEntry.Status.WAITING
    )


def test_partly_sold_out_event_waitlists_the_sold_out_type(live_server, page):
    event = EventFactory(name="Half Moon", venue_capacity=100)
    vip = TicketTypeFactory(event=event, name="VIP", capacity=2, max_per_order=4)
    make_paid_order(vip, 2)
    ga = TicketTypeFactory(event=event, name="GA", capacity=50, max_per_order=6)

    page.goto(f"{live_server.url}/buy/events/{event.slug}/")
    waitlist = page.locator("[data-waitlist]")
    assert waitlist.is_visible()
    kind = waitlist.get_by_label("Ticket type")
    assert kind.locator("option").all_inner_texts() == ["VIP"]
    heading = waitlist.get_by_role("heading")
    assert heading.inner_text() == "VIP is sold out — join its waitlist"

    # GA sells out too while the page is open: now any type will do.
    page.evaluate(
        """([vip, ga]) => document.dispatchEvent(new CustomEvent("availability:update", {
            detail: {
              availability: [
                {id: vip, name: "VIP", available: 0, sold_out: true, max_per_order: 4},
                {id: ga, name: "GA", available: 0, sold_out: true, max_per_order: 6},
              ],
              summary: {is_sold_out: true},
            }
        }))""",
        [vip.id, ga.id],
    )
    assert kind.locator("option").all_inner_texts() == ["Any ticket type", "VIP", "GA"]
    assert heading.inner_text() == "Sold out — join the waitlist"
    page.evaluate(
        """([vip, ga]) => document.dispatchEvent(new CustomEvent("availability:update", {
            detail: {
              availability: [
                {id: vip, name: "VIP", available: 0, sold_out: true, max_per_order: 4},
                {id: ga, name: "GA", available: 50, sold_out: false, max_per_order: 6},
              ],
              summary: {is_sold_out: false},
            }
        }))""",
        [vip.id, ga.id],
    )
    assert kind.locator("option").all_inner_texts() == ["VIP"]
    assert heading.inner_text() == "VIP is sold out — join its waitlist"

    waitlist.get_by_label("Your name").fill("Vera Vip")
    waitlist.get_by_label("Email").fill("vera@example.com")
    waitlist.get_by_label("How many tickets").fill("2")
    waitlist.get_by_role("button", name="Join the waitlist").click()
    page.wait_for_url("**/waitlist/")
    assert page.get_by_text("You're on the waitlist for Half Moon / VIP.").is_visible()
    entry = WaitlistEntry.objects.get()
    assert (entry.email, entry.ticket_type_id, entry.quantity) == (
        "vera@example.com",
        vip.id,
        2,
    )


def _sell_out_live(page, type_id: int, *, event_sold_out: bool, type_sold_out: bool):
    page.evaluate(
        """([id, eventSoldOut, typeSoldOut]) => document.dispatchEvent(
          new CustomEvent("availability:update", {detail: {
            availability: [{id, name: "Seat", available: typeSoldOut ? 0 : 1,
                            sold_out: typeSoldOut, max_per_order: 4}],
            summary: {is_sold_out: eventSoldOut},
          }}))""",
        [type_id, event_sold_out, type_sold_out],
    )


def test_the_waitlist_card_shows_live_only_while_offers_can_be_made(
    live_server, page, settings
):
    """purchase.js showed the card whenever a type sold out, after offers
    had closed too (joining then is refused), and not when the event sold
    out as a whole with a seat still showing in each type."""
    from datetime import timedelta

    from django.utils import timezone

    from core.models import Event

    settings.HOLD_MINUTES = 15
    now = timezone.now()
    event = EventFactory(name="Late Show", venue_capacity=10)
    seat = TicketTypeFactory(event=event, name="Seat", capacity=10, max_per_order=4)
    url = f"{live_server.url}/buy/events/{event.slug}/"
    waitlist = page.locator("[data-waitlist]")

    # On sale: the event sold out as a whole (someone waiting for "any type"
    # keeps the free seats) shows the card, no type sold out or not.
    page.goto(url)
    assert not waitlist.is_visible()
    _sell_out_live(page, seat.id, event_sold_out=True, type_sold_out=False)
    assert waitlist.is_visible()

    # Online sales are over: nothing sold out shows it.
    Event.objects.filter(pk=event.pk).update(
        sales_end_at=now - timedelta(hours=1), starts_at=now + timedelta(days=1)
    )
    page.goto(url)
    _sell_out_live(page, seat.id, event_sold_out=True, type_sold_out=True)
    assert not waitlist.is_visible()

    # Sales close in 20 minutes: offers stop in 5. A page loaded now shows
    # the card when the seats sell out, and not once offers have stopped.
    Event.objects.filter(pk=event.pk).update(
        sales_end_at=None, starts_at=now + timedelta(minutes=20)
    )
    page.goto(url)
    _sell_out_live(page, seat.id, event_sold_out=False, type_sold_out=True)
    assert waitlist.is_visible()
    _sell_out_live(page, seat.id, event_sold_out=False, type_sold_out=False)
    assert not waitlist.is_visible()
    page.clock.set_fixed_time(now + timedelta(minutes=6))
    _sell_out_live(page, seat.id, event_sold_out=True, type_sold_out=True)
    assert not waitlist.is_visible()
