"""Small local HTTP servers standing in for Stripe, SendGrid and Twilio.

The real SDKs are pointed at them (STRIPE_API_BASE, SENDGRID_API_HOST,
TWILIO_API_BASE), so tests exercise the SDK calls our code makes over real
HTTP; only the far end is fake. Each server answers just the endpoints the
project calls and records every request it gets.
"""

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes
    form: dict = field(default_factory=dict)
    json: object = None


def nested_form(body: bytes) -> dict:
    """Decode Stripe's `a[b][0][c]=v` form encoding into nested dicts/lists."""
    result: dict = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = result
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(result)


def _lists(node):
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # not 5: a benchmark's burst must not wait for SYN retries


class StubServer:
    """A threaded HTTP server on 127.0.0.1; subclasses implement `route`."""

    def __init__(self, port: int = 0, latency: float = 0.0) -> None:
        self.requests: list[Recorded] = []
        self.fail_status: int | None = None  # answer everything with this status
        # Do what is asked, then hang up without answering, this many times:
        # a timeout or a dropped connection after the far end acted.
        self.drop_answers = 0
        self.latency = latency  # seconds each answer waits, as a far API does
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as the real APIs: a client's pooled connection is reused.
            protocol_version = "HTTP/1.1"
            # The headers and the body are two writes: without TCP_NODELAY
            # the body waited for the client's delayed ACK, 40 ms per call.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                recorded = Recorded(
                    method=self.command,
                    path=path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                content_type = self.headers.get("Content-Type", "")
                if "json" in content_type and body:
                    recorded.json = json.loads(body)
                elif body:
                    recorded.form = nested_form(body)
                delay = stub.delay_for(recorded)
                if delay:
                    time.sleep(delay)
                with stub.lock:
                    stub.requests.append(recorded)
                    if stub.fail_status:
                        status, payload, headers = stub.failure(stub.fail_status)
                    else:
                        status, payload, headers = stub.route(recorded)
                    dropped = stub.drop_answers > 0
                    if dropped:
                        stub.drop_answers -= 1
                if dropped:
                    self.close_connection = True
                    return
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle  # noqa: N815 (http.server names)

            def log_message(self, *args) -> None:
                pass

        self.server = _ThreadingServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "StubServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, request: Recorded) -> tuple[int, object, dict]:
        raise NotImplementedError

    def delay_for(self, request: Recorded) -> float:
        return self.latency

    def failure(self, status: int) -> tuple[int, object, dict]:
        return status, {"error": {"message": "stub failure"}}, {}

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.method == method and re.fullmatch(pattern, r.path)
        ]


