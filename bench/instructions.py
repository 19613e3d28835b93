"""Instructions per request, counted by valgrind: a CPU figure that noise cannot move.

Wall-clock rates and even CPU time drift by a quarter on a shared machine
(see the figures in bench/README.md), which hides a change worth 5 %.
Instruction counts hardly drift: the same code, data and settings count
within 2-4 % from run to run, whatever else the machine is doing (what
varies is mostly the scan log's batch writer, which runs on a timer). Use
this to judge a change to a hot path; use rush.py and scan.py for the
targets.

Each request goes through the WSGI application exactly as granian calls it
(ticketing.wsgi: warm-up, every middleware, the database pool), with a raw
WSGI environ; nothing else runs inside the counted window. The count is the
whole process's, so the realtime publisher and the scan log's batch writer
are in it. Postgres and Redis are not (they are other processes).

    DATABASE_URL=postgres://.../tk_instr REDIS_URL=redis://127.0.0.1:6379/4 \\
        python bench/instructions.py            # scans and purchases, 100 each
    python bench/instructions.py --only scan --auth session

It runs itself under `valgrind --tool=callgrind` (about 50 times slower than
normal; a minute or two). Prints millions of instructions per request by
kind. Use a database of its own: it creates events there.
"""

import argparse
import gc
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")

SCAN_KINDS = ("forged", "first", "repeat")
BUY_KINDS = ("checkout", "payment", "sold_out")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="per kind")
    parser.add_argument("--only", choices=["scan", "buy"])
    parser.add_argument("--auth", choices=["device", "session"], default="device")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return count_in_child(args)
    out_dir = Path(tempfile.mkdtemp(prefix="instructions-"))
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_dir}/cg.out",
        sys.executable,
        __file__,
        f"--requests={args.requests}",
        f"--auth={args.auth}",
        f"--child={out_dir}",
    ]
    if args.only:
        command.append(f"--only={args.only}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        return done.returncode
    print(f"Minstr per request, {args.requests} requests per kind, {args.auth} scans")
    for path in sorted(out_dir.glob("cg.out.*"), key=lambda p: int(p.suffix[1:])):
        text = path.read_text(errors="replace")
        kind = re.search(r"^desc: Trigger: .*dump (\S+)", text, re.M)
        total = re.search(r"^totals: (\d+)", text, re.M)
        if kind and total:
            print(
                f"  {kind.group(1):10s} {int(total.group(1)) / args.requests / 1e6:7.3f}"
            )
    return 0


# --- Inside valgrind ---------------------------------------------------------


class Counted:
    """Counts instructions only inside `with counted(kind)`; one dump per kind."""

    def __init__(self) -> None:
        self.pid = str(os.getpid())

    def _control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, self.pid], capture_output=True)

    def run(self, kind: str, calls) -> None:
        gc.collect()  # start each window with the same garbage: none
        self._control("-i", "on")
        for call in calls:
            call()
        self._control("-i", "off")
        self._control("-d", kind)


def count_in_child(args) -> int:
    sys.path.insert(0, str(BENCH))
    from ticketing.wsgi import application

    wsgi = Wsgi(application)
    counted = Counted()
    if args.only in (None, "scan"):
        count_scans(wsgi, counted, args.requests, args.auth)
    if args.only in (None, "buy"):
        count_purchases(wsgi, counted, args.requests)
    return 0


class Wsgi:
    """Calls the WSGI app with a raw environ, as granian does."""

    def __init__(self, application) -> None:
        self.application = application
        self.status = ""
        self.headers: list = []

    def environ(
        self, method: str, path: str, body: bytes = b"", headers: dict | None = None
    ) -> dict:
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
        }
        if method == "POST":
            environ["CONTENT_LENGTH"] = str(len(body))
        environ.update(headers or {})
        return environ

    def __call__(self, environ: dict) -> tuple[str, dict, bytes]:
        def start_response(status, headers, exc_info=None):
            self.status, self.headers = status, headers

        response = self.application(environ, start_response)
        try:
            body = b"".join(response)
        finally:
            response.close()
        return self.status, self.headers, body

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers if k.lower() == name.lower())


