"""The typed parts of a text (templates/sms/*.txt), which build_sms may
shorten to keep the text within its segments (core.notify.rendering)."""

from django import template

from core.notify import gsm

register = template.Library()

# The least a shortened part keeps: enough to tell one event from another.
LEAST = 16


@register.simple_tag(takes_context=True)
def sms_clip(context, value, most: int, sentence: bool = False) -> str:
    """`value` in GSM-7, cut between words to at most `most` characters, or
    to that share of them build_sms asks for (`sms_share`, 1 to begin with)
    when the text is too long; `sentence` ends it with one full stop."""
    share = context.get("sms_share", 1)
    limit = max(min(most, LEAST), round(most * share))
    shorten = gsm.sentence if sentence else gsm.clip
    return shorten(str(value if value is not None else ""), limit)