class StripeStub(StubServer):
    """Checkout Sessions (create, retrieve, expire), Payment Intents (retrieve)
    and Refunds, with idempotency keys.

    As Stripe, every answer of an endpoint, errors included, is saved under
    the request's idempotency key and replayed for the same key (`fail_status`
    stands for an outage before any endpoint ran, so nothing is saved).
    """

    MIN_LIFE_SECONDS = 30 * 60
    LOW_BALANCE = (
        "You have insufficient funds in your Stripe account for this refund."
        " Add funds to your balance and try again."
    )

    def __init__(self, port: int = 0, latency: float = 0.0) -> None:
        super().__init__(port, latency)
        self.sessions: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.idempotent: dict[str, tuple] = {}
        self.counter = itertools.count(1)
        self.refund_refusal: tuple[int, dict] | None = None

    def refuse_refunds(
        self,
        status: int = 400,
        *,
        code: str | None = "balance_insufficient",
        message: str | None = LOW_BALANCE,
        error_type: str = "invalid_request_error",
    ) -> None:
        """Refuse every new refund with this error, as Stripe does while the
        account's balance is too low, until accept_refunds (a top-up)."""
        error = {"type": error_type}
        if code:
            error["code"] = code
        if message:
            error["message"] = message
        self.refund_refusal = (status, error)

    def accept_refunds(self) -> None:
        self.refund_refusal = None

    def failure(self, status: int):
        # Tell the SDK not to retry, so an outage test fails fast.
        return (
            status,
            {"error": {"type": "api_error", "message": "Stripe stub is down"}},
            {"Stripe-Should-Retry": "false"},
        )

    def _error(self, status: int, message: str, code: str | None = None):
        error = {"type": "invalid_request_error", "message": message}
        if code:
            error["code"] = code
        return status, {"error": error}, {"Stripe-Should-Retry": "false"}

    def route(self, request: Recorded):
        key = request.headers.get("idempotency-key")
        if request.method == "POST" and key and key in self.idempotent:
            previous_form, response = self.idempotent[key]
            if previous_form != request.form:
                return (
                    400,
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be"
                            " used with the same parameters they were first"
                            " used with.",
                        }
                    },
                    {"Stripe-Should-Retry": "false"},
                )
            return response
        response = self._route(request)
        if request.method == "POST" and key:
            self.idempotent[key] = (request.form, response)
        return response

    def _route(self, request: Recorded):
        path = request.path
        if request.method == "POST" and path == "/v1/checkout/sessions":
            return self._create_session(request.form)
        match = re.fullmatch(r"/v1/checkout/sessions/([^/]+)(/expire)?", path)
        if match:
            session = self.sessions.get(match.group(1))
            if session is None:
                return self._error(404, "No such checkout.session", "resource_missing")
            if match.group(2):
                if session["status"] != "open":
                    return self._error(
                        400,
                        f"Only open sessions can be expired; this one is {session['status']}.",
                    )
                session["status"] = "expired"
            return 200, session, {}
        match = re.fullmatch(r"/v1/payment_intents/([^/]+)", path)
        if match and request.method == "GET":
            intent = self.intents.get(match.group(1))
            if intent is None:
                return self._error(404, "No such payment_intent", "resource_missing")
            return 200, intent, {}
        if request.method == "POST" and path == "/v1/refunds":
            return self._create_refund(request.form)
        return self._error(404, f"Unrecognized request URL ({request.method}: {path})")

    def charge_amount(self, intent: str) -> int | None:
        """What the buyer paid on the session behind `intent`, if known here."""
        for session in self.sessions.values():
            if session.get("payment_intent") == intent:
                return int(session["amount_total"])
        return None

    def refunded(self, intent: str) -> int | None:
        """Minor units refunded of `intent` so far (None: fully, amount unknown)."""
        total = 0
        for refund in self.refunds.values():
            if refund["payment_intent"] == intent:
                if refund["amount"] is None:
                    return None
                total += refund["amount"]
        return total

    def _create_refund(self, form: dict):
        """As Stripe: without `amount` the rest of the charge goes back; a
        charge with nothing left, or an amount above what is left, is refused."""
        if self.refund_refusal is not None:
            status, error = self.refund_refusal
            return status, {"error": error}, {"Stripe-Should-Retry": "false"}
        intent = form.get("payment_intent")
        charged = self.charge_amount(intent)
        refunded = self.refunded(intent)
        left = None if charged is None else charged - (refunded or 0)
        if refunded is None or left == 0:
            return self._error(
                400, "Charge has already been refunded.", "charge_already_refunded"
            )
        amount = int(form["amount"]) if "amount" in form else left
        if amount is not None and left is not None and amount > left:
            return self._error(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount"
                f" on charge ({left})",
                "amount_too_large",
            )
        refund_id = f"re_test_{next(self.counter)}"
        refund = {
            "id": refund_id,
            "object": "refund",
            "payment_intent": intent,
            "amount": amount,
            "status": "succeeded",
            "metadata": form.get("metadata", {}),
        }
        self.refunds[refund_id] = refund
        return 200, refund, {}

    def _create_session(self, form: dict):
        expires_at = int(form.get("expires_at", time.time() + 86400))
        if expires_at < time.time() + self.MIN_LIFE_SECONDS - 5:
            return self._error(
                400,
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            )
        items = form.get("line_items", [])
        amount = sum(
            int(item["price_data"]["unit_amount"]) * int(item["quantity"])
            for item in items
        )
        session_id = f"cs_test_{next(self.counter)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "mode": form.get("mode"),
            "amount_total": amount,
            "currency": items[0]["price_data"]["currency"] if items else "usd",
            "customer_email": form.get("customer_email"),
            "client_reference_id": form.get("client_reference_id"),
            "metadata": form.get("metadata", {}),
            "expires_at": expires_at,
            "success_url": form.get("success_url"),
            "cancel_url": form.get("cancel_url"),
            "payment_intent": None,
        }
        self.sessions[session_id] = session
        return 200, session, {}

    def complete(self, session_id: str, *, paid: bool = True) -> dict:
        """What happens when the buyer pays on Stripe's page; not `paid`, with
        a payment method that clears later (a bank debit): its payment
        intent is processing until `settle`."""
        session = self.sessions[session_id]
        intent_id = f"pi_test_{session_id.removeprefix('cs_test_')}"
        session["status"] = "complete"
        session["payment_status"] = "paid" if paid else "unpaid"
        session["payment_intent"] = intent_id
        self.intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "status": "succeeded" if paid else "processing",
            "amount": session["amount_total"],
            "amount_received": session["amount_total"] if paid else 0,
            "currency": session["currency"],
            "metadata": session["metadata"],
        }
        return session

    def settle(self, session_id: str, *, succeeded: bool) -> dict:
        """A delayed payment clears or fails, as Stripe records it: a failed
        one's intent goes back to needing a payment method."""
        session = self.sessions[session_id]
        intent = self.intents[session["payment_intent"]]
        if succeeded:
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            session["payment_status"] = "paid"
        else:
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {"code": "payment_method_failed"}
        return intent


