"""Template helpers for the console's forms."""

from django import template

register = template.Library()


def _field_items(form, prefix: str = "") -> list[dict]:
    items = []
    for message in form.non_field_errors():
        items.append({"message": f"{prefix}{message}" if prefix else message})
    for field in form:
        for message in field.errors:
            if field.widget_type in ("radioselect", "checkboxselectmultiple"):
                anchor = field.auto_id
            else:
                anchor = field.id_for_label
            items.append(
                {"id": anchor, "label": f"{prefix}{field.label}", "message": message}
            )
    return items


@register.inclusion_tag("scanner/partials/error_summary.html")
def error_summary(*forms_or_formsets) -> dict:
    """Every error of the given forms and formsets, for the summary at the top."""
    items: list[dict] = []
    for thing in forms_or_formsets:
        if thing is None:
            continue
        if hasattr(thing, "forms"):  # a formset
            for message in thing.non_form_errors():
                items.append({"message": message})
            for number, form in enumerate(thing.forms, start=1):
                items.extend(_field_items(form, prefix=f"Ticket type {number} · "))
        else:
            items.extend(_field_items(thing))
    return {"has_errors": bool(items), "error_items": items, "error_count": len(items)}
