"""The site's ASGI application: Django's handler, with a sync view's middleware run in one thread hop.

Under ASGI Django runs every sync middleware hook in a hop of its own to a thread and back
(`MiddlewareMixin.__acall__`): about a dozen hops a request, each waking the event loop from
that thread. That was a quarter to a third of a cache-hit POST's CPU. Here a request for a sync
view goes through the same middleware loaded in sync mode, with the view, in one hop to the
request's thread; a request for an async view (the event streams) keeps Django's async chain,
so a stream holds no thread while it waits.
"""

from __future__ import annotations

import django
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase
from django.urls import resolve


class SyncViewsASGIHandler(ASGIHandler):
    """An ASGIHandler whose requests for sync views run the middleware chain synchronously."""

    def __init__(self) -> None:
        super().__init__()
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        if view_is_async(request.path_info):
            return await super().get_response_async(request)
        return await sync_to_async(self.sync_handler.get_response, thread_sensitive=True)(request)


def view_is_async(path: str) -> bool:
    """Whether the view for `path` is a coroutine function (a path no view matches is not)."""
    try:
        match = resolve(path)
    except Exception:
        # Whatever resolving raises, the sync chain raises again and answers it (a 404, say).
        return False
    return iscoroutinefunction(match.func)


def get_asgi_application() -> SyncViewsASGIHandler:
    """Set Django up and return the handler, as django.core.asgi.get_asgi_application does."""
    django.setup(set_prefix=False)
    return SyncViewsASGIHandler()
