"""Whose address a limit per network counts: the visitor's, behind a proxy too."""

import pytest

from scanner.throttle import client_ip


@pytest.mark.parametrize(
    ("hops", "forwarded", "remote", "seen"),
    [
        # No proxy: the header is the visitor's to forge, so not read.
        (0, "203.0.113.9", "198.51.100.7", "198.51.100.7"),
        # Behind Caddy, which sets the header to the visitor's address.
        (1, "198.51.100.7", "172.18.0.5", "198.51.100.7"),
        # What the visitor sent before the proxy's entry is not believed.
        (1, "10.0.0.1, 198.51.100.7", "172.18.0.5", "198.51.100.7"),
        (2, "10.0.0.1, 198.51.100.7, 172.18.0.9", "172.18.0.5", "198.51.100.7"),
        # A proxy that set no header: the connection's address.
        (1, "", "172.18.0.5", "172.18.0.5"),
    ],
)
def test_the_visitors_address(rf, settings, hops, forwarded, remote, seen):
    settings.TRUSTED_PROXY_HOPS = hops
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == seen


def test_take_counts_first_so_the_request_over_the_limit_is_the_one_refused():
    from scanner import throttle

    key = throttle.waitlist_key(None)
    throttle.reset(key)
    answers = [throttle.take(key, 3, 60) for _ in range(5)]
    assert answers == [True, True, True, False, False]
    throttle.reset(key)
    assert throttle.take(key, 3, 60)


def test_address_keys_ignore_case_and_differ_between_scopes():
    from scanner import throttle

    assert throttle.waitlist_address_key(" Ana@Example.com") == (
        throttle.waitlist_address_key("ana@example.com")
    )
    assert throttle.waitlist_address_key("ana@example.com") != (
        throttle.lookup_address_key("ana@example.com")
    )
    assert "ana" not in throttle.waitlist_address_key("ana@example.com")
