"""The project's ASGI application plus one test-only hook; e2e servers run this.

`POST /__e2e__/<action>` with a JSON body runs `server_actions.<action>`
inside the server process. With the in-memory channel layer (no Redis) only
a change made in the server's own process reaches its websockets, so tests
make changes there. Never imported by the project itself.
"""

import json

from channels.db import database_sync_to_async

from ticketing.asgi import application as site_application

PREFIX = "/__e2e__/"


async def _read_body(receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def _respond(send, status: int, payload) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


async def application(scope, receive, send):
    if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
        return await site_application(scope, receive, send)
    from tests.e2e import server_actions  # models: only once Django is set up

    action = server_actions.ACTIONS.get(scope["path"].removeprefix(PREFIX))
    if action is None or scope["method"] != "POST":
        return await _respond(send, 404, {"error": "no such action"})
    kwargs = json.loads(await _read_body(receive) or b"{}")
    try:
        result = await database_sync_to_async(action)(**kwargs)
    except Exception as exc:
        return await _respond(send, 500, {"error": repr(exc)})
    return await _respond(send, 200, result)
