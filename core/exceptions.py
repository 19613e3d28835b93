"""Domain errors: a stable `code` for clients to branch on and a message for people."""


class TicketingError(Exception):
    code = "error"
    message = "Something went wrong."
    http_status = 400

    def __init__(
        self, message: str | None = None, *, code: str | None = None, **detail
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.detail = detail
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, **self.detail}


class InvalidRequest(TicketingError):
    code = "invalid"
    message = "The request is not valid."


class NotFound(TicketingError):
    code = "not_found"
    message = "Not found."
    http_status = 404


class SalesClosed(TicketingError):
    code = "sales_closed"
    message = "Sales are closed for this event."
    http_status = 409


class SoldOut(TicketingError):
    code = "sold_out"
    message = "Sorry, there are not enough tickets left."
    http_status = 409
    # Set by a refusal made before the locks: the public availability it was
    # judged on, so the page that says "sold out" need not read it again.
    availability = None


class TooManyFromNetwork(TicketingError):
    """The buyer's network has taken its share of the event through the buy
    form (scanner.throttle.BuyAllowance); nothing was reserved."""

    code = "too_many_from_network"
    http_status = 429


class OrderBusy(TicketingError):
    """Another request holds the order's lock; the caller should retry."""

    code = "busy"
    message = "This order is being processed; please retry."
    http_status = 503


class OrderNotPayable(TicketingError):
    code = "not_payable"
    message = "This order can no longer be paid."
    http_status = 409


class CapacityBelowSold(TicketingError):
    code = "capacity_below_sold"
    message = "Capacity cannot be lower than the tickets already sold or held."
    http_status = 409


class PermissionRefused(TicketingError):
    code = "forbidden"
    message = "You do not have permission to do that."
    http_status = 403


class HasSales(TicketingError):
    """Something with orders cannot be deleted; deactivating it is the way out."""

    code = "has_sales"
    message = "This has sales, so it cannot be deleted. Deactivate it instead."
    http_status = 409


class InviteUnusable(TicketingError):
    code = "invite_unusable"
    message = "This invitation link has expired or was already used."
    http_status = 410


class PaymentUnavailable(TicketingError):
    """The payment provider did not answer, or failed on its side: what was
    asked may or may not have been done (PaymentRefused: it was not)."""

    code = "payment_unavailable"
    message = (
        "The payment service is not answering right now; nothing was charged. "
        "Please try again in a moment."
    )
    http_status = 502


class PaymentRefused(PaymentUnavailable):
    """The provider answered no, so nothing was done; asked again unchanged,
    it repeats its answer. `reason` is its plain-words why (empty if it gave
    none), safe to log and to show staff."""

    code = "payment_refused"
    message = "The payment service refused the request; nothing was done."

    def __init__(
        self, message: str | None = None, *, reason: str = "", **kwargs
    ) -> None:
        self.reason = reason
        super().__init__(message, **kwargs)


class InvalidWebhook(TicketingError):
    """A webhook whose signature or body does not check out."""

    code = "invalid_webhook"
    message = "The webhook signature or payload is not valid."
    http_status = 400


class OrderNotCancellable(TicketingError):
    code = "not_cancellable"
    message = "This order can no longer be cancelled."
    http_status = 409


class OrderNotRefundable(TicketingError):
    code = "not_refundable"
    message = "This order cannot be refunded."
    http_status = 409


# --- Door scanning ----------------------------------------------------------
# Refusals are answers, not failures: the check-in service logs each one and
# returns it (with `verdict` "reject" or "attention") so the door shows it.


class ScanRefused(TicketingError):
    """A scanned code that does not admit anyone; `verdict` drives the door screen."""

    code = "refused"
    message = "Not admitted."
    http_status = 409
    verdict = "reject"


class InvalidTicket(ScanRefused):
    code = "invalid"
    message = "Not a valid ticket."


class WrongEvent(ScanRefused):
    code = "wrong_event"
    message = "This ticket is for another event."


class TicketVoid(ScanRefused):
    code = "void"
    message = "This ticket was refunded or cancelled."


class TicketNotYetValid(ScanRefused):
    code = "not_yet_valid"
    message = "Check-in has not opened yet for this event."
    verdict = "attention"


class AlreadyUsed(ScanRefused):
    code = "already_used"
    message = "This ticket was already used."


class OfflineConflict(ScanRefused):
    """Admitted offline at one door while already admitted elsewhere."""

    code = "offline_conflict"
    message = "Admitted offline, but this ticket had already been used."
    verdict = "attention"


class NonceReused(TicketingError):
    code = "nonce_reused"
    message = "This scan id was already used for a different code."
    http_status = 409


class RequestTooLarge(TicketingError):
    """A body past what the endpoint ever needs: refused before it is read."""

    code = "too_large"
    message = "Too much data in one request."
    http_status = 413


class UndoRefused(TicketingError):
    code = "not_admitted"
    message = "This ticket is not checked in, so there is nothing to undo."
    http_status = 409


class RefundUnconfirmed(OrderNotRefundable):
    """A refund whose outcome was never known, asked for again after the
    provider may have forgotten its key: resent, it could refund twice, so
    the owner must check the provider's records first."""

    code = "refund_unconfirmed"
    message = (
        "This refund was never confirmed and is too old to send again safely;"
        " check the payment in Stripe's dashboard first."
    )


class TicketsNotRefundable(OrderNotRefundable):
    """Chosen tickets that are not this order's, already void, or none at all."""

    code = "tickets_not_refundable"
    message = "These tickets cannot be refunded."
