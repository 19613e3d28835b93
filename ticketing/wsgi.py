"""WSGI entry point: what serves HTTP in production (see Dockerfile).

Websockets are served by the ASGI app (ticketing/asgi.py) as a separate
service; the proxy routes /ws/ to it. Only servers import this module
(granian loads it in each worker process, after the fork), so it warms the
process up before the first request (ticketing.warmup). Its requests run a
few at a time, in arrival order (ticketing.turns).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
application = get_wsgi_application()

from ticketing.turns import taking_turns  # noqa: E402 - needs the settings above
from ticketing.warmup import warm_up  # noqa: E402

application = taking_turns(application)

warm_up()
