"""Find my tickets: a customer who lost their confirmation email asks for
the links to their orders again.

Every accepted request gets the same answer, whether or not the address has
tickets, so the page never tells anyone what an address bought. Requests are
limited per network and per address (scanner/throttle.py); the per-address
limit also answers the same, so it reveals nothing either.
"""

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from core.exceptions import TicketingError
from core.services.ticket_lookup import send_tickets_lookup
from purchase.find_tickets_forms import FindTicketsForm
from scanner import throttle

logger = logging.getLogger(__name__)

TEMPLATE = "purchase/find_tickets.html"


@require_http_methods(["GET", "POST"])
def find_tickets(request: HttpRequest) -> HttpResponse:
    form = FindTicketsForm(request.POST or None)
    if request.method != "POST":
        return render(request, TEMPLATE, {"form": form})
    if not form.is_valid():
        return render(request, TEMPLATE, {"form": form}, status=400)
    # Counted before the work, in one step: requests sent together each take
    # a count of their own. A bad address costs nothing, so is not counted.
    if not throttle.take(
        throttle.lookup_key(request),
        throttle.LOOKUP_MAX_REQUESTS,
        throttle.LOOKUP_WINDOW_SECONDS,
    ):
        logger.info("Find tickets: refused, too many requests from one network")
        return render(
            request,
            TEMPLATE,
            {"form": form, "blocked": throttle.lookup_blocked_message()},
            status=429,
        )
    email = form.cleaned_data["email"]
    if not throttle.take(
        throttle.lookup_address_key(email), 1, throttle.LOOKUP_ADDRESS_WINDOW_SECONDS
    ):
        logger.info("Find tickets: address asked again within its window; not sent")
    else:
        try:
            send_tickets_lookup(email=email)
        except TicketingError as error:
            form.add_error("email", error.message)
            return render(request, TEMPLATE, {"form": form}, status=400)
    return render(request, TEMPLATE, {"form": form, "sent_to": email})
