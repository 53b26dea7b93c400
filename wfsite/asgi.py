"""ASGI entry point; uvicorn serves this so event streams do not hold a thread each."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wfsite.settings")

application = get_asgi_application()
