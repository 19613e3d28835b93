"""The gunicorn worker class the deployment runs (see Dockerfile)."""

import warnings

with warnings.catch_warnings():
    # Deprecated in favour of a separate package that is not a dependency;
    # the class itself is unchanged.
    warnings.simplefilter("ignore", DeprecationWarning)
    from uvicorn.workers import UvicornWorker


class LiveUvicornWorker(UvicornWorker):
    """Uvicorn under gunicorn, without websocket per-message compression.

    Live pushes are JSON frames of about a hundred bytes, not worth
    compressing: with deflate off a 1,000-socket fan-out (bench/fanout.py)
    took about a tenth less server CPU, and the process ~25 MB less memory,
    since each socket no longer keeps its own zlib state.
    """

    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "ws_per_message_deflate": False}

    def load_wsgi(self) -> None:
        """Load the app, then warm the process up before it serves anyone."""
        super().load_wsgi()
        from ticketing.warmup import warm_up

        warm_up()
