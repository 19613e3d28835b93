"""Walking the scanner site's URLs and filling in sample arguments for them.

The permission matrix (test_permission_matrix.py) requests every pattern of
`scanner.urls` and `scanner.api_urls`. To reverse a pattern it needs a value
for each URL parameter; `SAMPLE_VALUES` gives one per parameter *name*, and
`SAMPLE_BY_CONVERTER` is the fallback per converter type. A new URL with a
new parameter name: add one line to `SAMPLE_VALUES` (and, if it needs a new
kind of row, one attribute to `UrlSamples`).
"""

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.urls import URLPattern, URLResolver, converters
from django.utils import timezone

from core.models import (
    Event,
    Order,
    OutboundMessage,
    ScanLog,
    ScannerDevice,
    StaffInvite,
    Ticket,
    TicketType,
    WaitlistEntry,
)

SCANNER_URLCONFS = ("scanner.urls", "scanner.api_urls")

# Reachable without a staff role, by design. Everything else must declare roles.
PUBLIC_URL_NAMES = {
    "scanner:login",
    "scanner:logout",
    "scanner:password_reset",
    "scanner:password_reset_done",
    "scanner:password_reset_confirm",
    "scanner:password_reset_complete",
    "scanner:invite_accept",
}


@dataclass
class UrlSamples:
    """One row of each kind a scanner URL may point at."""

    event: Event
    ticket_type: TicketType
    order: Order
    ticket: Ticket
    member: Any  # a door-staff user, the target of staff pages
    invite: StaffInvite
    scan: ScanLog
    device: ScannerDevice
    waitlist_entry: WaitlistEntry
    message: OutboundMessage
    extra: dict = field(default_factory=dict)


SAMPLE_VALUES: dict[str, Callable[[UrlSamples], Any]] = {
    # events
    "event_id": lambda s: s.event.id,
    "event_uuid": lambda s: s.event.id,
    "event": lambda s: s.event.id,
    "uuid": lambda s: s.event.id,
    "slug": lambda s: s.event.slug,
    "event_slug": lambda s: s.event.slug,
    "ticket_type_id": lambda s: s.ticket_type.id,
    "type_id": lambda s: s.ticket_type.id,
    # orders and tickets
    "order_id": lambda s: s.order.id,
    "order_code": lambda s: s.order.code,
    "order_token": lambda s: s.order.token,
    "ticket_id": lambda s: s.ticket.id,
    "ticket_code": lambda s: s.ticket.code,
    "code": lambda s: s.ticket.code,
    "ticket_token": lambda s: s.ticket.token,
    # staff and invitations
    "user_id": lambda s: s.member.id,
    "staff_id": lambda s: s.member.id,
    "member_id": lambda s: s.member.id,
    "invite_id": lambda s: s.invite.id,
    "token": lambda s: s.invite.token,
    "uidb64": lambda s: "MQ",
    # door, scans, devices, waitlist, messages
    "scan_id": lambda s: s.scan.id,
    "device_id": lambda s: s.device.id,
    "entry_id": lambda s: s.waitlist_entry.id,
    "waitlist_id": lambda s: s.waitlist_entry.id,
    "message_id": lambda s: s.message.id,
}

SAMPLE_BY_CONVERTER: dict[type, Callable[[UrlSamples], Any]] = {
    converters.UUIDConverter: lambda s: s.event.id,
    converters.SlugConverter: lambda s: s.event.slug,
}


@dataclass(frozen=True)
class Route:
    name: str  # reversible, with namespace
    route: str  # the pattern text, for messages
    callback: Callable
    params: dict  # parameter name -> converter (None for regex groups)

    def __str__(self) -> str:
        return self.name


def _walk(
    patterns, namespace: str | None, prefix: str, params: dict
) -> Iterator[Route]:
    for entry in patterns:
        entry_params = dict(params)
        entry_params.update(getattr(entry.pattern, "converters", {}) or {})
        regex = getattr(entry.pattern, "regex", None)
        if regex is not None:
            for group in regex.groupindex:
                entry_params.setdefault(group, None)
        text = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = entry.namespace
            full = f"{namespace}:{inner}" if namespace and inner else inner or namespace
            yield from _walk(entry.url_patterns, full, text, entry_params)
        elif isinstance(entry, URLPattern):
            if not entry.name:
                name = f"<unnamed {text}>"
            else:
                name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield Route(
                name=name, route=text, callback=entry.callback, params=entry_params
            )


def scanner_routes() -> list[Route]:
    """Every URL pattern of the scanner site, from its URLconf modules."""
    routes: list[Route] = []
    for module_name in SCANNER_URLCONFS:
        module = importlib.import_module(module_name)
        routes.extend(
            _walk(module.urlpatterns, getattr(module, "app_name", None), "", {})
        )
    return routes


def allowed_roles_of(callback: Callable) -> tuple | None:
    """Roles a view declares: on the function (role_required) or its class."""
    roles = getattr(callback, "allowed_roles", None)
    if roles is None:
        view_class = getattr(callback, "view_class", None) or getattr(
            callback, "cls", None
        )
        roles = getattr(view_class, "allowed_roles", None)
    if roles is None:
        roles = (getattr(callback, "view_initkwargs", None) or {}).get("allowed_roles")
    return tuple(roles) if roles is not None else None


def sample_kwargs(route: Route, samples: UrlSamples) -> dict:
    kwargs = {}
    for name, converter in route.params.items():
        if name in SAMPLE_VALUES:
            kwargs[name] = SAMPLE_VALUES[name](samples)
        elif type(converter) in SAMPLE_BY_CONVERTER:
            kwargs[name] = SAMPLE_BY_CONVERTER[type(converter)](samples)
        else:
            raise LookupError(
                f"No sample value for URL parameter {name!r} of {route.name} "
                f"({route.route}): add it to SAMPLE_VALUES in {__name__}."
            )
    return kwargs


def build_samples(*, event, ticket_type, order, member) -> UrlSamples:
    ticket = order.tickets.first()
    now = timezone.now()
    return UrlSamples(
        event=event,
        ticket_type=ticket_type,
        order=order,
        ticket=ticket,
        member=member,
        invite=StaffInvite.objects.create(
            email="invitee@example.com",
            role="door",
            expires_at=now + timedelta(days=7),
        ),
        scan=ScanLog.objects.create(
            ticket=ticket,
            event=event,
            result=ScanLog.Result.OK,
            code_digest="0" * 64,
            at=now,
        ),
        device=ScannerDevice.objects.create(
            label="Door 1", token_digest="1" * 64, event=event
        ),
        waitlist_entry=WaitlistEntry.objects.create(
            event=event, name="Wai Ting", email="wait@example.com", quantity=1
        ),
        message=OutboundMessage.objects.filter(order=order).first()
        or OutboundMessage.objects.create(
            channel="email", kind="test", to="x@example.com", next_attempt_at=now
        ),
    )
