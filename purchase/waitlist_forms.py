from django import forms
from django.core.validators import MaxValueValidator

from core.models import WaitlistEntry
from core.queries.availability import EventAvailability
from core.queries.waitlist import types_to_wait_for

NUL_MESSAGE = "Please retype this field: it contains an invisible null character."


def _column(name: str) -> int:
    return WaitlistEntry._meta.get_field(name).max_length


def waitlist_type_choices(availability: EventAvailability) -> list[tuple]:
    """The ticket types one may wait for (types_to_wait_for), as choices."""
    types, any_type = types_to_wait_for(availability)
    choices = [(t.id, t.name) for t in types]
    return [("", "Any ticket type"), *choices] if any_type else choices


def waitlist_heading(availability: EventAvailability) -> str:
    """The waitlist card's heading: what is sold out, never more than is.

    With other types still on sale, saying "Sold out" would send buyers away
    from tickets they can have, so the sold-out types are named instead.
    Seats only held by people paying are "taken for now", as the page's
    notice says. static/js/purchase.js words it the same way after a live
    update.
    """
    types, any_type = types_to_wait_for(availability)
    if any_type or not types:  # none: the card is hidden until one sells out
        if availability.held_for_now:
            return "All taken for now — join the waitlist"
        return "Sold out — join the waitlist"
    names = [t.name for t in types]
    gone = "taken for now" if all(t.held_for_now for t in types) else "sold out"
    if len(names) == 1:
        return f"{names[0]} is {gone} — join its waitlist"
    listed = f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{listed} are {gone} — join their waitlist"


class WaitlistForm(forms.Form):
    """Shape-checks the waitlist request; the service applies the rules.

    Its messages say what to do, as the buy form's do.
    """

    # The limits are the columns' (core.models.WaitlistEntry): longer, and
    # Postgres refuses the row with an error instead of a message. Django's
    # EmailField alone lets 320 characters through.
    name = forms.CharField(
        max_length=_column("name"),
        label="Your name",
        error_messages={
            "required": "Please enter your name.",
            "max_length": "Please shorten your name to %(limit_value)d characters.",
            "null_characters_not_allowed": NUL_MESSAGE,
        },
    )
    email = forms.EmailField(
        max_length=_column("email"),
        label="Email",
        help_text="We'll email you the moment tickets free up.",
        error_messages={
            "required": "Please enter your email address.",
            "invalid": "Please enter a valid email address.",
            "max_length": (
                "Please enter an email address of at most %(limit_value)d characters."
            ),
            "null_characters_not_allowed": NUL_MESSAGE,
        },
    )
    phone = forms.CharField(
        max_length=_column("phone"),
        required=False,
        label="Mobile (optional)",
        help_text="For a text message too.",
        error_messages={
            "max_length": (
                "Please enter a phone number of at most %(limit_value)d characters."
            ),
            "null_characters_not_allowed": NUL_MESSAGE,
        },
    )
    ticket_type_id = forms.TypedChoiceField(
        label="Ticket type",
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={
            "required": "Please choose the ticket type to wait for.",
            "invalid_choice": "Please choose one of the sold-out ticket types.",
        },
    )
    quantity = forms.IntegerField(
        label="How many tickets",
        min_value=1,
        initial=1,
        error_messages={
            "required": "Please say how many tickets you want.",
            "invalid": "Please enter a whole number of tickets.",
            "min_value": "Please ask for at least one ticket.",
        },
    )

    def __init__(self, *args, availability: EventAvailability, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The template writes the fields out by hand from these two.
        self.type_choices = waitlist_type_choices(availability)
        self.heading = waitlist_heading(availability)
        field = self.fields["ticket_type_id"]
        field.choices = self.type_choices
        # No "Any" choice means one type must be chosen.
        field.required = self.type_choices[0][0] != "" if self.type_choices else False
        offered = {value for value, _ in self.type_choices}
        types = [t for t in availability.types if "" in offered or t.id in offered]
        self.most = most = max((t.max_per_order for t in types), default=1)
        self.fields["quantity"].validators.append(
            MaxValueValidator(most, message=f"You can wait for at most {most} tickets.")
        )
        self.fields["quantity"].widget.attrs.update(
            {"max": most, "inputmode": "numeric"}
        )
