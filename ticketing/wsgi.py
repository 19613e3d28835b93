"""WSGI entry point: what serves HTTP in production (see Dockerfile).

Websockets are served by the ASGI app (ticketing/asgi.py) as a separate
service; the proxy routes /ws/ to it.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
application = get_wsgi_application()
