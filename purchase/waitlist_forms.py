from django import forms
from django.core.validators import MaxValueValidator

from core.queries.availability import EventAvailability


class WaitlistForm(forms.Form):
    """Shape-checks the waitlist request; the service applies the rules."""

    name = forms.CharField(max_length=200, label="Your name")
    email = forms.EmailField(
        label="Email", help_text="We'll email you the moment tickets free up."
    )
    phone = forms.CharField(
        max_length=32,
        required=False,
        label="Mobile (optional)",
        help_text="For a text message too.",
    )
    ticket_type_id = forms.TypedChoiceField(
        label="Ticket type", coerce=int, empty_value=None, required=False
    )
    quantity = forms.IntegerField(label="How many tickets", min_value=1, initial=1)

    def __init__(self, *args, availability: EventAvailability, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        types = availability.types
        # The template writes the fields out by hand from these two.
        self.type_choices = [("", "Any ticket type")] + [(t.id, t.name) for t in types]
        self.fields["ticket_type_id"].choices = self.type_choices
        self.most = most = max((t.max_per_order for t in types), default=1)
        self.fields["quantity"].validators.append(
            MaxValueValidator(most, message=f"You can wait for at most {most} tickets.")
        )
        self.fields["quantity"].widget.attrs.update(
            {"max": most, "inputmode": "numeric"}
        )
