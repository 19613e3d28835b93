"""Console forms: they parse and check input; the services decide and write.

Times are typed in the event's own time zone (chosen in the same form), so the
date fields stay naive here and become aware in `event_input`, once the zone
is known.
"""

import datetime
import zoneinfo
from decimal import Decimal
from functools import lru_cache

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.exceptions import TicketingError
from core.images import MAX_UPLOAD_BYTES
from core.models import Event, Role, TicketType
from core.phones import default_phone_region, example_mobile, phone_region
from core.queries.door import scannable_events
from core.queries.staff import role_of
from core.services.comps import MAX_COMPS_PER_ISSUE
from core.services.events import (
    CURRENCIES,
    DOORS_BEFORE_START_MAX_HOURS,
    MAX_CAPACITY,
    MAX_PER_ORDER_LIMIT,
    EventDetails,
    OpenedVersion,
    TicketTypeDetails,
    opened_version_of,
    place_time_zones,
)
from scanner import throttle

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Mexico_City",
    "America/Toronto",
    "Australia/Sydney",
)


def _zone_label(zone: str) -> str:
    """ "America/New_York" → "America/New York"."""
    return zone.replace("_", " ")


@lru_cache(maxsize=1)
def _zones_by_region() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The zones of real places (place_time_zones), by their first part:
    ("Africa", (...)), ("America", (...)), ... ("Pacific", (...))."""
    regions: dict[str, list[str]] = {}
    for zone in sorted(place_time_zones()):
        if "/" in zone:
            regions.setdefault(zone.split("/", 1)[0], []).append(zone)
    return tuple((region, tuple(zones)) for region, zones in sorted(regions.items()))


def time_zone_choices(current: str | None = None) -> list:
    """The places an event can be in: the common ones first, then every
    zone of a real place by region ("Europe": "Europe/Madrid", ...). An
    event's `current` zone stays on offer even if it is not one of them
    (an old alias, such as Asia/Calcutta), so it still shows and saves."""
    places = place_time_zones()
    common = [z for z in COMMON_ZONES if z in places]
    if settings.TIME_ZONE not in common and settings.TIME_ZONE in places:
        common.insert(0, settings.TIME_ZONE)
    if current and current not in places:
        common.insert(0, current)
    return [
        ("Common", [(z, _zone_label(z)) for z in common]),
        *(
            (region, [(z, _zone_label(z)) for z in zones if z not in common])
            for region, zones in _zones_by_region()
        ),
    ]


class LocalDateTimeField(forms.DateTimeField):
    """A `datetime-local` input whose value stays naive (the event's wall clock)."""

    widget = forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format=DATETIME_LOCAL
    )

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None and timezone.is_aware(result):
            result = timezone.make_naive(result)
        return result


def _in_zone(value, zone: zoneinfo.ZoneInfo):
    if value is None:
        return None
    return value.replace(tzinfo=zone)


def _wall_clock(value: datetime.datetime | None, zone: zoneinfo.ZoneInfo):
    """An aware time as the naive wall-clock time in `zone` (for initial values)."""
    if value is None:
        return None
    return timezone.localtime(value, zone).replace(tzinfo=None)


class FriendlyErrors:
    """Plain-words error messages for every field of a form."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            messages = {"required": "Please fill this in."}
            if isinstance(field, forms.IntegerField | forms.DecimalField):
                messages |= {
                    "min_value": "Use %(limit_value)s or more.",
                    "max_value": "Use %(limit_value)s or less.",
                    "invalid": "Type a whole number, like 100."
                    if not isinstance(field, forms.DecimalField)
                    else "Type an amount, like 25.00.",
                    "max_decimal_places": "Use at most two decimals, like 25.50.",
                    "max_digits": "That amount is too large.",
                    "max_whole_digits": "That amount is too large.",
                }
            if isinstance(
                field, forms.DateField | forms.DateTimeField | forms.TimeField
            ):
                messages |= {"invalid": "Pick a date and time with the picker."}
            if isinstance(field, forms.EmailField):
                messages |= {"invalid": "Type an email address, like name@example.com."}
            if isinstance(field, forms.ChoiceField):
                messages |= {"invalid_choice": "Choose one of the options."}
            # Validator codes (min_value...) read their message from here too.
            field.error_messages.update(messages)


# --- events -----------------------------------------------------------------

OUT_OF_DATE = (
    "This page is out of date, so nothing was saved: reload it and make your "
    "changes again."
)


def opened_token(version: OpenedVersion) -> str:
    """An edit page's OpenedVersion as its hidden field's text:
    "<event's updated_at>|<type id>=<its updated_at>|..."."""
    parts = [version.event.isoformat()]
    parts += [f"{pk}={at.isoformat()}" for pk, at in sorted(version.types.items())]
    return "|".join(parts)


def _opened_from_token(text: str) -> OpenedVersion | None:
    """opened_token's OpenedVersion back, or None for text it did not write."""
    try:
        first, *rest = text.split("|")
        event = datetime.datetime.fromisoformat(first)
        types = {}
        for part in rest:
            pk, at = part.split("=", 1)
            types[int(pk)] = datetime.datetime.fromisoformat(at)
    except ValueError:
        return None
    if timezone.is_naive(event) or any(timezone.is_naive(t) for t in types.values()):
        return None
    return OpenedVersion(event=event, types=types)


