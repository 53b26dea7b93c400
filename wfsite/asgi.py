"""ASGI entry point; uvicorn serves this so event streams do not hold a thread each.

The handler is Django's, running a sync view's middleware in one thread hop
(sessions_app/serving/asgi.py); the event streams' sync work runs on a few shared threads
(sessions_app/live/asgi.py, StreamRequests).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wfsite.settings")

from sessions_app.serving.asgi import get_asgi_application

django_application = get_asgi_application()

from sessions_app.live.asgi import StreamRequests  # noqa: E402 -- needs the apps loaded above

application = StreamRequests(django_application)
