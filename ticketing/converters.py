"""Path converters for the sites' URLconfs: junk in a path is a 404 before
any query (Postgres refuses a NUL in text, which would be a 500).

Registered on import; a URLconf that uses them imports this module.
"""

from django.urls import register_converter


class TokenConverter:
    """`<token:...>`: an access token as secrets.token_urlsafe makes them
    (core.models.orders.new_access_token): letters, digits, "-" and "_"."""

    regex = "[A-Za-z0-9_-]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class TextConverter(TokenConverter):
    """`<text:...>`: what `<str:...>` takes (anything but "/") less NUL."""

    regex = r"[^/\x00]+"


register_converter(TokenConverter, "token")
register_converter(TextConverter, "text")
