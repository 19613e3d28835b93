"""A stand-in for Stripe's API, with Stripe's latency, for `rush.py --stripe`.

The test suite's Stripe stub (tests/stubs.py: Checkout Sessions, expiry,
refunds, idempotency keys) served on a fixed port in a process of its own,
every API answer delayed by `--latency` seconds, as Stripe's are from a
data centre. Point the server at it:

    python bench/stripe_standin.py --port 12111 --latency 0.3 &
    STRIPE_SECRET_KEY=sk_test_bench STRIPE_WEBHOOK_SECRET=whsec_bench \\
    STRIPE_API_BASE=http://127.0.0.1:12111 PAYMENT_PROVIDER=stripe bench/serve.sh 8100

One endpoint of its own, `POST /bench/complete/<session id>`, answered at
once, stands for the buyer paying on Stripe's page: it completes the session
and returns it, for rush.py to send the signed `checkout.session.completed`
webhook Stripe would send.
"""

import argparse
import itertools
import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stubs import Recorded, StripeStub

COMPLETE = re.compile(r"/bench/complete/([^/]+)")


class StripeStandIn(StripeStub):
    def __init__(self, port: int, latency: float) -> None:
        super().__init__(port, latency)
        # Ids unique across restarts, as Stripe's are: orders keep theirs.
        self.counter = itertools.count(time.time_ns() // 1000)

    def delay_for(self, request: Recorded) -> float:
        return 0.0 if COMPLETE.fullmatch(request.path) else self.latency

    def route(self, request: Recorded):
        # A rush makes thousands of calls: keep none of them.
        self.requests.clear()
        match = COMPLETE.fullmatch(request.path)
        if request.method == "POST" and match:
            if match.group(1) not in self.sessions:
                return self._error(404, "No such checkout.session", "resource_missing")
            return 200, self.complete(match.group(1)), {}
        return super().route(request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument(
        "--latency", type=float, default=0.3, help="seconds per API answer"
    )
    args = parser.parse_args()
    standin = StripeStandIn(port=args.port, latency=args.latency)
    print(f"Stripe stand-in on {standin.url}, {args.latency * 1000:.0f} ms per answer")
    standin.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