class SendGridStub(StubServer):
    def route(self, request: Recorded):
        if request.method == "POST" and request.path == "/v3/mail/send":
            n = len(self.requests)
            return 202, None, {"X-Message-Id": f"sg-msg-{n}"}
        return 404, {"errors": [{"message": "not found"}]}, {}

    def failure(self, status: int):
        return status, {"errors": [{"message": f"stub status {status}"}]}, {}


class TwilioStub(StubServer):
    def route(self, request: Recorded):
        match = re.fullmatch(
            r"/2010-04-01/Accounts/([^/]+)/Messages\.json", request.path
        )
        if request.method == "POST" and match:
            n = len(self.requests)
            form = request.form
            return (
                201,
                {
                    "sid": f"SM{n:032d}",
                    "account_sid": match.group(1),
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "status": "queued",
                },
                {},
            )
        return 404, {"code": 20404, "message": "not found", "status": 404}, {}

    def failure(self, status: int):
        return (
            status,
            {
                "code": 21211,
                "message": "The 'To' number is not valid.",
                "status": status,
            },
            {},
        )


STRIPE_TEST_WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture
def stripe_stub(settings):
    """The Stripe SDK talking to a local stand-in; payments go through Stripe."""
    stub = StripeStub().start()
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_stub"
    settings.STRIPE_API_BASE = stub.url
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_TEST_WEBHOOK_SECRET
    yield stub
    stub.stop()


@pytest.fixture
def sendgrid_stub(settings):
    stub = SendGridStub().start()
    settings.SENDGRID_API_KEY = "SG.test-key"
    settings.SENDGRID_API_HOST = stub.url
    settings.EMAIL_BACKEND = "core.notify.sendgrid_backend.SendGridEmailBackend"
    yield stub
    stub.stop()


@pytest.fixture
def twilio_stub(settings):
    stub = TwilioStub().start()
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "test-token"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.TWILIO_API_BASE = stub.url
    yield stub
    stub.stop()
