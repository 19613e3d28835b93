"""Links to a page of any of the three sites, from any template, emails too.

    {% load site_links %}
    {% site_link "purchase" "purchase:find_tickets" %}               → /buy/find/
    {% site_link "purchase" "purchase:find_tickets" absolute=True %} → http://…/buy/find/

Right whether the sites share a host or not (core.sites.site_url). For pages
whose URL takes no arguments, such as a link every page's footer shows: each
is reversed once per setting and script prefix, since reverse() cost about
as much as a fifth of rendering the page around it.
"""

import functools

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix

from core.sites import site_url

register = template.Library()


@register.simple_tag
def site_link(site: str, viewname: str, absolute: bool = False) -> str:
    return _site_link(site, viewname, absolute, get_script_prefix())


@functools.lru_cache(maxsize=32)
def _site_link(site: str, viewname: str, absolute: bool, script_prefix: str) -> str:
    return site_url(site, viewname, absolute=absolute)


@receiver(setting_changed)
def _forget_links(**kwargs) -> None:
    _site_link.cache_clear()
