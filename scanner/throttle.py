"""Cache-based limits on sign-in, password-reset, find-my-tickets, waitlist
requests and the seats and orders one network takes of an event.

Failures are counted per client IP and username in a fixed window, so a
guesser is stopped after a few tries while the same person on another network
(or a colleague behind the same router, with another username) is not. The
count lives in the shared cache (Redis in production), so every process sees
it. Keys are hashed: no username or email address is stored in the cache in
clear.
"""

import contextlib
import hashlib
import ipaddress

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_SECONDS = 15 * 60
RESET_MAX_REQUESTS = 5
RESET_WINDOW_SECONDS = 60 * 60
# Find my tickets (purchase/find_tickets_views.py): lookups per network per
# hour (generous: a venue's Wi-Fi or a mobile carrier puts many buyers behind
# one address, and only addresses with tickets are ever emailed), and one
# email per address per ten minutes.
LOOKUP_MAX_REQUESTS = 20
LOOKUP_WINDOW_SECONDS = 60 * 60
LOOKUP_ADDRESS_WINDOW_SECONDS = 10 * 60
# Waitlist joins (purchase/waitlist_views.py): per network per hour, and one
# email per address per ten minutes, as Find my tickets.
WAITLIST_MAX_REQUESTS = 20
WAITLIST_WINDOW_SECONDS = 60 * 60
WAITLIST_ADDRESS_WINDOW_SECONDS = 10 * 60
# Orders placed per network per event (BuyAllowance): this window, with
# settings.ORDERS_PER_NETWORK_PER_HOUR in it.
ORDERS_WINDOW_SECONDS = 60 * 60


def client_ip(request: HttpRequest | None) -> str:
    """The visitor's address: REMOTE_ADDR, or behind TRUSTED_PROXY_HOPS
    proxies (Caddy in docker compose: 1), the address the outermost of them
    saw, from X-Forwarded-For. Behind a proxy REMOTE_ADDR is the proxy's, and
    every limit per network would be one limit for the whole site."""
    if request is None:
        return "-"
    hops = settings.TRUSTED_PROXY_HOPS
    if hops:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        # Each trusted proxy appended the address it was reached from; what
        # the visitor sent before them is theirs to forge, so not read.
        if len(chain) >= hops:
            return chain[-hops]
    return request.META.get("REMOTE_ADDR", "-") or "-"


