"""Server-side cost of one purchase, in process: thread CPU and SQL statements.

No server and no load: each request goes through django.test.Client (the full
middleware stack, as under WSGI) and the CPU the request thread used is read
with getrusage(RUSAGE_THREAD) around it. Safe to run on a shared machine. Use a
database of its own (it creates events there):

    DATABASE_URL=postgres://.../tk_buycpu python bench/buy_cpu.py

Prints, for the three requests of bench/rush.py (a checkout that holds a
ticket, the simulated payment that fulfils it, and a checkout refused as sold
out), the median and p90 thread-CPU ms per request, the process CPU (which
includes the realtime publisher thread) and the SQL statements. With
`--profile KIND` it prints a cProfile of that request instead.
"""

import argparse
import os
import sys
import uuid
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

KINDS = ("checkout", "payment", "sold_out")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per kind")
    parser.add_argument("--profile", choices=KINDS)
    args = parser.parse_args()

    import inprocess
    from rush import setup_event

    n = args.requests
    slug, type_id, _ = setup_event(2 * n + 40, 1)
    sold_out_slug, sold_out_type, _ = setup_event(1, 1)

    from django.db import connection
    from django.test import Client

    client = Client()
    client.get(f"/buy/events/{slug}/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    counter = iter(range(10**9))

    def post_form(path: str, data: dict):
        # URL-encoded, as a browser (and bench/rush.py) posts these forms;
        # the test client's default multipart body costs more to parse.
        return client.post(
            path, urlencode(data), content_type="application/x-www-form-urlencoded"
        )

    def checkout(event_slug: str, ticket_type: int, expect: int):
        k = next(counter)
        response = post_form(
            f"/buy/events/{event_slug}/",
            {
                "csrfmiddlewaretoken": token,
                f"qty_{ticket_type}": 1,
                "name": f"Buyer {k}",
                "email": f"buyer{k}@bench.test",
                "phone": "",
                # Each one a new page's form, as purchase.js fills it in.
                "checkout_key": uuid.uuid4().hex,
            },
        )
        assert response.status_code == expect, response.status_code
        return response

    pending: list[str] = []

    def request(kind: str) -> None:
        if kind == "checkout":
            pending.append(checkout(slug, type_id, 303)["Location"])
        elif kind == "payment":
            response = post_form(
                pending.pop(), {"csrfmiddlewaretoken": token, "action": "pay"}
            )
            assert response.status_code == 303, response.status_code
        else:
            checkout(sold_out_slug, sold_out_type, 409)

    checkout(sold_out_slug, sold_out_type, 303)  # takes the one seat
    for _ in range(5):  # warm up every path
        for kind in KINDS:
            request(kind)

    if args.profile:
        if args.profile == "payment":
            for _ in range(n):
                request("checkout")
        inprocess.profile([lambda: request(args.profile)] * n)
        return 0

    print(f"database {connection.vendor}, {n} requests per kind")
    print(inprocess.header(9))
    for kind in KINDS:
        if kind == "payment":
            for _ in range(n + 1):
                request("checkout")
        calls = [lambda kind=kind: request(kind)] * n
        print(inprocess.cpu_line(kind, calls, lambda kind=kind: request(kind), 9))
    return 0


if __name__ == "__main__":
    sys.exit(main())
