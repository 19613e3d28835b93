from django import forms


class FindTicketsForm(forms.Form):
    """The one field of Find my tickets; the service matches it to orders."""

    email = forms.EmailField(
        label="Email address",
        help_text="The one you bought the tickets with.",
        error_messages={
            "required": "Please enter the email address you bought the tickets with.",
            "invalid": "Please enter a valid email address, like name@example.com.",
        },
    )
