"""Signal receivers of the scanner site."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from core import realtime


@receiver(user_logged_out, dispatch_uid="scanner.close_feeds_on_logout")
def close_feeds_on_logout(sender, request, user, **kwargs) -> None:
    """Close the door feeds this browser opened (sent before its session is flushed)."""
    session = getattr(request, "session", None)
    realtime.announce_session_ended(session.session_key if session else None)
