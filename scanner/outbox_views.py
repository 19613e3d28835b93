"""Staff view of the outbox: failed and retrying emails/SMS to customers and
staff (invitations), with a resend button."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.exceptions import TicketingError
from core.queries.messages import messages_needing_attention, outbox_counts
from core.services.messages import resend_message
from scanner.permissions import MANAGERS, role_required


@role_required(*MANAGERS)
def message_list(request: HttpRequest) -> HttpResponse:
    context = {
        "rows": list(messages_needing_attention()[:200]),
        "counts": outbox_counts(),
    }
    return render(request, "scanner/messages.html", context)


@require_POST
@role_required(*MANAGERS)
def message_resend(request: HttpRequest, message_id: int) -> HttpResponse:
    try:
        message = resend_message(
            message_id=message_id, actor=request.user, to=request.POST.get("to", "")
        )
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Queued again: {message.get_channel_display()} to {message.to}."
        )
    return redirect("scanner:messages")
