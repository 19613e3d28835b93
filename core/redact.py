"""Text from outside (a provider's error) made fit for the operator's log.

Providers quote what they were sent: Twilio the number ("The 'To' number
+34612345678 is not valid"), SendGrid and SMTP servers the address, and
either may quote a link. The log is the operator's, and keeps none of
those; the owner sees the provider's words in full on the messages page,
as it is their own customer's data.
"""

import re

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
# 7 to 15 digits, perhaps with a +, spaces, hyphens or brackets between:
# a phone number in any shape (not dotted, so an IP address stays).
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[ ()-]{0,2}\d){6,14}(?!\w)")


def redact_contacts(text: str, *known: str) -> str:
    """`text` with email addresses, phone numbers, links and each of `known`
    (the recipient, as it was given) replaced by placeholders."""
    text = str(text)
    for value in known:
        if value and len(value) > 3:
            text = text.replace(value, "<recipient>")
    text = _URL.sub("<url>", text)
    text = _EMAIL.sub("<email>", text)
    return _PHONE.sub("<phone>", text)
