"""ASGI entry point; uvicorn serves this so event streams do not hold a thread each.

The handler is Django's, running a sync view's middleware in one thread hop (sessions_app/serving/asgi.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wfsite.settings")

from sessions_app.serving.asgi import get_asgi_application

application = get_asgi_application()