def count_scans(wsgi: Wsgi, counted: Counted, n: int, auth: str) -> None:
    from scan import auth_headers, create_event, forge

    event, payloads = create_event(2 * n + 40, "instr")
    headers = {"CONTENT_TYPE": "application/json"}
    for line in auth_headers(event, auth).decode().splitlines():
        name, _, value = line.partition(": ")
        headers["HTTP_" + name.upper().replace("-", "_")] = value
    rng = random.Random(5)
    fresh, used = iter(payloads), []

    def code_for(kind: str) -> str:
        if kind == "forged":
            return forge(rng.choice(payloads), rng)
        if kind == "first":
            used.append(next(fresh))
            return used[-1]
        return rng.choice(used)

    expected = {"forged": "invalid", "first": "ok", "repeat": "already_used"}

    def scan(kind: str):
        body = json.dumps(
            {"event": str(event.pk), "code": code_for(kind), "nonce": uuid.uuid4().hex}
        ).encode()
        environ = wsgi.environ("POST", "/api/v1/scan", body, headers)

        def call() -> None:
            status, _, answer = wsgi(environ)
            assert json.loads(answer)["code"] == expected[kind], (status, answer)

        return call

    for kind in SCAN_KINDS:  # warm every path up, uncounted
        for _ in range(10):
            scan(kind)()
    for kind in SCAN_KINDS:
        counted.run(kind, [scan(kind) for _ in range(n)])


def count_purchases(wsgi: Wsgi, counted: Counted, n: int) -> None:
    from rush import setup_event

    slug, type_id, _ = setup_event(2 * n + 40, 1)
    sold_out_slug, sold_out_type, _ = setup_event(1, 1)
    _, _, page = wsgi(wsgi.environ("GET", f"/buy/events/{slug}/"))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    cookie = re.search(r"csrftoken=([^;]+)", wsgi.header("Set-Cookie"))[1]
    form_headers = {
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "HTTP_COOKIE": f"csrftoken={cookie}",
    }
    serial = iter(range(10**9))
    pending: list[str] = []

    def checkout(event_slug: str, ticket_type: int, expect: str):
        k = next(serial)
        body = urlencode(
            {
                "csrfmiddlewaretoken": token.decode(),
                f"qty_{ticket_type}": 1,
                "name": f"Buyer {k}",
                "email": f"buyer{k}@bench.test",
                "phone": "",
                "checkout_key": uuid.uuid4().hex,
            }
        ).encode()
        path = f"/buy/events/{event_slug}/"
        environ = wsgi.environ("POST", path, body, form_headers)

        def call() -> None:
            status, _, _ = wsgi(environ)
            assert status.startswith(expect), status
            if expect == "303":
                pending.append(wsgi.header("Location"))

        return call

    def payment():
        body = urlencode(
            {"csrfmiddlewaretoken": token.decode(), "action": "pay"}
        ).encode()
        environ = wsgi.environ("POST", pending.pop(), body, form_headers)

        def call() -> None:
            status, _, _ = wsgi(environ)
            assert status.startswith("303"), status

        return call

    checkout(sold_out_slug, sold_out_type, "303")()  # takes its one seat
    for _ in range(5):  # warm every path up, uncounted
        checkout(slug, type_id, "303")()
        payment()()
        checkout(sold_out_slug, sold_out_type, "409")()
    counted.run("checkout", [checkout(slug, type_id, "303") for _ in range(n)])
    counted.run("payment", [payment() for _ in range(n)])
    counted.run(
        "sold_out", [checkout(sold_out_slug, sold_out_type, "409") for _ in range(n)]
    )


if __name__ == "__main__":
    sys.exit(main())
