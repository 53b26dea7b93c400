"""ASGI entry point; uvicorn serves this so event streams do not hold a thread each (see StreamRequests)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wfsite.settings")

django_application = get_asgi_application()

from sessions_app.live.asgi import StreamRequests  # noqa: E402 -- needs the apps loaded above

application = StreamRequests(django_application)