class EventForm(FriendlyErrors, forms.Form):
    name = forms.CharField(
        max_length=200,
        label="Event name",
        help_text="Shown on the website. Each event needs its own name.",
    )
    date = forms.DateField(
        label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    start_time = forms.TimeField(
        label="Starts at",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    doors_time = forms.TimeField(
        label="Doors open",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Optional; before the start.",
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Where the event happens. Every time on this page is in this zone.",
    )
    venue = forms.CharField(max_length=200, required=False, label="Venue")
    venue_capacity = forms.IntegerField(
        label="Venue capacity",
        min_value=1,
        max_value=MAX_CAPACITY,
        help_text="The most people the venue holds. Total sales never go above it.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    currency = forms.ChoiceField(label="Currency", choices=list(CURRENCIES.items()))
    description = forms.CharField(
        required=False,
        label="Description",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    image = forms.FileField(
        required=False,
        label="Picture",
        help_text=(
            f"JPEG, PNG, WebP or GIF, up to {MAX_UPLOAD_BYTES // 1024 // 1024} MB. "
            "It is resized for the web."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )
    remove_image = forms.BooleanField(
        required=False, label="Remove the current picture"
    )
    sales_start_at = LocalDateTimeField(
        required=False,
        label="Sales open",
        help_text="Leave empty to start selling as soon as the event is on sale.",
    )
    sales_end_at = LocalDateTimeField(
        required=False,
        label="Sales close",
        help_text="Leave empty to sell until the event starts.",
    )
    is_active = forms.BooleanField(
        required=False,
        initial=True,
        label="On sale: show it on the website and sell tickets",
    )
    waitlist_skip_larger_requests = forms.BooleanField(
        required=False,
        label="Waitlist: if fewer tickets free up than the next person wants, "
        "offer them to the next person who fits",
        help_text="Off: people are served strictly in order.",
    )
    tell_ticket_holders = forms.BooleanField(
        required=False,
        initial=True,
        label="Email (and text) everyone holding tickets about this change",
    )
    # What the page was opened on (opened_token): a save from a page someone
    # else's change made out of date is refused instead of undoing theirs.
    opened = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args,
        event: Event | None = None,
        ticket_types=(),
        ticket_holder_orders: int = 0,
        **kwargs,
    ) -> None:
        self.event = event
        if event is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(event) | {
                "opened": opened_token(opened_version_of(event, list(ticket_types)))
            }
        super().__init__(*args, **kwargs)
        if event is None:
            del self.fields["opened"]
        self.fields["time_zone"].choices = time_zone_choices(
            event.time_zone if event else None
        )
        # A new event most likely happens where the last one did.
        latest = None if event else Event.objects.order_by("-created_at").first()
        self.fields["time_zone"].initial = (
            latest.time_zone
            if latest and latest.time_zone in place_time_zones()
            else settings.TIME_ZONE
        )
        self.fields["currency"].initial = latest.currency if latest else "usd"
        if event is None or not event.image:
            del self.fields["remove_image"]
        # Shown whenever the event has ticket holders, not only once a time
        # or venue is edited (that needs no script): the service tells them
        # only of a change they rely on.
        if ticket_holder_orders:
            reach = f"{ticket_holder_orders:,} order" + (
                "s" if ticket_holder_orders != 1 else ""
            )
            self.fields["tell_ticket_holders"].help_text = (
                f"{reach}. Sent only if the date, start or doors time, time zone, "
                "venue or name changes; their tickets stay valid."
            )
        else:
            del self.fields["tell_ticket_holders"]

    @staticmethod
    def initial_for(event: Event) -> dict:
        zone = event.tz
        starts = _wall_clock(event.starts_at, zone)
        doors = _wall_clock(event.doors_at, zone)
        return {
            "name": event.name,
            "date": starts.date(),
            "start_time": starts.time(),
            "doors_time": doors.time() if doors else None,
            "time_zone": event.time_zone,
            "venue": event.venue,
            "venue_capacity": event.venue_capacity,
            "currency": event.currency,
            "description": event.description,
            "sales_start_at": _wall_clock(event.sales_start_at, zone),
            "sales_end_at": _wall_clock(event.sales_end_at, zone),
            "is_active": event.is_active,
            "waitlist_skip_larger_requests": event.waitlist_skip_larger_requests,
        }

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Event.objects.filter(name__iexact=name)
        if self.event is not None:
            clash = clash.exclude(pk=self.event.pk)
        if clash.exists():
            raise ValidationError(
                f"There is already an event called “{name}”. Choose another name."
            )
        return name

    def clean_image(self):
        upload = self.cleaned_data.get("image")
        if not upload:
            return None
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(
                f"The picture is {upload.size / 1024 / 1024:.1f} MB; the limit is "
                f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB. Try a smaller photo."
            )
        return upload

    def clean(self):
        data = super().clean()
        if "opened" in self.fields:
            data["opened"] = _opened_from_token(data.get("opened") or "")
            if data["opened"] is None:
                raise ValidationError(OUT_OF_DATE, code="out_of_date")
        zone_name = data.get("time_zone")
        if not zone_name or not data.get("date") or not data.get("start_time"):
            return data
        zone = zoneinfo.ZoneInfo(zone_name)
        starts = datetime.datetime.combine(data["date"], data["start_time"])
        data["starts_at"] = starts.replace(tzinfo=zone)
        doors_time = data.get("doors_time")
        data["doors_at"] = None
        if doors_time is not None:
            doors = datetime.datetime.combine(data["date"], doors_time)
            if doors > starts:
                # A clock time after the start's is the evening before a
                # start after midnight (doors 23:00, start 00:30), if that
                # is no further ahead than doors ever open; else a mistake
                # (doors 19:00, start 18:00), said as it is.
                day_before = doors - datetime.timedelta(days=1)
                if starts - day_before <= datetime.timedelta(
                    hours=DOORS_BEFORE_START_MAX_HOURS
                ):
                    doors = day_before
                else:
                    self.add_error(
                        "doors_time",
                        f"Doors ({doors_time:%H:%M}) are after the start "
                        f"({data['start_time']:%H:%M}): set the doors earlier or "
                        "the start later.",
                    )
                    return data
            data["doors_at"] = doors.replace(tzinfo=zone)
        start, end = data.get("sales_start_at"), data.get("sales_end_at")
        if start and end and end <= start:
            self.add_error("sales_end_at", "Sales must close after they open.")
        return data

    def opened_version(self) -> OpenedVersion | None:
        """What the edit page was opened on (None for a new event)."""
        return self.cleaned_data.get("opened")

    def tells_ticket_holders(self) -> bool:
        """The box's answer, or, when the page had no box (no one held
        tickets when it was opened, and some bought before it was saved),
        what it would have offered ticked: tell them."""
        if "tell_ticket_holders_offered" not in self.data:
            return True
        return self.cleaned_data.get("tell_ticket_holders", False)

    def details(self) -> EventDetails:
        data = self.cleaned_data
        zone = zoneinfo.ZoneInfo(data["time_zone"])
        return EventDetails(
            name=data["name"],
            starts_at=data["starts_at"],
            doors_at=data["doors_at"],
            time_zone=data["time_zone"],
            venue=data["venue"],
            venue_capacity=data["venue_capacity"],
            currency=data["currency"],
            description=data["description"],
            sales_start_at=_in_zone(data.get("sales_start_at"), zone),
            sales_end_at=_in_zone(data.get("sales_end_at"), zone),
            is_active=data["is_active"],
            waitlist_skip_larger_requests=data["waitlist_skip_larger_requests"],
        )


class TicketTypeForm(FriendlyErrors, forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(
        max_length=100,
        label="Name",
        widget=forms.TextInput(attrs={"placeholder": "e.g. VIP or General admission"}),
    )
    price = forms.DecimalField(
        label="Price",
        min_value=Decimal("0"),
        max_digits=10,
        decimal_places=2,
        help_text="0 for free. A new price applies to new sales only.",
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}),
    )
    capacity = forms.IntegerField(
        label="Capacity",
        min_value=0,
        max_value=MAX_CAPACITY,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    max_per_order = forms.IntegerField(
        label="Max per order",
        min_value=1,
        max_value=MAX_PER_ORDER_LIMIT,
        initial=10,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    sort_order = forms.IntegerField(
        label="Position",
        required=False,
        min_value=0,
        max_value=32767,
        help_text="Lower numbers come first.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    description = forms.CharField(
        max_length=300, required=False, label="Short description"
    )
    is_active = forms.BooleanField(required=False, initial=True, label="On sale")
    sales_start_at = LocalDateTimeField(required=False, label="Sales open")
    sales_end_at = LocalDateTimeField(required=False, label="Sales close")
    delete = forms.BooleanField(required=False, label="Delete this ticket type")

    def __init__(self, *args, ticket_type: TicketType | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ticket_type = ticket_type

    @property
    def has_sales(self) -> bool:
        return bool(self.ticket_type and self.ticket_type.order_lines.exists())

    def clean(self):
        data = super().clean()
        start, end = data.get("sales_start_at"), data.get("sales_end_at")
        if start and end and end <= start:
            self.add_error("sales_end_at", "Sales must close after they open.")
        return data

    def details(self, zone: zoneinfo.ZoneInfo, position: int) -> TicketTypeDetails:
        data = self.cleaned_data
        sort_order = data.get("sort_order")
        return TicketTypeDetails(
            # The posted id, whether or not it is still one of the event's
            # types: the service says which is gone (edited_meanwhile).
            id=self.ticket_type.id if self.ticket_type else data.get("id"),
            name=data.get("name", ""),
            price=data.get("price") if data.get("price") is not None else Decimal(0),
            capacity=data.get("capacity") if data.get("capacity") is not None else 0,
            max_per_order=data.get("max_per_order") or 10,
            sort_order=sort_order if sort_order is not None else position,
            description=data.get("description", ""),
            is_active=bool(data.get("is_active")),
            sales_start_at=_in_zone(data.get("sales_start_at"), zone),
            sales_end_at=_in_zone(data.get("sales_end_at"), zone),
            delete=bool(data.get("delete")),
        )


class BaseTicketTypeFormSet(forms.BaseFormSet):
    """Existing types come first (bound to their rows); blank rows add new ones."""

    def __init__(self, *args, ticket_types=(), event=None, **kwargs):
        self.ticket_types = list(ticket_types)
        zone = event.tz if event is not None else None
        if self.ticket_types and "initial" not in kwargs:
            kwargs["initial"] = [
                {
                    "id": t.id,
                    "name": t.name,
                    "price": t.price,
                    "capacity": t.capacity,
                    "max_per_order": t.max_per_order,
                    "sort_order": t.sort_order,
                    "description": t.description,
                    "is_active": t.is_active,
                    "sales_start_at": _wall_clock(t.sales_start_at, zone),
                    "sales_end_at": _wall_clock(t.sales_end_at, zone),
                }
                for t in self.ticket_types
            ]
        super().__init__(*args, **kwargs)

    def _posted_id(self, index: int) -> int | None:
        """The ticket type id row `index` posted (its hidden `id`), if any."""
        raw = self.data.get(self.add_prefix(index) + "-id", "")
        try:
            return int(raw) if str(raw).strip() else None
        except (TypeError, ValueError):
            return None

    def _is_existing_row(self, index: int) -> bool:
        """A row of a type the page was opened with: one posting an id (a
        row posted), or one of the types listed first (a page shown)."""
        if self.is_bound:
            return self._posted_id(index) is not None
        return index < len(self.ticket_types)

    def get_form_kwargs(self, index):
        """Posted rows find their type by the id they post, not by their place
        (the types' order may have changed since the page was opened)."""
        kwargs = super().get_form_kwargs(index)
        if index is None:
            return kwargs
        if self.is_bound:
            by_id = {t.id: t for t in self.ticket_types}
            ticket_type = by_id.get(self._posted_id(index))
        elif index < len(self.ticket_types):
            ticket_type = self.ticket_types[index]
        else:
            ticket_type = None
        if ticket_type is not None:
            kwargs["ticket_type"] = ticket_type
        return kwargs

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if not self._is_existing_row(i):
            del form.fields["delete"]
        return form

    @property
    def empty_form(self):
        form = super().empty_form
        form.fields.pop("delete", None)
        return form

    def filled_forms(self) -> list[TicketTypeForm]:
        """Existing types, plus the new rows that were filled in."""
        return [
            form
            for i, form in enumerate(self.forms)
            if self._is_existing_row(i) or form.has_changed()
        ]

    def clean(self):
        if any(self.errors):
            return
        kept = [f for f in self.filled_forms() if not f.cleaned_data.get("delete")]
        if not kept:
            raise ValidationError("Add at least one ticket type.")
        names: dict[str, TicketTypeForm] = {}
        for form in kept:
            key = form.cleaned_data["name"].strip().casefold()
            if key in names:
                form.add_error("name", "Another ticket type already has this name.")
            names[key] = form

    def details(self, zone: zoneinfo.ZoneInfo) -> tuple[list, list]:
        """(specs, forms) in the same order, so a service error finds its row."""
        forms_used = self.filled_forms()
        return [f.details(zone, i) for i, f in enumerate(forms_used)], forms_used


def ticket_type_formset(*, extra: int, data=None, ticket_types=(), event=None):
    formset_class = forms.formset_factory(
        TicketTypeForm, formset=BaseTicketTypeFormSet, extra=extra, max_num=50
    )
    return formset_class(data, prefix="types", ticket_types=ticket_types, event=event)


class DuplicateEventForm(FriendlyErrors, forms.Form):
    name = forms.CharField(max_length=200, label="Name of the copy")
    date = forms.DateField(
        label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    start_time = forms.TimeField(
        label="Starts at",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    def __init__(self, *args, event: Event, **kwargs):
        self.event = event
        super().__init__(*args, **kwargs)

    def starts_at(self) -> datetime.datetime:
        local = datetime.datetime.combine(
            self.cleaned_data["date"], self.cleaned_data["start_time"]
        )
        return local.replace(tzinfo=self.event.tz)


class CompForm(FriendlyErrors, forms.Form):
    ticket_type = forms.TypedChoiceField(label="Ticket type", coerce=int)
    quantity = forms.IntegerField(
        label="How many tickets",
        min_value=1,
        max_value=MAX_COMPS_PER_ISSUE,
        initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    guest_name = forms.CharField(max_length=200, label="Guest name")
    guest_email = forms.EmailField(
        label="Guest email",
        help_text="The tickets are sent here, like a paid order.",
        widget=forms.EmailInput(
            attrs={"autocomplete": "off", "autocapitalize": "none"}
        ),
    )
    guest_phone = forms.CharField(
        max_length=32,
        required=False,
        label="Guest mobile",
        help_text="Optional: also text them the tickets link.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )

    def __init__(self, *args, ticket_types, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ticket_type"].choices = [(t.id, t.name) for t in ticket_types]
        # A number without its +code is read as one of the event's country.
        event = ticket_types[0].event if ticket_types else None
        example = example_mobile(phone_region(event.time_zone if event else None))
        _show_phone_example(
            self.fields["guest_phone"],
            "Optional: also text them the tickets link, e.g. {}.",
            example,
        )


# --- staff ------------------------------------------------------------------

ROLE_HELP = (
    "Owner: everything. Manager: events, prices, capacity and reports. "
    "Door staff: scanning tickets only."
)


class DoorEventsField(forms.MultipleChoiceField):
    """The events a door staff member may scan; none ticked means all."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Door staff may scan")
        kwargs.setdefault("help_text", "Tick nothing to let them scan every event.")
        super().__init__(required=False, widget=forms.CheckboxSelectMultiple, **kwargs)

    def set_events(self, events) -> None:
        self.choices = [
            (str(e.pk), f"{e.name} · {e.local_starts_at():%d %b %Y}") for e in events
        ]


class InviteForm(FriendlyErrors, forms.Form):
    email = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(
            attrs={"autocomplete": "off", "autocapitalize": "none"}
        ),
    )
    phone = forms.CharField(
        max_length=32,
        required=False,
        label="Mobile number",
        help_text="Optional: we also text the invitation.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label="Role",
        choices=Role.choices,
        initial=Role.DOOR,
        help_text=ROLE_HELP,
        widget=forms.RadioSelect,
    )
    events = DoorEventsField()

    def __init__(self, *args, events, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].set_events(events)
        # An invite has no event: a number without its +code is read as one
        # of DEFAULT_PHONE_REGION.
        _show_phone_example(
            self.fields["phone"],
            "Optional: we also text the invitation, e.g. {}.",
            example_mobile(default_phone_region()),
        )


def _show_phone_example(field: forms.Field, help_text: str, example: str) -> None:
    """Help and placeholder showing a mobile number of the country a number
    typed without its +code is read as."""
    field.help_text = help_text.format(example)
    field.widget.attrs["placeholder"] = example


class StaffMemberForm(FriendlyErrors, forms.Form):
    role = forms.ChoiceField(
        label="Role",
        choices=Role.choices,
        help_text=ROLE_HELP,
        widget=forms.RadioSelect,
    )
    events = DoorEventsField()

    def __init__(self, *args, events, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].set_events(events)


class AcceptInviteForm(FriendlyErrors, forms.Form):
    first_name = forms.CharField(
        max_length=150,
        label="Your name",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    username = forms.CharField(
        max_length=150,
        label="Username",
        help_text="You sign in with it. Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none"}
        ),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        help_text="At least 8 characters; not only digits, not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("password")
            and data.get("password_again") is not None
            and data["password"] != data["password_again"]
        ):
            self.add_error("password_again", "The two passwords differ.")
        return data


# --- sign-in ----------------------------------------------------------------


class StaffLoginForm(AuthenticationForm):
    """Django's sign-in with a username or email, limited per IP and account."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username or password is not right. Check both and try again.",
        "not_staff": "This account has no staff role. Ask the owner for an invitation.",
    }

    def clean(self):
        typed = (self.cleaned_data.get("username") or "").strip()
        password = self.cleaned_data.get("password")
        if not typed or password is None:
            return super().clean()  # a field's own error; no password checked
        username = self._account_username(typed)
        # One allowance per account, whichever of its names is typed; a
        # name that is no account's has its own, so that one is limited too
        # and the answer is the same. Counted before the password is
        # checked: requests sent together each take a count of their own.
        key = throttle.login_key(self.request, username)
        if not throttle.take(
            key, throttle.LOGIN_MAX_FAILURES, throttle.LOGIN_WINDOW_SECONDS
        ):
            raise ValidationError(throttle.login_blocked_message(), code="throttled")
        self.cleaned_data["username"] = username
        data = super().clean()
        throttle.reset(key)
        return data

    @staticmethod
    def _account_username(typed: str) -> str:
        """The username of the account `typed` names: that of the one active
        account with that email address, else `typed` itself."""
        if "@" not in typed:
            return typed
        match = list(
            get_user_model()
            .objects.filter(email__iexact=typed, is_active=True)
            .values_list("username", flat=True)[:2]
        )
        return match[0] if len(match) == 1 else typed

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if role_of(user) is None:
            raise ValidationError(self.error_messages["not_staff"], code="not_staff")


class StaffPasswordResetForm(PasswordResetForm):
    email = forms.EmailField(
        label="Your email",
        max_length=254,
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "autocapitalize": "none"}
        ),
    )


# Service field names that the forms split or rename.
FIELD_ALIASES = {"starts_at": "start_time", "doors_at": "doors_time"}


def apply_service_error(exc: TicketingError, form, row_forms=()) -> None:
    """Put a service's refusal next to the field it names (or atop the form);
    one that lists several (`errors`: capacities too low) puts each by its
    own field."""
    for error in exc.detail.get("errors") or [exc.as_dict()]:
        field = error.get("field")
        field = FIELD_ALIASES.get(field, field)
        index = error.get("type_index")
        target = form
        if index is not None and 0 <= index < len(row_forms):
            target = row_forms[index]
        if field in target.fields:
            target.add_error(field, error["message"])
        else:
            form.add_error(None, error["message"])


class ScannerDeviceForm(FriendlyErrors, forms.Form):
    """A door device to register: its name, and optionally the one event it scans."""

    label = forms.CharField(
        label="Device name",
        max_length=100,
        help_text="What staff call it, e.g. 'Door 2 handheld'.",
    )
    event = forms.ModelChoiceField(
        label="Event it scans",
        queryset=Event.objects.none(),
        required=False,
        empty_label="Every event",
        help_text="Bound to one event, the device can scan nothing else.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event"].queryset = scannable_events()