def client_network(request: HttpRequest | None) -> str:
    """The visitor's network: its IPv4 address, or the /64 of its IPv6 one.

    An IPv6 subscriber is given a whole /64 and picks any address in it, so
    a limit per address would be one per request for whoever cares to."""
    ip = client_ip(request)
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _key(scope: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"throttle:{scope}:{digest}"


def login_key(request: HttpRequest | None, username: str) -> str:
    return _key("login", client_network(request), username.strip().casefold())


def reset_key(request: HttpRequest | None) -> str:
    return _key("reset", client_network(request))


def lookup_key(request: HttpRequest | None) -> str:
    return _key("lookup", client_network(request))


def lookup_address_key(email: str) -> str:
    return _address_key("lookup-address", email)


def waitlist_key(request: HttpRequest | None) -> str:
    return _key("waitlist", client_network(request))


def waitlist_address_key(email: str) -> str:
    return _address_key("waitlist-address", email)


def _address_key(scope: str, email: str) -> str:
    """Keyed with SECRET_KEY, not a plain hash: whoever reads the cache
    cannot test a list of known addresses against it."""
    digest = salted_hmac(
        f"scanner.throttle.{scope}", email.strip().casefold(), algorithm="sha256"
    ).hexdigest()[:40]
    return f"throttle:{scope}:{digest}"


def is_blocked(key: str, limit: int = LOGIN_MAX_FAILURES) -> bool:
    return (cache.get(key) or 0) >= limit


def record_failure(key: str, window: int = LOGIN_WINDOW_SECONDS) -> int:
    """Count one failure; the window starts at the first one."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def take(key: str, limit: int, window: int) -> bool:
    """Count one request against `key`; whether it is within `limit`.

    Counted before the work it guards, in one atomic increment: requests
    sent at the same instant each get a count of their own, where a check
    made before counting lets all of them through until the first is
    counted.
    """
    return record_failure(key, window) <= limit


def _add_to_counters(counts: list[tuple[str, int, int]]) -> list[int]:
    """Add each (key, amount, window) at once, each window starting with its
    first count: one round trip on the Redis cache (ticketing.cache), one
    atomic step per counter on any other."""
    if hasattr(cache, "add_to_counters"):
        return cache.add_to_counters(counts)
    totals = []
    for key, amount, window in counts:
        cache.add(key, 0, timeout=window)
        try:
            totals.append(cache.incr(key, amount))
        except ValueError:  # expired between add and incr
            cache.set(key, amount, timeout=window)
            totals.append(amount)
    return totals


def give_back(key: str, count: int) -> None:
    """Uncount what was counted (a window that ended took it already)."""
    with contextlib.suppress(ValueError):
        cache.decr(key, count)


class BuyAllowance:
    """What one network may take of one event through the buy form, in the
    shared cache: seats within a hold window (HELD_SEATS_PER_NETWORK: at
    most that many can be held at once, however many orders and email
    addresses they are spread over, free tickets included) and orders an
    hour (ORDERS_PER_NETWORK_PER_HOUR). Generous, as a venue's Wi-Fi or a
    mobile carrier puts many honest buyers behind one address; 0 turns a
    limit off. No address is kept anywhere but in the hashed keys.

    `take` counts before the order is placed, so forms sent at one instant
    each get a count of their own; `give_back` uncounts when none was.
    """

    def __init__(self, request: HttpRequest | None, event_id) -> None:
        # Keys are made on first use: most forms in a rush are refused as
        # sold out before anything is counted.
        self._request = request
        self._event_id = event_id
        self._taken: list[tuple[str, int]] = []

    def take(self, seats: int) -> str | None:
        """Count an order of `seats`; None, or why it is refused (nothing is
        then counted)."""
        seat_limit = settings.HELD_SEATS_PER_NETWORK
        order_limit = settings.ORDERS_PER_NETWORK_PER_HOUR
        hold_window = settings.HOLD_MINUTES * 60
        if not (seat_limit or order_limit):
            return None
        network = client_network(self._request)
        event = str(self._event_id)
        limits = []  # (key, amount, window, limit, message)
        if seat_limit and seats:
            key = _key("held-seats", network, event)
            limits.append((key, seats, hold_window, seat_limit, held_seats_message))
        if order_limit:
            key = _key("orders", network, event)
            limits.append((key, 1, ORDERS_WINDOW_SECONDS, order_limit, orders_message))
        if not limits:
            return None
        totals = _add_to_counters([(key, n, window) for key, n, window, _, _ in limits])
        self._taken = [(key, n) for key, n, _, _, _ in limits]
        for (_, _, _, limit, message), total in zip(limits, totals, strict=True):
            if total > limit:
                self.give_back()  # a refusal costs the network nothing
                return message(limit)
        return None

    def give_back(self) -> None:
        """Uncount what take counted: no new order was placed after all."""
        for key, count in self._taken:
            give_back(key, count)
        self._taken = []


def reset(key: str) -> None:
    cache.delete(key)


def login_blocked_message() -> str:
    return (
        f"Too many failed sign-in attempts. Wait {LOGIN_WINDOW_SECONDS // 60} minutes "
        "and try again, or reset your password."
    )


def reset_blocked_message() -> str:
    return "Too many password reset requests from this network. Try again in an hour."


def lookup_blocked_message() -> str:
    return "Too many requests from this network. Try again in an hour."


def held_seats_message(limit: int) -> str:
    return (
        "Too many tickets for this event are held from your internet connection "
        f"right now (at most {limit} at a time; a shared Wi-Fi counts as one "
        "connection). Nothing was reserved. Try again in "
        f"{settings.HOLD_MINUTES} minutes, or switch to mobile data."
    )


def orders_message(limit: int | None = None) -> str:
    return (
        "Too many orders for this event from your internet connection in the last "
        "hour. Nothing was reserved. Try again later, or from another connection "
        "(mobile data instead of Wi-Fi, say)."
    )
