"""A Django email backend on the official SendGrid SDK.

Any Django email backend can replace it (EMAIL_BACKEND); this one is chosen
when SENDGRID_API_KEY is set. Inline images (a MIME part with a Content-ID)
become inline attachments SendGrid can reference with `cid:`. The message id
SendGrid returns is left on the message as `provider_id`. A send that gets
no answer within PROVIDER_TIMEOUT_SECONDS fails as one to try again.
"""

import base64
import logging
from email.mime.base import MIMEBase

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment,
    ContentId,
    Disposition,
    FileContent,
    FileName,
    FileType,
    Mail,
)

from core.notify.errors import (
    DeliveryError,
    PermanentDeliveryError,
    is_permanent_status,
)

logger = logging.getLogger(__name__)


def _attachment(item) -> Attachment:
    if isinstance(item, MIMEBase):
        payload = item.get_payload(decode=True) or b""
        content_id = (item.get("Content-ID") or "").strip("<>")
        filename = item.get_filename() or content_id or "attachment"
        attachment = Attachment(
            FileContent(base64.b64encode(payload).decode("ascii")),
            FileName(filename),
            FileType(item.get_content_type()),
            Disposition("inline" if content_id else "attachment"),
        )
        if content_id:
            attachment.content_id = ContentId(content_id)
        return attachment
    filename, content, mimetype = item
    if isinstance(content, str):
        content = content.encode("utf-8")
    return Attachment(
        FileContent(base64.b64encode(content).decode("ascii")),
        FileName(filename or "attachment"),
        FileType(mimetype or "application/octet-stream"),
        Disposition("attachment"),
    )


def to_sendgrid_mail(message: EmailMessage) -> Mail:
    html = next(
        (
            content
            for content, mimetype in getattr(message, "alternatives", [])
            if mimetype == "text/html"
        ),
        None,
    )
    mail = Mail(
        from_email=message.from_email or settings.DEFAULT_FROM_EMAIL,
        to_emails=list(message.to),
        subject=message.subject,
        plain_text_content=message.body or " ",
        html_content=html,
    )
    for item in message.attachments:
        mail.add_attachment(_attachment(item))
    if message.reply_to:
        mail.reply_to = message.reply_to[0]
    return mail


class SendGridEmailBackend(BaseEmailBackend):
    def __init__(self, fail_silently: bool = False, **kwargs) -> None:
        super().__init__(fail_silently=fail_silently)
        self.client = SendGridAPIClient(
            api_key=settings.SENDGRID_API_KEY,
            host=settings.SENDGRID_API_HOST or "https://api.sendgrid.com",
        )
        # The SDK waits for ever by default, and takes no timeout itself: its
        # HTTP client passes this one to each request it builds.
        self.client.client.timeout = settings.PROVIDER_TIMEOUT_SECONDS

    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages:
            try:
                response = self.client.send(to_sendgrid_mail(message))
            except HTTPError as exc:
                error = f"SendGrid {exc.status_code}: {exc.body!r}"[:500]
                if self.fail_silently:
                    logger.warning(error)
                    continue
                if is_permanent_status(exc.status_code):
                    raise PermanentDeliveryError(error) from exc
                raise DeliveryError(error) from exc
            except OSError as exc:
                if self.fail_silently:
                    continue
                raise DeliveryError(f"SendGrid unreachable: {exc}") from exc
            message.provider_id = response.headers.get("X-Message-Id", "") or ""
            sent += 1
        return sent
