"""Helpers for websocket tests: connect through the real ASGI stack."""

import asyncio
import functools
import json
import threading

from channels.testing import WebsocketCommunicator
from django.test import Client

from ticketing.asgi import application

ORIGIN = "http://testserver"


def async_test(test):
    """Run an async test function in its own thread and event loop.

    Playwright's sync API (the session-wide `browser` fixture) leaves an event
    loop running in the main thread, after which pytest-asyncio cannot run a
    test there; a thread of its own works whatever ran before.
    """

    @functools.wraps(test)
    def run(*args, **kwargs):
        failure: list[BaseException] = []

        def target():
            try:
                asyncio.run(test(*args, **kwargs))
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=target, name=f"async-test-{test.__name__}")
        thread.start()
        thread.join()
        if failure:
            raise failure[0]

    return run


def session_cookie(user) -> str:
    """A `sessionid=...` cookie header value for `user`, as a browser would send."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def communicator(path: str, *, origin: str | None = ORIGIN, cookie: str = ""):
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def connected(path: str, **kwargs) -> WebsocketCommunicator:
    """A communicator that was accepted and not closed straight away."""
    comm = communicator(path, **kwargs)
    accepted, _ = await comm.connect()
    assert accepted, f"{path} was refused at the handshake"
    assert await comm.receive_nothing(timeout=0.2), f"{path} closed right away"
    return comm


async def close_code(path: str, **kwargs) -> int | None:
    """The code a connection to `path` is closed with (None if it stays open)."""
    comm = communicator(path, **kwargs)
    accepted, code = await comm.connect()
    if not accepted:
        return code
    try:
        output = await comm.receive_output(timeout=2)
    except TimeoutError:
        await comm.disconnect()
        return None
    assert output["type"] == "websocket.close", output
    return output.get("code")


async def next_message(comm: WebsocketCommunicator, timeout: float = 3) -> dict:
    return json.loads(await comm.receive_from(timeout=timeout))
