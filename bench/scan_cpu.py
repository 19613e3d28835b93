"""Server-side cost of one door scan, in process: thread CPU and SQL statements.

No server and no load: each request goes through django.test.Client (the full
middleware stack, as under WSGI) with a scanner device token, and the CPU the
request thread used is read with getrusage(RUSAGE_THREAD) around it. Safe to
run on a shared machine. Use a database of its own:

    DATABASE_URL=postgres://.../tk_scanfast python bench/scan_cpu.py

Prints, for a forged code, a first (admitting) scan and a repeat
(already_used): the median and p90 thread-CPU ms per request, the process
CPU (which includes the realtime publisher thread) and the SQL statements.
"""

import argparse
import json
import os
import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="per kind")
    parser.add_argument("--profile", choices=["forged", "first", "repeat"])
    parser.add_argument(
        "--auth",
        choices=["device", "session"],
        default="device",
        help="a device token, or a signed-in door staff member's session and"
        " CSRF token, as the door page on a phone sends",
    )
    args = parser.parse_args()

    import inprocess
    from scan import create_event, device_token, forge, setup_django

    setup_django()
    from django.db import connection
    from django.test import Client

    n = args.requests
    event, payloads = create_event(2 * n + 20, "cpu")
    rng = random.Random(5)
    client = Client(enforce_csrf_checks=True)
    if args.auth == "device":
        headers = {"HTTP_AUTHORIZATION": f"Device {device_token(event)}"}
    else:
        headers = {"HTTP_X_CSRFTOKEN": door_staff_session(client, event)}

    def scan(code: str) -> dict:
        body = json.dumps(
            {
                "event": str(event.pk),
                "code": code,
                "nonce": uuid.uuid4().hex,
                "method": "camera",
            }
        )
        response = client.post(
            "/api/v1/scan", body, content_type="application/json", **headers
        )
        assert response.status_code == 200, response.content
        return json.loads(response.content)

    fresh = iter(payloads)
    used: list[str] = []

    def code_for(kind: str) -> str:
        if kind == "forged":
            return forge(rng.choice(payloads), rng)
        if kind == "first":
            payload = next(fresh)
            used.append(payload)
            return payload
        return rng.choice(used)

    expected = {"forged": "invalid", "first": "ok", "repeat": "already_used"}
    for kind in ("forged", "first", "repeat"):  # warm up every path
        for _ in range(10):
            assert scan(code_for(kind))["code"] == expected[kind]

    def scan_call(kind: str):
        code = code_for(kind)

        def call() -> None:
            answer = scan(code)
            assert answer["code"] == expected[kind], answer

        return call

    if args.profile:
        inprocess.profile([scan_call(args.profile) for _ in range(n)])
        return 0

    print(f"database {connection.vendor}, {n} requests per kind, {args.auth} auth")
    print(inprocess.header(8))
    for kind in ("forged", "first", "repeat"):
        calls = [scan_call(kind) for _ in range(n)]
        print(inprocess.cpu_line(kind, calls, scan_call(kind), 8))
    return 0


def door_staff_session(client, event) -> str:
    """Sign `client` in as door staff assigned to `event` (as the door page's
    phone is); returns the CSRF token the page would send."""
    from scan import door_staff

    client.force_login(door_staff(event))
    client.get(f"/scanner/door/{event.pk}/")  # sets the CSRF cookie
    return client.cookies["csrftoken"].value


if __name__ == "__main__":
    sys.exit(main())
