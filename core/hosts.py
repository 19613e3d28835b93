"""Whether a host name is one only this computer or its own network reaches.

Read by the settings (which refuse to start a public server whose links or
sender are such a host) and by the deploy checks, so imports nothing of
Django.
"""

import ipaddress


def is_local_host(host: str) -> bool:
    """Empty, localhost, a .local or .localhost name, or a loopback, private
    or link-local address: no customer's phone can open a link to it."""
    name = host.strip().strip("[]").lower()
    if not name or name in ("localhost", "testserver"):
        return True
    if name.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local
