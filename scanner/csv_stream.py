"""Streaming CSV responses that stay streamed under both WSGI and ASGI.

Django's ASGI handler reads a *synchronous* streaming body into a list
before sending it (and WSGI does the same with an asynchronous one), which
would load a 100,000-row export into memory at once. So the response gets
a plain generator under WSGI and, under ASGI, an async generator that pulls
the same chunks one at a time in the request's database thread.
"""

import csv
import io
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

from core.queries.exports import Export

ROWS_PER_CHUNK = 1000


def csv_chunks(export: Export, *, rows_per_chunk: int) -> Iterator[str]:
    """The export as CSV text, a few hundred rows per chunk (BOM first, for Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(export.header)
    pending = 0
    for row in export.rows:
        writer.writerow(row)
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


async def _pulled_in_db_thread(chunks: Iterator[str]) -> AsyncIterator[str]:
    """Yield `chunks` to the ASGI server, running each step in the sync thread.

    thread_sensitive keeps every step (and the server-side cursor) on the
    request's own connection; closing the generator closes the cursor.
    """
    step = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await step(chunks, None)) is not None:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()


def streaming_csv_response(
    request: HttpRequest, export: Export
) -> StreamingHttpResponse:
    chunks = csv_chunks(export, rows_per_chunk=ROWS_PER_CHUNK)
    body = _pulled_in_db_thread(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response
