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
