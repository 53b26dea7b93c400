"""The site's ASGI application: Django's handler, with sync views run cheaply on reused threads.

Two costs of Django under ASGI, each a large part of a cache-hit POST's CPU, are avoided here:

- Every sync middleware hook runs in a hop of its own to a thread and back
  (`MiddlewareMixin.__acall__`), about a dozen hops a request. A request for a sync view goes
  through the same middleware loaded in sync mode, with the view, in one hop.
- Every request gets a new thread (`ThreadSensitiveContext`), started and joined again, and so
  a new database connection. A request for a sync view borrows one of `VIEW_THREADS` threads
  that live as long as the process, and keeps that thread's connection (`CONN_MAX_AGE`).

A request for an async view (the event streams) keeps Django's async chain and a context of
its own, so a long stream holds no borrowed thread.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase
from django.urls import resolve

# Threads for sync views in one web process: more requests than this wait their turn, in order.
VIEW_THREADS = 8


class SyncViewsASGIHandler(ASGIHandler):
    """An ASGIHandler whose requests for sync views run the middleware chain synchronously."""

    def __init__(self) -> None:
        super().__init__()
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)
        self._idle_threads: asyncio.Queue[ThreadPoolExecutor] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or view_is_async(path_info(scope)):
            await super().__call__(scope, receive, send)
            return
        idle = self._threads()
        thread = await idle.get()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            idle.put_nowait(thread)

    def _threads(self) -> asyncio.Queue[ThreadPoolExecutor]:
        """Make the view threads on first use, inside the event loop the queue belongs to."""
        if self._idle_threads is None:
            self._idle_threads = asyncio.Queue()
            for number in range(VIEW_THREADS):
                self._idle_threads.put_nowait(ThreadPoolExecutor(1, thread_name_prefix=f"view-{number}"))
        return self._idle_threads

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        if view_is_async(request.path_info):
            return await super().get_response_async(request)
        return await sync_to_async(self.sync_handler.get_response, thread_sensitive=True)(request)


def path_info(scope: dict[str, Any]) -> str:
    """The request's path below the script prefix, as Django's ASGIRequest computes it."""
    path, prefix = scope["path"], scope.get("root_path", "")
    return path.removeprefix(prefix) if prefix else path


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
