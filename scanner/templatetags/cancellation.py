"""The event page's Cancelled banner: who, when, why and how far the
refunds have gone (core.queries.cancellation)."""

from django import template

from core.queries.cancellation import cancellation_progress

register = template.Library()


@register.inclusion_tag("scanner/partials/cancelled_banner.html")
def cancelled_banner(event, is_owner: bool = False) -> dict:
    return {
        "event": event,
        "progress": cancellation_progress(event),
        "is_owner": is_owner,
    }
