"""The benchmark clients' event loop.

The clients share the server's machine (two cores here), so every CPU
millisecond a client spends per request is one the server does not get.
uvloop (installed with uvicorn[standard]) runs the same asyncio code for
less CPU per request than the standard loop; without it, asyncio.run.
"""

import asyncio
from collections.abc import Coroutine
from typing import Any


def run(coro: Coroutine) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
